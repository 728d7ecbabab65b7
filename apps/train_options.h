// Internal to train: the run settings as JSON, and their check against a checkpoint's.
#pragma once
#include <string>

#include "apps/training.h"

namespace norma::apps {

// The run settings (run_settings()) of `o` as a JSON object.
std::string settings_json(const TrainOptions& o);
// Throws, listing the differences, unless `config` (a checkpoint's, from `path`) has the
// same run settings as `o`.
void check_resume_settings(const TrainOptions& o, const std::string& config, const std::string& path);

}  // namespace norma::apps
