// The list of experiments `norma experiment` knows, in the order --list shows them. Each
// apps/experiments/<name>.cpp defines one function returning its Experiment; add a new one
// with a declaration and a line in the list.
#include "apps/experiments/experiment.h"
#include "apps/experiments/experiments_b.h"  // ghost-bn, train-eval, dropout-shift, rmsnorm

namespace norma::apps::experiments {

Experiment bn_mnist_experiment();    // apps/experiments/bn_mnist.cpp
Experiment lr_sweep_experiment();    // apps/experiments/lr_sweep.cpp
Experiment batch_size_experiment();  // apps/experiments/batch_size.cpp
Experiment cifar_bn_experiment();    // apps/experiments/cifar_bn.cpp
Experiment depth_experiment();       // apps/experiments/depth.cpp
Experiment preact_experiment();      // apps/experiments/preact.cpp
Experiment noisy_bn_experiment();    // apps/experiments/noisy_bn.cpp
Experiment landscape_experiment();   // apps/experiments/landscape.cpp
Experiment cifar_target_experiment();  // apps/experiments/cifar_target.cpp

const std::vector<Experiment>& all_experiments() {
  static const std::vector<Experiment> list = {
      bn_mnist_experiment(),
      lr_sweep_experiment(),
      batch_size_experiment(),
      ghost_bn_experiment(),
      train_eval_experiment(),
      dropout_shift_experiment(),
      rmsnorm_experiment(),
      cifar_bn_experiment(),
      depth_experiment(),
      preact_experiment(),
      noisy_bn_experiment(),
      landscape_experiment(),
      cifar_target_experiment(),
  };
  return list;
}

}  // namespace norma::apps::experiments
