// Transform edge cases found by the session-13 review of data/, each against
// what torchvision does or a clear error: a user's subclass of a fusable
// transform inside Compose, RandomErasing with huge or infinite ratios,
// Normalize's message for a batch, and rotation by a non-finite angle.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "data/transforms.h"

using namespace tg::data;

namespace {
// A user's Normalize that also clamps to [-1, 1].
class ClampedNormalize : public Normalize {
 public:
  using Normalize::Normalize;
  void apply(float* x, const tg::Shape& shape, tg::Generator& gen) const override {
    Normalize::apply(x, shape, gen);
    for (int64_t k = 0; k < shape.numel(); ++k) x[k] = std::clamp(x[k], -1.0f, 1.0f);
  }
};
}  // namespace

TEST_CASE("Compose: a subclass of a fusable transform keeps its own apply (the fused step skipped it)") {
  const Compose c({std::make_shared<RandomRotation>(15.0, Interpolation::Bilinear),
                   std::make_shared<ClampedNormalize>(std::vector<float>{0.1f}, std::vector<float>{0.1f})});
  tg::Generator g(3);
  const tg::Tensor x = tg::rand({1, 28, 28}, g);
  for (int k = 0; k < 5; ++k) {
    const auto y = c(x, g).to_vector<float>();
    CHECK(*std::max_element(y.begin(), y.end()) == 1.0f);  // was up to 9 (= (1 - 0.1) / 0.1)
    CHECK(*std::min_element(y.begin(), y.end()) >= -1.0f);
  }
}

TEST_CASE("RandomErasing: an infinite ratio is refused, a huge finite one erases nothing (lround overflowed)") {
  CHECK_THROWS_WITH_AS(RandomErasing({.p = 1.0, .ratio = {0.3, INFINITY}}),
                       "RandomErasing: ratio must satisfy 0 < ratio[0] <= ratio[1] < inf, got {0.3, inf}", tg::Error);
  const RandomErasing e({.p = 1.0, .ratio = {1e40, 1e41}, .value = 7.0f});
  tg::Generator g(1);
  const tg::Tensor x = tg::ones({1, 8, 8});
  for (int k = 0; k < 20; ++k) CHECK(e(x, g).to_vector<float>() == x.to_vector<float>());  // as torchvision: no fit
}

TEST_CASE("Normalize: per-channel means on a batch or a 2-D image say what shape they need") {
  const Normalize n({0.1f, 0.2f, 0.3f}, {1.f, 1.f, 1.f});
  tg::Generator g(0);
  CHECK_THROWS_WITH_AS(n(tg::zeros({2, 3, 4, 4}), g),
                       "Normalize: 3 means/stds need a sample [C, H, W] with C = 3, got shape [2,3,4,4] (a batch? "
                       "transforms apply to one sample)", tg::Error);
  CHECK_THROWS_WITH_AS(n(tg::zeros({3, 4}), g),
                       "Normalize: 3 means/stds need a sample [C, H, W] with C = 3, got shape [3,4]", tg::Error);
  CHECK(n(tg::ones({3, 1, 1}), g).to_vector<float>() == std::vector<float>{0.9f, 0.8f, 0.7f});
}

TEST_CASE("rotate: a non-finite angle is an error (it returned an image of fill)") {
  const tg::Tensor x = tg::ones({1, 5, 5});
  for (double a : {double(NAN), double(INFINITY)})
    for (Interpolation i : {Interpolation::Nearest, Interpolation::Bilinear})
      CHECK_THROWS_WITH_AS(rotate(x, a, i), doctest::Contains("rotate: the angle must be finite, got "), tg::Error);
  CHECK(rotate(x, 0.0, Interpolation::Bilinear).to_vector<float>() == x.to_vector<float>());
}
