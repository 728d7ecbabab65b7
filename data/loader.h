// DataLoader: batches of a Dataset, in a seeded order, prepared on a background thread.
//
//   LoaderOptions o;
//   o.batch_size = 128, o.seed = 1, o.transforms = standard_transforms("cifar10", /*augment=*/true);
//   DataLoader loader(std::make_shared<ImageDataset>(load_cifar10("data", true)), o);
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//     loader.start_epoch(epoch);            // start_epoch(epoch, k) resumes after k batches
//     for (Batch b; loader.next(b);) step(b.images, b.labels);
//   }
//
// Everything random is a function of (seed, epoch, example): epoch e's order is a permutation
// drawn from derive_seed(seed, e), and an example's augmentation from (seed, e, its index). So
// the batches do not depend on thread timing, and starting epoch e at batch k gives exactly the
// batches an uninterrupted run gives from its k-th on: resuming a run is exact.
//
// With prefetch on, one thread assembles the next batches (up to prefetch_depth ahead) while
// the caller's step runs; an exception there is rethrown by next(), after the batches made
// before it. Destroying the loader or starting another epoch stops the thread cleanly.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "data/dataset.h"

namespace norma::data {

struct LoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = true;
  uint64_t seed = 0;
  bool drop_last = false;        // drop the last batch when it is smaller than batch_size
  Transforms transforms;         // run on each image after scaling to [0, 1]
  bool prefetch = true;          // assemble batches on a background thread
  int64_t prefetch_depth = 2;    // batches ready ahead at most
  // Data-parallel training (PyTorch's DistributedSampler): each epoch's order, padded by
  // repeating its start to a multiple of world_size, is dealt round-robin, rank r taking
  // positions r, r + world_size, ... Every rank sees the same number of batches.
  int64_t rank = 0, world_size = 1;
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  const Dataset& dataset() const { return *dataset_; }
  const LoaderOptions& options() const { return options_; }
  int64_t num_examples() const;  // per epoch, this rank's share
  int64_t num_batches() const;   // per epoch

  // This rank's examples of epoch `epoch`, in order: a permutation seeded by (seed, epoch) when
  // shuffling, else 0, 1, ...
  std::vector<int64_t> epoch_indices(int64_t epoch) const;
  // Batch `index` of epoch `epoch`, assembled on the calling thread.
  Batch batch(int64_t epoch, int64_t index) const;

  // Begins epoch `epoch` at batch `first_batch` (0 <= first_batch <= num_batches()).
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  // The next batch of the current epoch; false once the epoch is over.
  bool next(Batch& batch);
  int64_t epoch() const { return epoch_; }
  // Batches of the current epoch handed out so far, counting those skipped by start_epoch:
  // what a checkpoint saves to resume at.
  int64_t position() const { return position_; }

 private:
  Batch assemble(const std::vector<int64_t>& order, int64_t epoch, int64_t index) const;
  void produce(int64_t first_batch);  // the prefetch thread's loop
  void stop_worker();

  std::shared_ptr<const Dataset> dataset_;
  LoaderOptions options_;
  int64_t epoch_ = -1, position_ = 0;
  std::vector<int64_t> order_;  // the current epoch's examples

  std::thread worker_;
  std::mutex mu_;
  std::condition_variable cv_;  // signals both ways: a batch is ready / there is room
  std::deque<Batch> ready_;
  std::exception_ptr error_;
  bool stop_ = false, done_ = false;
};

}  // namespace norma::data
