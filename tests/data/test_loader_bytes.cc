// The loader's byte route: MNIST hands each image's uint8 pixels to the
// DataLoader's per-example hook, and a Compose that starts with a fused warp
// step reads them straight into the warp's padded source
// (kernels::pad_shifted_bytes) instead of converting the image to floats
// first. Everything here checks that the route gives the bits of the plain
// one: the kernel against its scalar twin and against convert-then-pad on
// every target; Transform::apply_bytes against convert-then-apply for fused,
// unfused, angle-0, multi-channel and user transforms; MNIST::get_batch_into's
// hook contract (every example once, its own bytes and slot, at 1 and 2
// threads); and whole epochs of a DataLoader over MNIST (the route) against
// the same pixels in a TensorDataset (no route), with prefetch on and off, at
// 1 and 2 threads, through a Subset too.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/convert.h"
#include "data/dataloader.h"
#include "data/mnist.h"
#include "data/transforms.h"
#include "data/warp.h"
#include "tensor/parallel.h"
#include "tensor/random.h"
#include "tests/common/test_util.h"
#include "tests/data/fixtures.h"

using namespace tg::data;
using tgtest::for_each_target;

namespace {

bool same_bits(const float* a, const float* b, int64_t n) { return std::memcmp(a, b, size_t(n) * sizeof(float)) == 0; }

std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
  tg::Generator g(seed);
  std::vector<uint8_t> v(n);
  for (uint8_t& b : v) b = uint8_t(g.next_u32() & 0xFF);
  return v;
}

// Sets the thread count for a scope.
struct ThreadCount {
  int saved = tg::get_num_threads();
  explicit ThreadCount(int n) { tg::set_num_threads(n); }
  ~ThreadCount() { tg::set_num_threads(saved); }
};

// An MNIST-layout data set of `n` random images (every byte value occurs) in dir.
void write_random_mnist(const std::string& dir, int64_t n) {
  const std::vector<uint8_t> img = random_bytes(size_t(n) * 784, 17);
  std::vector<uint8_t> lab(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) lab[size_t(i)] = uint8_t((i * 3) % 10);
  write_idx(dir + "/train-images-idx3-ubyte", IdxType::UInt8, {n, 28, 28}, img.data());
  write_idx(dir + "/train-labels-idx1-ubyte", IdxType::UInt8, {n}, lab.data());
}

// Forwards to a base data set and counts the batches it was asked to refill
// with a hook, and how many of those the base took.
class HookCounting : public Dataset {
 public:
  explicit HookCounting(DatasetPtr base) : base_(std::move(base)) {}
  int64_t size() const override { return base_->size(); }
  Example get(int64_t i) const override { return base_->get(i); }
  Example get_batch(std::span<const int64_t> idx) const override { return base_->get_batch(idx); }
  bool get_batch_into(std::span<const int64_t> idx, Example& out, const ExampleHook* hook) const override {
    const bool took = base_->get_batch_into(idx, out, hook);
    if (hook) ++asked;
    if (hook && took) ++taken;
    return took;
  }
  mutable std::atomic<int> asked{0}, taken{0};

 private:
  DatasetPtr base_;
};

}  // namespace

TEST_CASE("loader bytes: pad_shifted_bytes matches its scalar twin and convert-then-pad on every target") {
  using namespace tg::data::kernels;
  int checked_targets = 0;
  for_each_target([&](const std::string& target) {
    CAPTURE(target);
    ++checked_targets;
    // widths around one and two AVX-512 registers of padded row, and wider
    for (auto [h, w] : std::vector<std::pair<int64_t, int64_t>>{
             {1, 1}, {3, 11}, {5, 12}, {4, 13}, {5, 20}, {28, 28}, {9, 29}, {6, 40}, {33, 7}}) {
      const int64_t pw = w + 2 * kWarpPad, ph = h + 2 * kWarpPad;
      for (int64_t off : {0, 1, 3}) {
        // the image ends exactly where the buffer does (ASan sees any read past it)
        std::vector<uint8_t> buf = random_bytes(size_t(h * w + off), uint64_t(h * 100 + w + off));
        const uint8_t* img = buf.data() + off;
        std::vector<float> as_float(size_t(h * w));
        u8_to_unit_float_ref(img, as_float.data(), h * w);
        for (int64_t dy : {int64_t(0), int64_t(2), int64_t(-1), -h, h + 3, INT64_MIN}) {
          for (int64_t dx : {int64_t(0), int64_t(-2), int64_t(1), w, -w - 5, INT64_MAX}) {
            constexpr float kSentinel = 123.0f;
            const size_t n = static_cast<size_t>(pw * ph);
            std::vector<float> a(n + 40, kSentinel), b(n + 40, kSentinel), c(n + 40, kSentinel);
            pad_shifted_bytes(img, h, w, dx, dy, -0.5f, 0.25f, a.data());
            pad_shifted_bytes_ref(img, h, w, dx, dy, -0.5f, 0.25f, b.data());
            pad_shifted(as_float.data(), h, w, dx, dy, -0.5f, 0.25f, c.data());
            CHECK_MESSAGE(same_bits(a.data(), b.data(), int64_t(a.size())), "twin: h=", h, " w=", w, " dx=", dx,
                          " dy=", dy, " off=", off);
            CHECK_MESSAGE(same_bits(a.data(), c.data(), int64_t(a.size())), "convert-then-pad: h=", h, " w=", w,
                          " dx=", dx, " dy=", dy, " off=", off);
            for (size_t k = n; k < a.size(); ++k) REQUIRE(a[k] == kSentinel);
          }
        }
      }
    }
  });
  CHECK(checked_targets >= 1);
}

TEST_CASE("loader bytes: pad_shifted_bytes_ref puts byte / 255 where pad_shifted puts the pixel") {
  using namespace tg::data::kernels;
  // 2 x 3 image shifted right by 1 and up by 1: pad(r + P, c + P) = img(r + 1, c - 1)
  const std::vector<uint8_t> img = {0, 51, 102, 153, 204, 255};
  const int64_t h = 2, w = 3, pw = w + 2 * kWarpPad, ph = h + 2 * kWarpPad;
  std::vector<float> pad(static_cast<size_t>(pw * ph));
  pad_shifted_bytes_ref(img.data(), h, w, /*dx=*/1, /*dy=*/-1, /*tfill=*/-1.0f, /*rfill=*/9.0f, pad.data());
  auto at = [&](int64_t r, int64_t c) { return pad[size_t((r + kWarpPad) * pw + c + kWarpPad)]; };
  CHECK(at(0, 0) == -1.0f);        // from column -1: translation fill
  CHECK(at(0, 1) == 0.6f);         // img(1, 0) = 153 / 255 = 0.6 (correctly rounded)
  CHECK(at(0, 2) == 0.8f);         // img(1, 1) = 204 / 255
  CHECK(at(1, 1) == -1.0f);        // from row 2: translation fill
  CHECK(at(-1, 0) == 9.0f);        // border
  CHECK(at(1, 3) == 9.0f);
  pad_shifted_bytes_ref(img.data(), h, w, 0, 0, -1.0f, 9.0f, pad.data());
  CHECK(at(1, 2) == 1.0f);  // 255 -> exactly 1
  CHECK(at(0, 0) == 0.0f);
}

TEST_CASE("loader bytes: Transform::apply_bytes gives the bits of converting then apply") {
  struct Case {
    const char* name;
    TransformPtr t;
    tg::Shape shape;
  };
  const auto scale_by_draw = [](const tg::Tensor& x, tg::Generator& g) {
    return tg::mul(x, double(1 + g.next_u32() % 3));
  };
  const std::vector<Case> cases = {
      {"fused: translate+rotate+erase+normalize",
       compose(RandomTranslation(2), RandomRotation(15.0), RandomErasing({.p = 0.7}), Normalize({0.3f}, {0.4f})),
       {1, 28, 28}},
      {"fused rotate alone", compose(RandomRotation(40.0, Interpolation::Bilinear, 0.5f)), {1, 28, 28}},
      {"fused, 3 channels, odd size", compose(RandomTranslation(3, -1.0f), RandomRotation(20.0),
                                             Normalize({0.1f, 0.2f, 0.3f}, {0.5f, 0.6f, 0.7f})),
       {3, 9, 13}},
      {"fused on [H, W]", compose(RandomRotation(10.0), RandomErasing({.p = 1.0})), {17, 5}},
      {"fused with angle 0 (degrees 0)", compose(RandomTranslation(2), RandomRotation(0.0), Normalize({0.5f}, {2.0f})),
       {1, 28, 28}},
      {"wide rows (gather path)", compose(RandomRotation(12.0)), {1, 7, 45}},
      {"unfused first: normalize then rotate", compose(Normalize({0.3f}, {0.4f}), RandomRotation(15.0)), {1, 28, 28}},
      {"fused then a lambda", compose(RandomRotation(15.0), Lambda(scale_by_draw)), {1, 28, 28}},
      {"nearest rotation (not fused)", compose(RandomRotation(15.0, Interpolation::Nearest)), {1, 28, 28}},
      {"a plain transform", std::make_shared<RandomErasing>(RandomErasingOptions{.p = 1.0}), {2, 6, 7}},
      {"empty compose", std::make_shared<Compose>(std::vector<TransformPtr>{}), {1, 4, 4}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    const int64_t n = c.shape.numel();
    for (uint64_t seed = 0; seed < 12; ++seed) {
      const std::vector<uint8_t> bytes = random_bytes(size_t(n), 1000 + seed);
      std::vector<float> expect(static_cast<size_t>(n)), got(static_cast<size_t>(n), -99.0f);
      kernels::u8_to_unit_float_ref(bytes.data(), expect.data(), n);
      tg::Generator g1(seed), g2(seed);
      c.t->apply(expect.data(), c.shape, g1);
      c.t->apply_bytes(bytes.data(), got.data(), c.shape, g2);
      REQUIRE_MESSAGE(same_bits(expect.data(), got.data(), n), "seed ", seed);
      CHECK(g1.offset() == g2.offset());  // the same draws
    }
  }
}

TEST_CASE("loader bytes: MNIST::get_batch_into hands the hook every example once with its bytes and slot") {
  tg_test::TempDir dir;
  write_random_mnist(dir.path.string(), 100);
  const MNIST ds(dir.path.string(), Split::Train);
  struct Recorder : ExampleHook {
    const MNIST* ds = nullptr;
    std::span<const int64_t> idx;
    float* x0 = nullptr;
    mutable std::mutex mu;
    mutable std::vector<int> seen;
    mutable bool ok = true;
    void operator()(int64_t k, const tg::Shape& shape, const uint8_t* bytes, float* x) const override {
      std::lock_guard<std::mutex> lk(mu);
      ok = ok && shape == tg::Shape{1, 28, 28} && bytes == ds->images() + idx[size_t(k)] * 784 &&
           x == x0 + k * 784;
      ++seen[size_t(k)];
      kernels::u8_to_unit_float_ref(bytes, x, 784);
      x[0] = float(k);  // marks the slot as the hook's
    }
  };
  for (int threads : {1, 2}) {
    ThreadCount tc(threads);
    for (int64_t b : {int64_t(1), int64_t(7), int64_t(64), int64_t(100)}) {
      CAPTURE(threads);
      CAPTURE(b);
      std::vector<int64_t> idx(static_cast<size_t>(b));
      for (int64_t k = 0; k < b; ++k) idx[size_t(k)] = (k * 37 + 11) % 100;
      Example out{tg::empty({b, 1, 28, 28}), tg::empty({b}, {.dtype = tg::kInt64})};
      Recorder rec;
      rec.ds = &ds;
      rec.idx = idx;
      rec.x0 = out.data.data_ptr<float>();
      rec.seen.assign(size_t(b), 0);
      REQUIRE(ds.get_batch_into(idx, out, &rec));
      CHECK(rec.ok);
      for (int64_t k = 0; k < b; ++k) REQUIRE(rec.seen[size_t(k)] == 1);
      const Example plain = ds.get_batch(idx);
      for (int64_t k = 0; k < b; ++k) {
        const float* got = out.data.data_ptr<float>() + k * 784;
        const float* want = plain.data.data_ptr<float>() + k * 784;
        CHECK(got[0] == float(k));
        CHECK(same_bits(got + 1, want + 1, 783));
        CHECK(out.target.data_ptr<int64_t>()[k] == plain.target.data_ptr<int64_t>()[k]);
      }
    }
  }
  // a batch of the wrong shape: refused, the hook never called
  Example wrong{tg::empty({3, 28, 28}), tg::empty({3}, {.dtype = tg::kInt64})};
  Recorder rec;
  rec.seen.assign(3, 0);
  const std::vector<int64_t> idx = {0, 1, 2};
  CHECK_FALSE(ds.get_batch_into(idx, wrong, &rec));
  CHECK(rec.seen == std::vector<int>{0, 0, 0});
}

TEST_CASE("loader bytes: a DataLoader over MNIST takes the byte route and gives the batches of the plain route") {
  tg_test::TempDir dir;
  const int64_t n = 300;
  write_random_mnist(dir.path.string(), n);
  const DatasetPtr mnist = share(MNIST(dir.path.string(), Split::Train));
  const Example all = mnist->get_batch([&] {
    std::vector<int64_t> i(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) i[size_t(k)] = k;
    return i;
  }());
  const DatasetPtr plain = std::make_shared<TensorDataset>(all.data, all.target);  // no byte route
  const TransformPtr aug = compose(RandomTranslation(2), RandomRotation(15.0), RandomErasing({.p = 0.5}),
                                   Normalize({0.2860f}, {0.3530f}));
  for (int threads : {1, 2}) {
    for (bool prefetch : {false, true}) {
      for (bool subset : {false, true}) {
        CAPTURE(threads);
        CAPTURE(prefetch);
        CAPTURE(subset);
        ThreadCount tc(threads);
        std::vector<int64_t> pick;
        for (int64_t i = n - 1; i >= 0; i -= 2) pick.push_back(i);
        const DatasetPtr a_base = subset ? std::make_shared<Subset>(mnist, pick) : mnist;
        const DatasetPtr b_base = subset ? std::make_shared<Subset>(plain, pick) : plain;
        auto counting = std::make_shared<HookCounting>(a_base);
        const DataLoaderOptions o{.batch_size = 32, .shuffle = true, .seed = 5, .drop_last = false,
                                  .prefetch = prefetch};
        DataLoader la(counting, o, aug), lb(b_base, o, aug);
        const int64_t batches = 2 * la.batches_per_epoch() + 3;
        for (int64_t k = 0; k < batches; ++k) {
          const Example a = la.next(), b = lb.next();  // dropped each step: their buffers get recycled
          REQUIRE(a.data.shape() == b.data.shape());
          REQUIRE_MESSAGE(same_bits(a.data.data_ptr<float>(), b.data.data_ptr<float>(), a.data.numel()),
                          "batch ", k);
          REQUIRE(std::memcmp(a.target.data_ptr<int64_t>(), b.target.data_ptr<int64_t>(),
                              size_t(a.target.numel()) * sizeof(int64_t)) == 0);
        }
        // the route was taken: most batches were refilled through the hook
        CHECK(counting->taken.load() >= batches / 2);
        CHECK(counting->taken.load() == counting->asked.load());
      }
    }
  }
}

TEST_CASE("loader bytes: an error in a transform on the byte route reaches the caller") {
  tg_test::TempDir dir;
  write_random_mnist(dir.path.string(), 64);
  const DatasetPtr mnist = share(MNIST(dir.path.string(), Split::Train));
  std::atomic<int> calls{0};
  const TransformPtr t = compose(RandomRotation(10.0), Lambda([&](const tg::Tensor& x, tg::Generator&) -> tg::Tensor {
                                   if (++calls > 100) throw std::runtime_error("lambda failed on purpose");
                                   return x;
                                 }));
  DataLoader loader(mnist, {.batch_size = 16, .shuffle = false, .seed = 0, .drop_last = false, .prefetch = true}, t);
  bool thrown = false;
  try {
    for (int k = 0; k < 20; ++k) (void)loader.next();
  } catch (const std::exception& e) {
    thrown = std::string(e.what()).find("lambda failed on purpose") != std::string::npos;
  }
  CHECK(thrown);
}

namespace {
// A user's Compose whose apply() does more than the plan (review finding: the
// byte route ran the plan and skipped the override on recycled batches).
struct ClampedCompose : Compose {
  using Compose::Compose;
  void apply(float* x, const tg::Shape& s, tg::Generator& g) const override {
    Compose::apply(x, s, g);
    for (int64_t k = 0; k < s.numel(); ++k) x[k] = std::min(x[k], 0.5f);
  }
};

// A user's data set with its own refill route that ignores the hook (review
// finding: its recycled batches came back untransformed).
class IgnoresHook : public Dataset {
 public:
  explicit IgnoresHook(std::shared_ptr<const TensorDataset> base) : base_(std::move(base)) {}
  int64_t size() const override { return base_->size(); }
  Example get(int64_t i) const override { return base_->get(i); }
  bool get_batch_into(std::span<const int64_t> idx, Example& out, const ExampleHook*) const override {
    const Example b = base_->get_batch(idx);
    if (out.data.shape() != b.data.shape() || out.target.shape() != b.target.shape()) return false;
    std::memcpy(out.data.data_ptr<float>(), b.data.data_ptr<float>(), size_t(b.data.numel()) * sizeof(float));
    std::memcpy(out.target.data_ptr<int64_t>(), b.target.data_ptr<int64_t>(),
                size_t(b.target.numel()) * sizeof(int64_t));
    ++refilled;
    return true;
  }
  mutable std::atomic<int> refilled{0};

 private:
  std::shared_ptr<const TensorDataset> base_;
};
}  // namespace

TEST_CASE("loader bytes: a user's Compose subclass keeps its apply on the byte route") {
  const auto t = std::make_shared<ClampedCompose>(std::vector<TransformPtr>{std::make_shared<RandomRotation>(15.0)});
  const std::vector<uint8_t> bytes = random_bytes(784, 3);
  std::vector<float> expect(784), got(784);
  kernels::u8_to_unit_float_ref(bytes.data(), expect.data(), 784);
  tg::Generator g1(9), g2(9);
  t->apply(expect.data(), {1, 28, 28}, g1);
  t->apply_bytes(bytes.data(), got.data(), {1, 28, 28}, g2);
  CHECK(same_bits(expect.data(), got.data(), 784));
  CHECK(*std::max_element(got.begin(), got.end()) == 0.5f);
  // and through the loader, recycled MNIST batches included
  tg_test::TempDir dir;
  write_random_mnist(dir.path.string(), 256);
  const DatasetPtr mnist = share(MNIST(dir.path.string(), Split::Train));
  DataLoader loader(mnist, {.batch_size = 32, .shuffle = true, .seed = 1, .drop_last = false, .prefetch = false}, t);
  for (int k = 0; k < 16; ++k) {
    const Example b = loader.next();
    const float* x = b.data.data_ptr<float>();
    REQUIRE_MESSAGE(*std::max_element(x, x + b.data.numel()) <= 0.5f, "batch ", k);
  }
}

TEST_CASE("loader bytes: a data set whose refill ignores the hook still gets every example transformed") {
  const int64_t n = 96;
  const tg::Tensor data = tg::rand({n, 1, 6, 5});
  tg::Tensor target = tg::empty({n}, {.dtype = tg::kInt64});
  for (int64_t i = 0; i < n; ++i) target.data_ptr<int64_t>()[i] = i;
  auto base = std::make_shared<TensorDataset>(data, target);
  auto ignoring = std::make_shared<IgnoresHook>(base);
  const TransformPtr t = compose(RandomRotation(20.0), Normalize({0.5f}, {0.25f}));
  for (bool prefetch : {false, true}) {
    CAPTURE(prefetch);
    const DataLoaderOptions o{.batch_size = 16, .shuffle = true, .seed = 2, .drop_last = false,
                              .prefetch = prefetch};
    DataLoader la(ignoring, o, t), lb(base, o, t);
    for (int k = 0; k < 20; ++k) {
      const Example a = la.next(), b = lb.next();
      REQUIRE_MESSAGE(same_bits(a.data.data_ptr<float>(), b.data.data_ptr<float>(), a.data.numel()), "batch ", k);
    }
  }
  CHECK(ignoring->refilled.load() > 0);  // the refill route was taken
}
