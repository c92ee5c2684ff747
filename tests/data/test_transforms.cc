// Transforms: exact values for normalize, known pixels moved by translate and
// rotate, erasing rectangles, torchvision-like erasing statistics, determinism
// per (seed, epoch, index), Compose order, and user lambdas.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "data/transforms.h"
#include "data/warp.h"

using namespace tg::data;

namespace {
// A [1, h, w] image with one bright pixel at (r, c).
tg::Tensor dot(int64_t h, int64_t w, int64_t r, int64_t c, float v = 1.0f) {
  tg::Tensor x = tg::zeros({1, h, w});
  x.data_ptr<float>()[r * w + c] = v;
  return x;
}
// (row, col) of the largest value of a [1, h, w] image.
std::pair<int64_t, int64_t> argmax2(const tg::Tensor& x) {
  const auto v = x.to_vector<float>();
  const int64_t w = x.size(2);
  const int64_t k = std::max_element(v.begin(), v.end()) - v.begin();
  return {k / w, k % w};
}
tg::Tensor ramp(int64_t c, int64_t h, int64_t w) {
  std::vector<float> v(static_cast<size_t>(c * h * w));
  for (size_t k = 0; k < v.size(); ++k) v[k] = float(k % 97) / 96.0f;
  return tg::tensor(v, {c, h, w});
}
}  // namespace

TEST_CASE("transforms: normalize gives exact values, per channel or shared") {
  tg::Generator g(0);
  tg::Tensor x = tg::tensor(std::vector<float>{0.0f, 0.5f, 1.0f, 0.25f, 0.0f, 1.0f, 0.5f, 0.75f}, {2, 2, 2});
  tg::Tensor y = Normalize({0.5f, 0.25f}, {0.25f, 0.5f})(x, g);
  CHECK(y.to_vector<float>() == std::vector<float>{-2.0f, 0.0f, 2.0f, -1.0f, -0.5f, 1.5f, 0.5f, 1.0f});
  tg::Tensor z = Normalize({0.5f}, {0.5f})(x, g);
  CHECK(z.to_vector<float>() == std::vector<float>{-1.0f, 0.0f, 1.0f, -0.5f, -1.0f, 1.0f, 0.0f, 0.5f});
  // Fashion-MNIST's usual constants, against the formula
  tg::Tensor w = Normalize({0.2860f}, {0.3530f})(tg::full({1, 1, 1}, 1.0), g);
  CHECK(w.item<float>() == (1.0f - 0.2860f) / 0.3530f);
  CHECK(x.to_vector<float>()[0] == 0.0f);  // the input is untouched
  CHECK_THROWS_WITH_AS(Normalize({0.5f}, {0.0f}), doctest::Contains("std[0] = 0 must be finite and non-zero"), tg::Error);
  // a negative std is a valid (mirrored) scaling, as in torchvision
  CHECK(Normalize({0.5f}, {-0.5f})(x, g).to_vector<float>() ==
        std::vector<float>{1.0f, -0.0f, -1.0f, 0.5f, 1.0f, -1.0f, -0.0f, -0.5f});
  CHECK_THROWS_WITH_AS(Normalize({0.5f, 0.5f, 0.5f}, {1.f, 1.f, 1.f})(x, g),
                       doctest::Contains("3 means/stds need a sample [C, H, W] with C = 3, got shape [2,"), tg::Error);
}

TEST_CASE("transforms: translate moves a known pixel and fills with 0") {
  tg::Tensor x = dot(28, 28, 10, 12, 0.75f);
  tg::Tensor y = translate(x, /*dx=*/3, /*dy=*/-2);
  CHECK(y.at<float>({0, 8, 15}) == 0.75f);
  CHECK(y.at<float>({0, 10, 12}) == 0.0f);
  CHECK(y.sum().item<float>() == 0.75f);
  // pixels shifted out are gone; the vacated border is the fill value
  tg::Tensor full = tg::ones({1, 4, 4});
  tg::Tensor s = translate(full, 1, 2, -1.0f);
  const auto v = s.to_vector<float>();
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) CHECK(v[size_t(r * 4 + c)] == ((r < 2 || c < 1) ? -1.0f : 1.0f));
  // [H, W] images and multi-channel images
  CHECK(translate(tg::tensor(std::vector<float>{1, 2, 3, 4}, {2, 2}), -1, 0).to_vector<float>() ==
        std::vector<float>{2, 0, 4, 0});
  tg::Tensor two = tg::tensor(std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2});
  CHECK(translate(two, 0, 1).to_vector<float>() == std::vector<float>{0, 0, 1, 2, 0, 0, 5, 6});
  // shifts of the image's size or more, up to the int64 limits: nothing of it is left
  for (int64_t big : {int64_t(4), int64_t(1) << 40, INT64_MAX, INT64_MIN, -int64_t(4)}) {
    CHECK(translate(full, big, 0, -1.0f).to_vector<float>() == std::vector<float>(16, -1.0f));
    CHECK(translate(full, 0, big, -1.0f).to_vector<float>() == std::vector<float>(16, -1.0f));
  }
  CHECK(translate(full, 3, INT64_MIN, -1.0f).to_vector<float>() == std::vector<float>(16, -1.0f));
}

TEST_CASE("transforms: RandomTranslation is a pure shift within [-k, k]") {
  tg::Tensor x = dot(28, 28, 14, 14);
  for (int64_t i = 0; i < 50; ++i) {
    tg::Generator g = sample_generator(1, 0, i);
    tg::Tensor y = RandomTranslation(3)(x, g);
    auto [r, c] = argmax2(y);
    CHECK(std::abs(r - 14) <= 3);
    CHECK(std::abs(c - 14) <= 3);
    CHECK(y.sum().item<float>() == 1.0f);
  }
}

TEST_CASE("transforms: rotate turns counter-clockwise about the centre") {
  // 90 degrees: a pixel right of the centre goes above it
  tg::Tensor x = dot(5, 5, 2, 4);
  tg::Tensor y = rotate(x, 90.0, Interpolation::Nearest);
  CHECK(y.at<float>({0, 0, 2}) == 1.0f);
  CHECK(y.sum().item<float>() == 1.0f);
  tg::Tensor yb = rotate(x, 90.0, Interpolation::Bilinear);
  CHECK(yb.at<float>({0, 0, 2}) == doctest::Approx(1.0f).epsilon(1e-5));
  CHECK(yb.sum().item<float>() == doctest::Approx(1.0f).epsilon(1e-5));
  // 180 degrees on an even-sized image maps (r, c) to (h-1-r, w-1-c)
  tg::Tensor e = rotate(dot(28, 28, 3, 5), 180.0, Interpolation::Nearest);
  CHECK(e.at<float>({0, 24, 22}) == 1.0f);
  // 0 degrees is the identity; small angles keep a centred blob near the centre
  tg::Tensor r = ramp(1, 28, 28);
  CHECK(rotate(r, 0.0).to_vector<float>() == r.to_vector<float>());
  auto [rr, cc] = argmax2(rotate(dot(28, 28, 13, 13), 10.0, Interpolation::Bilinear));
  CHECK(std::abs(rr - 13) <= 1);
  CHECK(std::abs(cc - 13) <= 1);
  // bilinear halfway: a 2-wide bar rotated by 90 degrees on a 4x4 grid stays exact
  tg::Tensor bar = tg::zeros({1, 4, 4});
  for (int c = 0; c < 4; ++c) bar.data_ptr<float>()[1 * 4 + c] = 1.0f;  // row 1
  tg::Tensor col = rotate(bar, 90.0, Interpolation::Bilinear);
  for (int r2 = 0; r2 < 4; ++r2) CHECK(col.at<float>({0, r2, 1}) == doctest::Approx(1.0f).epsilon(1e-5));
  CHECK(col.sum().item<float>() == doctest::Approx(4.0f).epsilon(1e-5));
}

TEST_CASE("transforms: erase sets a rectangle in every channel, RandomErasing follows its options") {
  tg::Tensor x = tg::ones({2, 6, 6});
  tg::Tensor y = erase(x, 1, 2, 3, 2, 0.5f);
  for (int ch = 0; ch < 2; ++ch)
    for (int r = 0; r < 6; ++r)
      for (int c = 0; c < 6; ++c)
        CHECK(y.at<float>({ch, r, c}) == ((r >= 1 && r < 4 && c >= 2 && c < 4) ? 0.5f : 1.0f));
  // p = 0 never erases; p = 1 always erases an area within scale
  tg::Tensor ones = tg::ones({1, 28, 28});
  int erased = 0;
  for (int64_t i = 0; i < 200; ++i) {
    tg::Generator g = sample_generator(3, 1, i);
    CHECK(RandomErasing({.p = 0.0})(ones, g).sum().item<float>() == 784.0f);
    tg::Generator g2 = sample_generator(3, 1, i);
    const float left = RandomErasing({.p = 1.0, .scale = {0.1, 0.2}})(ones, g2).sum().item<float>();
    const float area = 784.0f - left;
    if (area > 0) ++erased;
    CHECK(area <= 0.2f * 784 * 1.35f);  // rounding of h and w can grow the area a little
  }
  CHECK(erased >= 190);  // only when 10 tries all fail to fit (never for these options)
  // p = 0.5 erases about half the time
  int half = 0;
  for (int64_t i = 0; i < 400; ++i) {
    tg::Generator g = sample_generator(4, 0, i);
    if (RandomErasing({.p = 0.5})(ones, g).sum().item<float>() < 784.0f) ++half;
  }
  CHECK(half > 140);
  CHECK(half < 260);
  CHECK_THROWS_WITH_AS(RandomErasing({.p = 1.5}), doctest::Contains("p must be in [0, 1], got 1.5"), tg::Error);
}

TEST_CASE("transforms: deterministic per (seed, epoch, index), different otherwise") {
  auto aug = compose(RandomTranslation(2), RandomRotation(15.0), RandomErasing({.p = 0.5}));
  tg::Tensor x = ramp(1, 28, 28);
  auto out = [&](uint64_t seed, int64_t epoch, int64_t index) {
    tg::Generator g = sample_generator(seed, epoch, index);
    return (*aug)(x, g).to_vector<float>();
  };
  CHECK(out(7, 2, 5) == out(7, 2, 5));
  CHECK(out(7, 2, 5) != out(7, 2, 6));
  CHECK(out(7, 2, 5) != out(7, 3, 5));
  CHECK(out(7, 2, 5) != out(8, 2, 5));
  // Compose applies in order with one shared generator: the same as applying by hand
  tg::Generator g1 = sample_generator(1, 1, 1), g2 = sample_generator(1, 1, 1);
  tg::Tensor a = (*aug)(x, g1);
  tg::Tensor b = RandomErasing({.p = 0.5})(RandomRotation(15.0)(RandomTranslation(2)(x, g2), g2), g2);
  CHECK(a.to_vector<float>() == b.to_vector<float>());
}

TEST_CASE("transforms: user lambdas get the sample and its generator") {
  // adds one uniform draw to every pixel: the draw comes from the sample's stream
  Lambda add_noise([](const tg::Tensor& x, tg::Generator& g) {
    tg::Tensor y = x.clone();
    y.add_(g.next_double());
    return y;
  });
  tg::Tensor x = tg::zeros({1, 2, 2});
  tg::Generator g1 = sample_generator(0, 0, 3), g2 = sample_generator(0, 0, 3);
  const float expect = float(g2.next_double());
  CHECK(add_noise(x, g1).to_vector<float>() == std::vector<float>(4, expect));
  auto chain = std::make_shared<Compose>(std::vector<TransformPtr>{
      std::make_shared<Lambda>(add_noise), std::make_shared<Normalize>(std::vector<float>{0.0f}, std::vector<float>{0.5f})});
  tg::Generator g3 = sample_generator(0, 0, 3);
  CHECK((*chain)(x, g3).to_vector<float>() == std::vector<float>(4, expect / 0.5f));
  Lambda bad([](const tg::Tensor& x, tg::Generator&) { return x.flatten(); });
  tg::Generator g4(0);
  CHECK_THROWS_WITH_AS(bad(x, g4), doctest::Contains("must return a float32 tensor of the input's shape [1,2,2], got float32 [4]"),
                       tg::Error);
  // the wrong dtype is named (the message used to show only the shape: "got [1,2,2]")
  Lambda to64([](const tg::Tensor& x, tg::Generator&) { return x.to(tg::kFloat64); });
  CHECK_THROWS_WITH_AS(to64(x, g4), doctest::Contains("got float64 [1,2,2]"), tg::Error);
}

TEST_CASE("transforms: the SIMD warp kernel matches its scalar twin bit for bit") {
  using namespace tg::data::kernels;
  for (int64_t w : {1, 5, 28, 33}) {
    const int64_t h = w == 33 ? 7 : w, pw = w + 2 * kWarpPad, ph = h + 2 * kWarpPad;
    std::vector<float> pad(static_cast<size_t>(pw * ph)), rx(static_cast<size_t>(h)), ry(static_cast<size_t>(h));
    tg::Generator g(w);
    for (float& v : pad) v = float(g.next_double());
    for (double deg : {-170.0, -33.3, -1.0, 0.5, 12.0, 90.0}) {
      const float cs = float(std::cos(deg * M_PI / 180)), sn = float(std::sin(deg * M_PI / 180));
      const float cx = float(w - 1) * 0.5f, cy = float(h - 1) * 0.5f;
      for (int64_t r = 0; r < h; ++r) {
        const float v = float(r) - cy + 0.25f;  // off-grid too
        rx[size_t(r)] = cx - cs * cx - sn * v;
        ry[size_t(r)] = cy - sn * cx + cs * v;
      }
      std::vector<float> a(static_cast<size_t>(h * w)), b(static_cast<size_t>(h * w));
      warp_bilinear(pad.data(), pw, rx.data(), ry.data(), cs, sn, a.data(), h, w);
      warp_bilinear_ref(pad.data(), pw, rx.data(), ry.data(), cs, sn, b.data(), h, w);
      CHECK_MESSAGE(a == b, "w=", w, " deg=", deg, " target=", std::string(warp_target_name()));
    }
  }
}

TEST_CASE("transforms: Compose's fused warp runs give the bits of the transforms one by one") {
  // Compose fuses [RandomTranslation] RandomRotation(bilinear) [RandomErasing]
  // [Normalize]; applying the same transforms one at a time with one shared
  // generator is the reference. Covers every optional part, fills, several
  // channels with per-channel Normalize, [H, W] samples, degrees 0, nearest
  // rotation (not fused), and runs broken by other transforms.
  const RandomTranslation tr(2), tr_fill(3, -0.5f);
  const RandomRotation rot(15.0), rot_fill(40.0, Interpolation::Bilinear, 0.25f), rot0(0.0),
      rot_near(15.0, Interpolation::Nearest);
  const RandomErasing er({.p = 0.5}), er_val({.p = 0.9, .value = 0.75f});
  const Normalize nm({0.2860f}, {0.3530f}), nm3({0.1f, 0.2f, 0.3f}, {0.5f, 0.25f, 2.0f});
  using Chain = std::vector<const Transform*>;
  auto make = [](const Chain& chain) {
    std::vector<TransformPtr> ts;
    for (const Transform* t : chain) ts.push_back(TransformPtr(t, [](const Transform*) {}));
    return Compose(ts);
  };
  const std::vector<std::pair<Chain, tg::Shape>> cases = {
      {{&tr, &rot, &er, &nm}, {1, 28, 28}},
      {{&tr, &rot}, {1, 28, 28}},
      {{&rot, &nm}, {1, 28, 28}},
      {{&rot, &er}, {28, 28}},
      {{&tr_fill, &rot_fill, &er_val, &nm}, {1, 20, 24}},
      {{&tr, &rot, &er_val, &nm3}, {3, 12, 28}},
      {{&tr, &rot, &nm3}, {3, 9, 40}},
      {{&tr, &rot0, &er, &nm}, {1, 28, 28}},
      {{&tr, &rot_near, &er, &nm}, {1, 28, 28}},
      {{&tr, &nm, &rot, &er}, {1, 28, 28}},
      {{&er, &tr, &tr, &rot, &rot_fill, &nm, &nm}, {1, 28, 28}},
  };
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const auto& [chain, shape] = cases[ci];
    const Compose fused = make(chain);
    for (int64_t i = 0; i < 40; ++i) {
      std::vector<float> v(static_cast<size_t>(shape.numel()));
      tg::Generator pix(uint64_t(ci * 1000 + size_t(i)));
      for (float& p : v) p = float(int(pix.next_double() * 256)) / 255.0f;
      const tg::Tensor x = tg::tensor(v, shape);
      tg::Generator g1 = sample_generator(5, int64_t(ci), i), g2 = sample_generator(5, int64_t(ci), i);
      const std::vector<float> a = fused(x, g1).to_vector<float>();
      tg::Tensor y = x;
      for (const Transform* t : chain) y = (*t)(y, g2);
      const std::vector<float> b = y.to_vector<float>();
      REQUIRE(a.size() == b.size());
      CHECK_MESSAGE(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0, "case ", ci, " index ", i);
      CHECK(g1.next_double() == g2.next_double());  // the same number of draws
    }
  }
  // Normalize's channel check still fires inside a fused run
  const Compose bad = make({&tr, &rot, &nm3});
  tg::Generator g(0);
  CHECK_THROWS_WITH_AS(bad(tg::zeros({2, 8, 8}), g), doctest::Contains("3 means/stds need a sample [C, H, W] with C = 3, got shape [2,"),
                       tg::Error);
}
