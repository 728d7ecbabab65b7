#include "data/loader.h"

#include <numeric>

#include "core/error.h"

namespace norma::data {
namespace {
// Keys that separate the random streams derived from one seed.
constexpr uint64_t kShuffleKey = 1, kAugmentKey = 2;
}  // namespace

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, LoaderOptions options)
    : dataset_(std::move(dataset)), options_(std::move(options)) {
  NORMA_CHECK(dataset_, "DataLoader: no dataset");
  NORMA_CHECK(options_.batch_size >= 1, "DataLoader: batch_size must be >= 1, got ", options_.batch_size);
  NORMA_CHECK(options_.prefetch_depth >= 1, "DataLoader: prefetch_depth must be >= 1, got ", options_.prefetch_depth);
  NORMA_CHECK(options_.world_size >= 1 && options_.rank >= 0 && options_.rank < options_.world_size,
              "DataLoader: expected 0 <= rank < world_size, got rank ", options_.rank, " and world_size ",
              options_.world_size);
}

DataLoader::~DataLoader() { stop_worker(); }

int64_t DataLoader::num_examples() const {
  const int64_t w = options_.world_size;
  return (dataset_->size() + w - 1) / w;
}

int64_t DataLoader::num_batches() const {
  const int64_t n = num_examples(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<int64_t> DataLoader::epoch_indices(int64_t epoch) const {
  const int64_t n = dataset_->size();
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t(0));
  if (options_.shuffle) {
    // Fisher-Yates: position i takes a uniform pick among the not yet placed 0..i.
    Generator gen(derive_seed(derive_seed(options_.seed, kShuffleKey), uint64_t(epoch)));
    for (int64_t i = n - 1; i > 0; --i) std::swap(order[size_t(i)], order[size_t(gen.randint(uint64_t(i + 1)))]);
  }
  const int64_t w = options_.world_size;
  if (w == 1 || n == 0) return order;
  std::vector<int64_t> mine;
  for (int64_t k = options_.rank; k < num_examples() * w; k += w) mine.push_back(order[size_t(k % n)]);
  return mine;
}

Batch DataLoader::assemble(const std::vector<int64_t>& order, int64_t epoch, int64_t index) const {
  NORMA_CHECK(index >= 0 && index < num_batches(), "DataLoader: batch ", index, " out of range for ", num_batches(),
              " batches per epoch");
  const int64_t begin = index * options_.batch_size;
  const int64_t end = std::min(begin + options_.batch_size, int64_t(order.size()));
  return make_batch(*dataset_, std::vector<int64_t>(order.begin() + begin, order.begin() + end), options_.transforms,
                    derive_seed(derive_seed(options_.seed, kAugmentKey), uint64_t(epoch)));
}

Batch DataLoader::batch(int64_t epoch, int64_t index) const { return assemble(epoch_indices(epoch), epoch, index); }

void DataLoader::start_epoch(int64_t epoch, int64_t first_batch) {
  NORMA_CHECK(epoch >= 0, "DataLoader: epoch must be >= 0, got ", epoch);
  NORMA_CHECK(first_batch >= 0 && first_batch <= num_batches(), "DataLoader: cannot start at batch ", first_batch,
              " of an epoch of ", num_batches(), " batches");
  stop_worker();
  epoch_ = epoch;
  position_ = first_batch;
  order_ = epoch_indices(epoch);
  if (!options_.prefetch) return;
  ready_.clear();
  error_ = nullptr;
  stop_ = done_ = false;
  worker_ = std::thread([this, first_batch] { produce(first_batch); });
}

void DataLoader::produce(int64_t first_batch) {
  try {
    for (int64_t b = first_batch; b < num_batches(); ++b) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || int64_t(ready_.size()) < options_.prefetch_depth; });
        if (stop_) break;
      }
      Batch batch = assemble(order_, epoch_, b);  // the slow part, outside the lock
      std::lock_guard<std::mutex> lock(mu_);
      ready_.push_back(std::move(batch));
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = std::current_exception();
  }
  std::lock_guard<std::mutex> lock(mu_);
  done_ = true;
  cv_.notify_all();
}

bool DataLoader::next(Batch& batch) {
  NORMA_CHECK(epoch_ >= 0, "DataLoader: call start_epoch() before next()");
  if (position_ >= num_batches()) return false;
  if (!options_.prefetch) {
    batch = assemble(order_, epoch_, position_++);
    return true;
  }
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !ready_.empty() || done_; });
  if (ready_.empty()) {  // the thread ended early: it failed
    std::exception_ptr error = error_;
    error_ = nullptr;
    position_ = num_batches();  // the epoch cannot go on
    if (error) std::rethrow_exception(error);
    return false;
  }
  batch = std::move(ready_.front());
  ready_.pop_front();
  ++position_;
  cv_.notify_all();
  return true;
}

void DataLoader::stop_worker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

}  // namespace norma::data
