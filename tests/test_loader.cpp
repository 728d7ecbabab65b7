// DataLoader: seeded per-epoch order, drop_last, resume at a batch, the prefetch thread (same
// batches as loading on the caller's thread, clean shutdown, errors passed on), sharding.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "core/norma.h"
#include "data/loader.h"
#include "data_helpers.h"

using namespace norma;
using namespace norma::data;

namespace {

// n examples of [1, 2, 3]; example i's pixels are i + k (mod 256), its label i % 3.
std::shared_ptr<ImageDataset> numbered(int64_t n) {
  std::vector<uint8_t> px(size_t(n * 6));
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < 6; ++k) px[size_t(i * 6 + k)] = uint8_t((i + k) % 256);
    labels[size_t(i)] = i % 3;
  }
  return std::make_shared<ImageDataset>(ImageShape{1, 2, 3}, px, labels, std::vector<std::string>{"a", "b", "c"});
}

LoaderOptions opts(int64_t batch, bool shuffle, uint64_t seed, bool drop_last = false, bool prefetch = true) {
  LoaderOptions o;
  o.batch_size = batch;
  o.shuffle = shuffle;
  o.seed = seed;
  o.drop_last = drop_last;
  o.prefetch = prefetch;
  return o;
}

std::vector<Batch> epoch(DataLoader& loader, int64_t e, int64_t first = 0) {
  std::vector<Batch> out;
  loader.start_epoch(e, first);
  for (Batch b; loader.next(b);) out.push_back(b);
  return out;
}

std::vector<int64_t> order_of(const std::vector<Batch>& batches) {
  std::vector<int64_t> all;
  for (const Batch& b : batches) all.insert(all.end(), b.indices.begin(), b.indices.end());
  return all;
}

bool same(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].indices != b[i].indices || a[i].labels != b[i].labels || !equal(a[i].images, b[i].images)) return false;
  return true;
}

// Sleeps in get() so the consumer outruns or trails the thread; throws at index `bad`.
struct SlowDataset : Dataset {
  std::shared_ptr<ImageDataset> base = numbered(64);
  int64_t bad = -1;
  int64_t size() const override { return base->size(); }
  ImageShape shape() const override { return base->shape(); }
  const std::vector<std::string>& class_names() const override { return base->class_names(); }
  Example get(int64_t i) const override {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    NORMA_CHECK(i != bad, "SlowDataset: example ", i, " is unreadable");
    return base->get(i);
  }
};

}  // namespace

TEST_CASE("loader: each epoch visits every example once, same seed same order, epochs differ") {
  auto ds = numbered(103);
  DataLoader a(ds, opts(10, true, 5)), b(ds, opts(10, true, 5)), c(ds, opts(10, true, 6));
  CHECK(a.num_batches() == 11);
  std::vector<Batch> e0 = epoch(a, 0);
  REQUIRE(e0.size() == 11);
  CHECK(e0.back().labels.size() == 3);
  CHECK(e0.back().images.shape() == Shape{3, 1, 2, 3});
  std::vector<int64_t> order = order_of(e0), sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 103; ++i) CHECK(sorted[size_t(i)] == i);
  CHECK(order != sorted);  // shuffled
  CHECK(order == a.epoch_indices(0));
  CHECK(same(e0, epoch(b, 0)));
  CHECK(order_of(epoch(a, 1)) != order);
  CHECK(order_of(epoch(c, 0)) != order);
  // Labels and pixels follow the indices.
  for (size_t k = 0; k < e0[0].indices.size(); ++k) {
    const int64_t i = e0[0].indices[k];
    CHECK(e0[0].labels[k] == i % 3);
    CHECK(e0[0].images.at({int64_t(k), 0, 1, 2}) == float((i + 5) % 256) / 255.f);
  }
  DataLoader ordered(ds, opts(10, false, 5));
  CHECK(order_of(epoch(ordered, 3)) == sorted);
}

TEST_CASE("loader: drop_last drops the short batch") {
  auto ds = numbered(103);
  DataLoader loader(ds, opts(10, true, 1, /*drop_last=*/true));
  CHECK(loader.num_batches() == 10);
  std::vector<Batch> e = epoch(loader, 0);
  REQUIRE(e.size() == 10);
  for (const Batch& b : e) CHECK(b.indices.size() == 10);
  std::vector<int64_t> order = loader.epoch_indices(0);
  CHECK(order_of(e) == std::vector<int64_t>(order.begin(), order.begin() + 100));
}

TEST_CASE("loader: the prefetch thread gives the batches loading on the caller's thread gives") {
  auto ds = numbered(50);
  LoaderOptions o = opts(8, true, 3);
  o.transforms = {std::make_shared<RandomCrop>(1), std::make_shared<RandomHorizontalFlip>(),
                  std::make_shared<Normalize>(kMnistMean, kMnistStd)};
  DataLoader threaded(ds, o);
  o.prefetch = false;
  DataLoader sync(ds, o);
  for (int64_t e = 0; e < 2; ++e) CHECK(same(epoch(threaded, e), epoch(sync, e)));
  CHECK(equal(threaded.batch(1, 2).images, epoch(sync, 1)[2].images));
}

TEST_CASE("loader: starting an epoch at batch k gives the batches after the first k") {
  auto ds = numbered(50);
  LoaderOptions o = opts(8, true, 9);
  o.transforms = {std::make_shared<RandomCrop>(1), std::make_shared<RandomHorizontalFlip>()};
  DataLoader loader(ds, o);
  std::vector<Batch> whole = epoch(loader, 2);
  for (int64_t k : {0, 3, 6, 7}) {
    std::vector<Batch> rest = epoch(loader, 2, k);
    CHECK(same(rest, std::vector<Batch>(whole.begin() + k, whole.end())));
  }
  loader.start_epoch(2, 4);
  CHECK(loader.position() == 4);
  Batch b;
  CHECK(loader.next(b));
  CHECK(loader.position() == 5);
  CHECK_ERROR(loader.start_epoch(2, 8), "cannot start at batch 8 of an epoch of 7 batches");
}

TEST_CASE("loader: destroying or restarting mid-epoch stops the thread without hanging") {
  auto ds = std::make_shared<SlowDataset>();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) {
    DataLoader loader(ds, opts(4, true, uint64_t(i)));
    loader.start_epoch(0);
    Batch b;
    CHECK(loader.next(b));
    loader.start_epoch(1);  // abandons epoch 0 half way
    if (i % 2) CHECK(loader.next(b));
  }  // destroyed mid-epoch, with batches queued or being made
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("loader: an exception in the prefetch thread reaches the caller after the batches before it") {
  auto ds = std::make_shared<SlowDataset>();
  ds->bad = 13;
  DataLoader loader(ds, opts(4, false, 0));
  loader.start_epoch(0);
  Batch b;
  for (int i = 0; i < 3; ++i) CHECK(loader.next(b));  // examples 0..11
  CHECK_ERROR(loader.next(b), "SlowDataset: example 13 is unreadable");
  CHECK_FALSE(loader.next(b));  // the epoch is over

  auto mnist_like = numbered(10);
  LoaderOptions o = opts(4, false, 0);
  o.transforms = {std::make_shared<Normalize>(kCifar10Mean, kCifar10Std)};  // 3 channels for 1
  DataLoader wrong(mnist_like, o);
  wrong.start_epoch(0);
  CHECK_ERROR(wrong.next(b), "Normalize: 3 means for an image of 1 channels");
}

TEST_CASE("loader: bad options are rejected, ranks share an epoch like DistributedSampler") {
  auto ds = numbered(10);
  CHECK_ERROR(DataLoader(ds, opts(0, true, 0)), "batch_size must be >= 1, got 0");
  DataLoader unstarted(ds, opts(4, true, 0));
  Batch b;
  CHECK_ERROR(unstarted.next(b), "call start_epoch() before next()");

  // 10 examples, 3 ranks: 4 each, the order padded with its first two examples.
  std::vector<int64_t> all;
  for (int64_t r = 0; r < 3; ++r) {
    LoaderOptions o = opts(3, true, 4);
    o.rank = r, o.world_size = 3;
    DataLoader loader(ds, o);
    CHECK(loader.num_examples() == 4);
    CHECK(loader.num_batches() == 2);
    std::vector<int64_t> mine = order_of(epoch(loader, 1));
    CHECK(mine.size() == 4);
    all.insert(all.end(), mine.begin(), mine.end());
  }
  std::vector<int64_t> full = DataLoader(ds, opts(3, true, 4)).epoch_indices(1);
  for (int64_t k = 0; k < 12; ++k) CHECK(all[size_t((k % 3) * 4 + k / 3)] == full[size_t(k % 10)]);
}
