// DataLoader and dataset views: coverage of every index once per epoch, order
// as a pure function of (seed, epoch), equality across thread counts and with
// or without prefetch, drop_last, batch sizes 1 / k / n, resuming mid-epoch
// from state(), clean destruction mid-epoch, errors from the worker, one
// thread per batch with prefetch, recycled batch buffers (never while held,
// and without their last owner's autograd state), batch sizes up to INT64_MAX,
// and Subset / take / random_split (lengths whose sum would overflow).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <numeric>
#include <set>

#include "data/dataloader.h"
#include "data/mnist.h"
#include "fixtures.h"
#include "tensor/parallel.h"
#include "tests/common/test_util.h"

using namespace tg::data;

namespace {

// data[i] = {i, -i} (float32 [n, 2]), target[i] = i (int64 [n]): a batch's targets are its indices.
std::shared_ptr<TensorDataset> indexed(int64_t n) {
  std::vector<float> d;
  std::vector<int64_t> t;
  for (int64_t i = 0; i < n; ++i) {
    d.push_back(float(i));
    d.push_back(-float(i));
    t.push_back(i);
  }
  return std::make_shared<TensorDataset>(tg::tensor(d, {n, 2}), tg::tensor(t, {n}));
}

std::vector<int64_t> targets(const Example& b) { return b.target.to_vector<int64_t>(); }

// All batches of one epoch, as target lists.
std::vector<std::vector<int64_t>> run_epoch(DataLoader& l) {
  std::vector<std::vector<int64_t>> out;
  for (const Example& b : l) out.push_back(targets(b));
  return out;
}

struct ThreadCount {
  int saved = tg::get_num_threads();
  ~ThreadCount() { tg::set_num_threads(saved); }
};

}  // namespace

TEST_CASE("dataloader: every index exactly once per epoch, batches of batch_size, last one short") {
  auto ds = indexed(103);
  DataLoader l(ds, {.batch_size = 10, .shuffle = true, .seed = 5});
  CHECK(l.batches_per_epoch() == 11);
  for (int epoch = 0; epoch < 3; ++epoch) {
    CHECK(l.state() == LoaderState{epoch, 0, 5});
    auto batches = run_epoch(l);
    REQUIRE(batches.size() == 11);
    std::vector<int64_t> all;
    for (size_t b = 0; b < batches.size(); ++b) {
      CHECK(batches[b].size() == (b < 10 ? 10u : 3u));
      all.insert(all.end(), batches[b].begin(), batches[b].end());
    }
    std::vector<int64_t> sorted = all;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int64_t> want(103);
    std::iota(want.begin(), want.end(), 0);
    CHECK(sorted == want);
    CHECK(all != want);  // shuffled
    CHECK(all == l.epoch_order(epoch));
  }
}

TEST_CASE("dataloader: batches carry the data rows of their indices") {
  auto ds = indexed(20);
  DataLoader l(ds, {.batch_size = 8, .seed = 1});
  Example b = l.next();
  CHECK(b.data.shape() == tg::Shape{8, 2});
  CHECK(b.target.shape() == tg::Shape{8});
  const auto t = targets(b);
  const auto d = b.data.to_vector<float>();
  for (size_t k = 0; k < t.size(); ++k) {
    CHECK(d[2 * k] == float(t[k]));
    CHECK(d[2 * k + 1] == -float(t[k]));
  }
}

TEST_CASE("dataloader: order is a pure function of (seed, epoch)") {
  auto ds = indexed(50);
  DataLoader a(ds, {.batch_size = 7, .seed = 42}), b(ds, {.batch_size = 7, .seed = 42, .prefetch = false});
  auto a0 = run_epoch(a), a1 = run_epoch(a);
  auto b0 = run_epoch(b), b1 = run_epoch(b);
  CHECK(a0 == b0);
  CHECK(a1 == b1);
  CHECK(a0 != a1);  // another epoch, another order
  DataLoader c(ds, {.batch_size = 7, .seed = 43});
  CHECK(run_epoch(c) != a0);  // another seed, another order
  // a different batch size sees the same example order
  DataLoader d(ds, {.batch_size = 50, .seed = 42});
  CHECK(targets(d.next()) == a.epoch_order(0));
  // no shuffle: identity
  DataLoader e(ds, {.batch_size = 50, .shuffle = false});
  std::vector<int64_t> id(50);
  std::iota(id.begin(), id.end(), 0);
  CHECK(targets(e.next()) == id);
}

TEST_CASE("dataloader: batch sizes 1 (SGD), k, and n (full batch), drop_last") {
  auto ds = indexed(23);
  DataLoader sgd(ds, {.batch_size = 1, .seed = 3});
  CHECK(sgd.batches_per_epoch() == 23);
  auto e = run_epoch(sgd);
  CHECK(e.size() == 23);
  for (auto& b : e) CHECK(b.size() == 1);
  DataLoader full(ds, {.batch_size = 23, .seed = 3});
  CHECK(full.batches_per_epoch() == 1);
  CHECK(run_epoch(full)[0].size() == 23);
  DataLoader drop(ds, {.batch_size = 5, .seed = 3, .drop_last = true});
  CHECK(drop.batches_per_epoch() == 4);
  auto d = run_epoch(drop);
  CHECK(d.size() == 4);
  for (auto& b : d) CHECK(b.size() == 5);
  DataLoader keep(ds, {.batch_size = 5, .seed = 3, .drop_last = false});
  CHECK(keep.batches_per_epoch() == 5);
  // drop_last with fewer examples than a batch: no batches, a clear error from next()
  DataLoader none(ds, {.batch_size = 30, .drop_last = true});
  CHECK(none.batches_per_epoch() == 0);
  CHECK(run_epoch(none).empty());
  CHECK_THROWS_WITH_AS(none.next(), doctest::Contains("an epoch has no batches (23 examples, batch_size 30, drop_last)"),
                       tg::Error);
  CHECK_THROWS_WITH_AS(DataLoader(ds, {.batch_size = 0}), doctest::Contains("batch_size must be >= 1, got 0"), tg::Error);
  // a batch_size near INT64_MAX (a way to say "full batch"): one batch, no
  // overflow in the batch count (n + batch_size - 1 wrapped: 0 or -1 batches)
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  for (int64_t bs : {kMax, kMax - 5}) {
    DataLoader huge(ds, {.batch_size = bs, .seed = 3});
    CHECK(huge.batches_per_epoch() == 1);
    CHECK(run_epoch(huge)[0].size() == 23);
    DataLoader huge_drop(ds, {.batch_size = bs, .drop_last = true});
    CHECK(huge_drop.batches_per_epoch() == 0);
  }
}

TEST_CASE("dataloader: range-for covers the rest of the epoch, next() runs on across epochs") {
  auto ds = indexed(10);
  DataLoader l(ds, {.batch_size = 3, .seed = 9});
  int n = 0;
  for (const Example& b : l) {
    (void)b;
    if (++n == 2) break;
  }
  CHECK(l.state() == LoaderState{0, 2, 9});
  CHECK(run_epoch(l).size() == 2);  // batches 2 and 3
  CHECK(l.state() == LoaderState{1, 0, 9});
  for (int k = 0; k < 4; ++k) l.next();
  CHECK(l.state() == LoaderState{2, 0, 9});
}

TEST_CASE("dataloader: resuming from state() mid-epoch yields the identical remaining batches") {
  tg_test::TempDir dir;
  tg_test::write_mnist_fixture(dir.path.string(), "train", 70);
  auto ds = share(MNIST(dir.path.string()));
  auto aug = compose(RandomTranslation(2), RandomRotation(15.0), RandomErasing({.p = 0.5}));
  for (bool prefetch : {true, false}) {
    DataLoader a(ds, {.batch_size = 8, .seed = 11, .prefetch = prefetch}, aug);
    for (int k = 0; k < 13; ++k) a.next();  // into epoch 1 (9 batches per epoch)
    const LoaderState saved = a.state();
    CHECK(saved == LoaderState{1, 4, 11});
    std::vector<std::vector<float>> rest;
    std::vector<std::vector<int64_t>> rest_t;
    for (int k = 0; k < 12; ++k) {  // the rest of epoch 1 and part of epoch 2
      Example b = a.next();
      rest.push_back(b.data.to_vector<float>());
      rest_t.push_back(targets(b));
    }
    DataLoader r(ds, {.batch_size = 8, .seed = 0, .prefetch = !prefetch}, aug);
    r.next();  // some unrelated progress, then the resume
    r.load_state(saved);
    CHECK(r.state() == saved);
    for (int k = 0; k < 12; ++k) {
      Example b = r.next();
      CHECK(b.data.to_vector<float>() == rest[size_t(k)]);
      CHECK(targets(b) == rest_t[size_t(k)]);
    }
    // and make_batch agrees with the stream
    CHECK(a.make_batch(1, 4).data.to_vector<float>() == rest[0]);
  }
  DataLoader l(ds, {.batch_size = 8});
  CHECK_THROWS_WITH_AS(l.load_state({0, 10, 0}), doctest::Contains("batch 10 out of range [0, 9]"), tg::Error);
  l.load_state({3, 9, 0});  // the end of epoch 3 is the start of epoch 4
  l.next();
  CHECK(l.state() == LoaderState{4, 1, 0});
}

TEST_CASE("dataloader: identical batches with 1 and 2 threads (shuffle + augmentation)") {
  ThreadCount restore;
  tg_test::TempDir dir;
  tg_test::write_mnist_fixture(dir.path.string(), "train", 300);
  auto ds = share(MNIST(dir.path.string()));
  auto aug = compose(RandomTranslation(3), RandomRotation(20.0), RandomErasing({.p = 0.7}),
                     Normalize({0.5f}, {0.25f}));
  auto run = [&](int threads) {
    tg::set_num_threads(threads);
    DataLoader l(ds, {.batch_size = 100, .seed = 2}, aug);  // grain 8: several chunks per batch
    std::vector<float> all;
    for (int k = 0; k < 6; ++k) {
      auto v = l.next().data.to_vector<float>();
      all.insert(all.end(), v.begin(), v.end());
    }
    return all;
  };
  const auto one = run(1), two = run(2);
  REQUIRE(one.size() == 6u * 100 * 784);
  CHECK(one == two);
}

TEST_CASE("dataloader: clean to destroy mid-epoch and right after construction") {
  auto ds = indexed(1000);
  for (int k = 0; k < 20; ++k) {
    DataLoader l(ds, {.batch_size = 16, .seed = uint64_t(k)});
    for (int j = 0; j < k % 4; ++j) l.next();
  }
  { DataLoader l(ds, {}); }
  CHECK(true);
}

namespace {
struct Throws : Dataset {
  int64_t size() const override { return 10; }
  Example get(int64_t i) const override {
    TG_CHECK(i != 7, "Throws: example ", i, " is broken");
    return {tg::zeros({1}), tg::scalar_tensor(double(i), tg::kInt64)};
  }
};
}  // namespace

TEST_CASE("dataloader: a dataset error reaches the caller, also through the prefetch thread") {
  for (bool prefetch : {true, false}) {
    DataLoader l(std::make_shared<Throws>(), {.batch_size = 5, .shuffle = false, .prefetch = prefetch});
    CHECK(targets(l.next()) == std::vector<int64_t>{0, 1, 2, 3, 4});
    CHECK_THROWS_WITH_AS(l.next(), doctest::Contains("example 7 is broken"), tg::Error);
  }
}

TEST_CASE("dataset: Subset, take and random_split") {
  auto ds = indexed(30);
  auto first = take(ds, 12);
  CHECK(first->size() == 12);
  CHECK(first->get(11).target.item<int64_t>() == 11);
  CHECK_THROWS_WITH_AS(take(ds, 31), doctest::Contains("take: n = 31 is outside [0, 30]"), tg::Error);

  tg::Generator g1(7), g2(7);
  auto s1 = random_split(ds, {20, 7, 3}, g1);
  auto s2 = random_split(ds, {20, 7, 3}, g2);
  REQUIRE(s1.size() == 3);
  CHECK(s1[0]->size() == 20);
  CHECK(s1[2]->size() == 3);
  CHECK(s1[1]->indices() == s2[1]->indices());  // same seed, same split
  std::set<int64_t> seen;
  for (auto& s : s1)
    for (int64_t i : s->indices()) CHECK(seen.insert(i).second);
  CHECK(seen.size() == 30);
  CHECK_THROWS_WITH_AS(random_split(ds, {20, 5}, g1), doctest::Contains("lengths sum to 25 but the dataset has 30"),
                       tg::Error);
  // lengths whose sum passes INT64_MAX (it wrapped to 30 and was accepted)
  const int64_t q = int64_t(1) << 62;
  CHECK_THROWS_WITH_AS(random_split(ds, {20, q, q, q, q + 10}, g1),
                       doctest::Contains("lengths sum to more than the dataset's 30 examples (20 before lengths[1] = "),
                       tg::Error);

  // a Subset of a Subset batches through the base's get_batch
  auto sub = std::make_shared<Subset>(s1[0], std::vector<int64_t>{3, 0});
  Example b = sub->get_batch(std::vector<int64_t>{1, 0});
  CHECK(targets(b) == std::vector<int64_t>{s1[0]->indices()[0], s1[0]->indices()[3]});
  DataLoader l(first, {.batch_size = 100, .shuffle = false});
  CHECK(targets(l.next()).size() == 12);
  CHECK_THROWS_WITH_AS(Subset(ds, {0, 30}), doctest::Contains("index 30 at position 1 out of range"), tg::Error);
}

TEST_CASE("dataset: the generic collation stacks get() results, TensorDataset checks its rows") {
  auto ds = indexed(5);
  Example g = ds->Dataset::get_batch(std::vector<int64_t>{4, 1});
  Example f = ds->get_batch(std::vector<int64_t>{4, 1});
  CHECK(g.data.shape() == tg::Shape{2, 2});
  CHECK(g.data.to_vector<float>() == f.data.to_vector<float>());
  CHECK(g.target.to_vector<int64_t>() == std::vector<int64_t>{4, 1});
  CHECK_THROWS_WITH_AS(TensorDataset(tg::zeros({3, 2}), tg::zeros({4})),
                       doctest::Contains("data has 3 rows (shape [3,2]) but targets has 4"), tg::Error);
}

TEST_CASE("dataloader: batch buffers are recycled once released, never while held") {
  tg_test::TempDir dir;
  tg_test::write_mnist_fixture(dir.path.string(), "train", 64);
  auto ds = share(MNIST(dir.path.string()));
  auto aug = compose(RandomTranslation(2), RandomRotation(10.0));
  for (bool prefetch : {false, true}) {
    const uint64_t at_start = tg::alloc_stats().system_allocs;
    DataLoader l(ds, {.batch_size = 16, .seed = 4, .prefetch = prefetch}, aug);
    Example held = l.next();  // epoch 0, batch 0, kept alive throughout
    const auto held_values = held.data.to_vector<float>();
    for (int k = 0; k < 24; ++k) (void)l.next();  // released at once
    const uint64_t before = tg::alloc_stats().system_allocs;
    for (int k = 0; k < 400; ++k) (void)l.next();
    const uint64_t allocs = tg::alloc_stats().system_allocs - before;
    const uint64_t total = tg::alloc_stats().system_allocs - at_start;
    MESSAGE("prefetch ", prefetch, ": system allocations: ", total, " in all, ", allocs, " during the last 400 batches");
    // Without prefetch, once the two buffers (held + one in rotation) exist,
    // none. With prefetch, how many batches are alive at a peak depends on
    // timing (the worker and a helping caller both make batches), but never
    // more than five (held, the caller's, three prefetched), each data +
    // target: 10 allocations over the loader's whole life, however many
    // batches it serves (measured: 0-6 in 100 runs).
    if (!prefetch) CHECK(allocs == 0u);
    CHECK(total <= (prefetch ? 10u : 4u));
    std::set<const float*> seen;
    for (int k = 0; k < 40; ++k) {
      Example b = l.next();
      seen.insert(b.data.data_ptr<float>());
      CHECK(b.data.data_ptr<float>() != held.data.data_ptr<float>());
      // recycled buffers still hold exactly the batch they should
      const LoaderState s = l.state();
      const int64_t e = s.batch == 0 ? s.epoch - 1 : s.epoch, bi = s.batch == 0 ? 3 : s.batch - 1;
      CHECK(b.data.to_vector<float>() == l.make_batch(e, bi).data.to_vector<float>());
    }
    CHECK(seen.size() <= 6u);  // a handful of buffers in rotation
    CHECK(held.data.to_vector<float>() == held_values);
  }
}

TEST_CASE("dataloader: a recycled batch comes back without its last owner's autograd state") {
  // A caller that took gradients with respect to a batch (FGSM, saliency)
  // and let it go: the buffer is reused, but the new batch is a fresh tensor
  // (no requires_grad, no .grad, in-place ops allowed).
  tg_test::TempDir dir;
  tg_test::write_mnist_fixture(dir.path.string(), "train", 64);
  auto ds = share(MNIST(dir.path.string()));
  for (bool prefetch : {false, true}) {
    CAPTURE(prefetch);
    DataLoader l(ds, {.batch_size = 16, .seed = 2, .prefetch = prefetch});
    std::set<const float*> graded;
    for (int k = 0; k < 6; ++k) {
      Example b = l.next();
      b.data.requires_grad_();
      tg::sum(b.data).backward();
      REQUIRE(b.data.grad().defined());
      graded.insert(b.data.data_ptr<float>());
    }
    int reused = 0;
    for (int k = 0; k < 24; ++k) {
      Example c = l.next();
      reused += graded.count(c.data.data_ptr<float>()) ? 1 : 0;
      CHECK_FALSE(c.data.requires_grad());
      CHECK_FALSE(c.data.grad().defined());
      CHECK_FALSE(c.target.requires_grad());
      CHECK_NOTHROW(c.data.mul_(2.0));  // in place on a batch: allowed, it requires no grad
    }
    CHECK(reused > 0);  // the case under test did happen: graded buffers came back
  }
}

TEST_CASE("dataloader: prefetching two batches ahead survives jumps of the cursor and the seed") {
  // The worker keeps the cursor's batch and the next one queued, running or
  // done; every jump (load_state, set_epoch, a new seed, an epoch's end) must
  // drop what no longer fits. Each batch is checked against make_batch, the
  // pure function of (seed, epoch, batch).
  tg_test::TempDir dir;
  tg_test::write_mnist_fixture(dir.path.string(), "train", 50);
  auto ds = share(MNIST(dir.path.string()));
  auto aug = compose(RandomTranslation(2), RandomRotation(15.0), RandomErasing({.p = 0.5}), Normalize({0.5f}, {0.5f}));
  DataLoader l(ds, {.batch_size = 8, .seed = 4, .prefetch = true}, aug);  // 7 batches per epoch
  DataLoader ref(ds, {.batch_size = 8, .seed = 4, .prefetch = false}, aug);
  auto expect = [&](const LoaderState& s) {
    ref.load_state(s);
    return ref.make_batch(s.epoch, s.batch).data.to_vector<float>();
  };
  const std::vector<LoaderState> jumps = {{0, 0, 4}, {0, 5, 4}, {2, 6, 4}, {1, 1, 4}, {1, 1, 9}, {0, 3, 4}, {5, 7, 9}};
  for (const LoaderState& j : jumps) {
    l.load_state(j);
    for (int k = 0; k < 4; ++k) {  // across an epoch's end for some of them
      LoaderState s = l.state();
      if (s.batch == l.batches_per_epoch()) s = {s.epoch + 1, 0, s.seed};
      const std::vector<float> want = expect(s);
      CHECK_MESSAGE(l.next().data.to_vector<float>() == want, "epoch ", s.epoch, " batch ", s.batch, " seed ", s.seed);
    }
  }
  l.set_epoch(3);
  CHECK(l.next().data.to_vector<float>() == expect({3, 0, 9}));
}

namespace {
// Collation through a parallel_for (as MNIST::get_batch_into splits its
// conversion), counting the batches whose range parallel_for cut into chunks.
struct SplitsItsBatches : Dataset {
  int64_t size() const override { return 4096; }
  Example get(int64_t i) const override { return {tg::zeros({1}), tg::scalar_tensor(double(i), tg::kInt64)}; }
  Example get_batch(std::span<const int64_t> idx) const override {
    const int64_t b = int64_t(idx.size());
    Example out{tg::zeros({b, 1}), tg::zeros({b}, {.dtype = tg::kInt64})};
    std::atomic<bool> cut{false};
    tg::parallel_for(0, b, 1, [&](int64_t k0, int64_t k1) {
      if (k1 - k0 < b) cut = true;
      for (int64_t k = k0; k < k1; ++k) out.target.data_ptr<int64_t>()[k] = idx[size_t(k)];
    });
    if (cut) ++split;
    return out;
  }
  mutable std::atomic<int> split{0};
};
}  // namespace

TEST_CASE("dataloader: with prefetch, each batch is made on one thread (the dataset's parallel_for stays serial)") {
  tgtest::ThreadsGuard guard;
  tg::set_num_threads(2);
  auto ds = std::make_shared<SplitsItsBatches>();
  {
    DataLoader l(ds, {.batch_size = 256, .shuffle = true, .seed = 3, .prefetch = true});
    // the first batch is made by the caller before anything is queued, with
    // the whole pool; from then on the worker and the helping caller each
    // make whole batches
    l.next();
    ds->split = 0;
    for (int k = 0; k < 64; ++k) CHECK(l.next().target.size(0) == 256);
  }
  CHECK(ds->split == 0);
  // without prefetch the caller's collation may use both threads (where oneTBB
  // gives the pool a second thread at all)
  DataLoader l(ds, {.batch_size = 256, .shuffle = true, .seed = 3, .prefetch = false});
  for (int k = 0; k < 64; ++k) l.next();
  if (tgtest::pool_can_split()) CHECK(ds->split > 0);
}
