// Edge cases found by the session-13 review of elementwise ops, reductions and
// GEMM-backed layers, each against the value or error PyTorch 1.13 gives:
// int64 division by zero, rdiv's gradient for large operands, clamp and NaN,
// logsumexp of an integer tensor, matmul's batch-dims message, and
// linear_relu's bias gradient over many rows.
#include <cmath>
#include <cstdint>
#include <limits>

#include "../common/test_util.h"
#include "tensor/raw.h"

using tg::Tensor;

TEST_CASE("int64 division by zero is an error in every form (it gave 0)") {
  const Tensor a = tg::tensor(std::vector<int64_t>{7, -7, 0});
  const Tensor z = tg::tensor(std::vector<int64_t>{1, 0, 2});
  CHECK_THROWS_WITH_AS(tg::div(a, z), "div: integer division by zero (the int64 divisor [3] is 0 at flat index 1); "
                                      "convert to a floating type for inf/nan", tg::Error);
  CHECK_THROWS_WITH_AS(a / 0.0, doctest::Contains("integer division by zero (an int64 tensor divided by the scalar 0)"),
                       tg::Error);
  CHECK_THROWS_WITH_AS(5.0 / z, doctest::Contains("rdiv: integer division by zero"), tg::Error);
  CHECK_THROWS_WITH_AS(a.clone().div_(z), doctest::Contains("integer division by zero"), tg::Error);
  // a broadcast divisor is checked as given
  CHECK_THROWS_WITH_AS(tg::div(a, tg::zeros({1}, {.dtype = tg::kInt64})), doctest::Contains("at flat index 0"),
                       tg::Error);
  // nonzero divisors: truncation toward zero, as documented
  const Tensor d = tg::tensor(std::vector<int64_t>{2, 2, 5});
  CHECK(tg::div(a, d).to_vector<int64_t>() == std::vector<int64_t>{3, -3, 0});
  CHECK((a / 2.0).to_vector<int64_t>() == std::vector<int64_t>{3, -3, 0});
  // floats still give inf / nan
  const auto f = tg::div(a.to(tg::kFloat32), tg::zeros({3})).to_vector<float>();
  CHECK(f[0] == INFINITY);
  CHECK(f[1] == -INFINITY);
  CHECK(std::isnan(f[2]));
}

TEST_CASE("rdiv: the gradient of s / a is -s / a^2 without overflowing a^2 (it was -0 at a = 1e20)") {
  // PyTorch: (1e25 / a).backward() at a = 1e20 gives -1e-15 (float32 -9.99995e-16)
  Tensor a = tg::tensor({1e20f}).requires_grad_();
  const Tensor g = tg::autograd::grad({tg::rdiv(a, 1e25).sum()}, {a})[0];
  CHECK(g.item<float>() == doctest::Approx(-1e-15).epsilon(1e-5).scale(0));  // relative: was -0
  Tensor b = tg::tensor({1e160}).requires_grad_();
  CHECK(tg::autograd::grad({(1e200 / b).sum()}, {b})[0].item<double>() ==
        doctest::Approx(-1e-120).epsilon(1e-12).scale(0));
  // ordinary values, and the second derivative 2 s / a^3 through create_graph
  Tensor c = tg::tensor({2.0}).requires_grad_();
  const Tensor gc = tg::autograd::grad({(3.0 / c).sum()}, {c}, {.create_graph = true})[0];
  CHECK(gc.item<double>() == doctest::Approx(-0.75));
  CHECK(tg::autograd::grad({gc.sum()}, {c})[0].item<double>() == doctest::Approx(0.75));
}

TEST_CASE("clamp propagates NaN like PyTorch (clamp_max gave -inf) and refuses a NaN bound") {
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64}) {
    const Tensor x = tg::tensor({NAN, 2.0, -2.0}).to(dt);
    const auto m = tg::clamp_max(x, 1.0).to(tg::kFloat64).to_vector<double>();
    CHECK(std::isnan(m[0]));
    CHECK(m[1] == 1.0);
    CHECK(m[2] == -2.0);
    const auto c = tg::clamp(x, -1.0, 1.0).to(tg::kFloat64).to_vector<double>();
    CHECK(std::isnan(c[0]));
    CHECK(c[1] == 1.0);
    CHECK(c[2] == -1.0);
    CHECK(std::isnan(tg::clamp_min(x, 0.0).to(tg::kFloat64).to_vector<double>()[0]));
  }
  // every vector lane and the tail: a NaN at each position of 37 elements
  for (int k = 0; k < 37; ++k) {
    std::vector<float> v(37, 5.0f);
    v[size_t(k)] = NAN;
    const auto y = tg::clamp(tg::tensor(v), -1.0, 1.0).to_vector<float>();
    for (int i = 0; i < 37; ++i) {
      if (i == k) CHECK(std::isnan(y[size_t(i)]));
      else CHECK(y[size_t(i)] == 1.0f);
    }
  }
  const Tensor x = tg::tensor({-2.0f, 0.5f, 3.0f});
  CHECK_THROWS_WITH_AS(tg::clamp_min(x, NAN), "clamp: a bound is NaN (lo nan, hi inf)", tg::Error);
  CHECK_THROWS_WITH_AS(tg::clamp(x, NAN, 1.0), doctest::Contains("clamp: a bound is NaN"), tg::Error);
  CHECK_THROWS_WITH_AS(tg::clamp_max(x, NAN), doctest::Contains("clamp: a bound is NaN"), tg::Error);
}

TEST_CASE("logsumexp of an int64 tensor says what is wrong (it named a scalar inf the caller never passed)") {
  CHECK_THROWS_WITH_AS(tg::logsumexp(tg::arange(3), {0}), "logsumexp: expected a floating-point tensor, got int64",
                       tg::Error);
  CHECK_THROWS_WITH_AS(tg::arange(4) * 2.5, "mul: an int64 tensor and the scalar 2.5, which is not a whole number: "
                                            "convert the tensor with .to(kFloat32) first", tg::Error);
}

TEST_CASE("matmul: batch dims that do not broadcast are named as batch dims of the whole shapes") {
  CHECK_THROWS_WITH_AS(tg::matmul(tg::zeros({2, 3, 4}), tg::zeros({3, 4, 5})),
                       "matmul: the batch dims [2] of [2,3,4] and [3] of [3,4,5] cannot broadcast", tg::Error);
  CHECK(tg::matmul(tg::ones({2, 1, 3, 4}), tg::ones({5, 4, 2})).shape() == tg::Shape{2, 5, 3, 2});
}

TEST_CASE("linear_relu: the bias gradient over many rows is the composed one bit for bit (rows were summed in order)") {
  tgtest::ThreadsGuard guard;
  tg::Generator g(13);
  for (int64_t rows : {1, 255, 256, 257, 600, 1500}) {
    for (int64_t out : {1, 3, 20}) {
      CAPTURE(rows);
      CAPTURE(out);
      const Tensor x0 = tg::randn({rows, 7}, g), w0 = tg::randn({out, 7}, g), b0 = tg::randn({out}, g);
      const Tensor v = tg::randn({rows, out}, g);
      auto db = [&](bool fused) {
        Tensor x = x0.clone(), w = w0.clone().requires_grad_(), b = b0.clone().requires_grad_();
        Tensor y = fused ? tg::F::linear_relu(x, w, b) : tg::relu(tg::linear(x, w, b));
        return tg::autograd::grad({(y * v).sum()}, {b})[0].to_vector<float>();
      };
      for (int threads : {1, 2}) {
        tg::set_num_threads(threads);
        CHECK(db(true) == db(false));
      }
    }
  }
  // the failure the blocked sum fixes: 2^24 + 2^22 rows of dz = 1 add up exactly
  const int64_t n = (int64_t(1) << 24) + (int64_t(1) << 22);
  Tensor colsum;
  tg::raw::relu_backward(tg::ones({n, 1}), tg::ones({n, 1}), &colsum);
  CHECK(colsum.item<float>() == float(n));
}
