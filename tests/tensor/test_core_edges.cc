// Tensor core edge cases found by review (session 10), each a clear error or
// the value PyTorch gives: scatter_add's index reaching past the input,
// shapes whose element count overflows int64, 0-d tensors asked for a size or
// indexed, copy_ from an overlapping view, int64 tensors with fractional
// scalars, and arange's int64 default with a fractional step. Session 11:
// log_softmax/logsumexp precision and infinities, long sums, int64 clamp/pow/
// div, gradients of div/maximum/max with NaN, linear with 0 features, ceil pooling.
#include <algorithm>
#include <cstdint>
#include <thread>

#include "../common/test_util.h"
#include "tensor/storage.h"

using tg::Tensor;

TEST_CASE("scatter_add: an index larger than the input outside dim is an error (it wrote past the output)") {
  const Tensor x = tg::zeros({2, 3});
  const Tensor idx = tg::zeros({100, 3}, {.dtype = tg::kInt64});
  CHECK_THROWS_WITH_AS(tg::scatter_add(x, 1, idx, tg::ones({100, 3})),
                       doctest::Contains("scatter_add: index shape [100,3] exceeds input shape [2,3] at dim 0"),
                       tg::Error);
  // within bounds: sums into the indexed columns
  const Tensor i2 = tg::tensor(std::vector<int64_t>{0, 2, 2, 1}, {2, 2});
  const Tensor y = tg::scatter_add(x, 1, i2, tg::ones({2, 2}));
  CHECK(y.to_vector<float>() == std::vector<float>{1, 0, 1, 0, 1, 1});
}

TEST_CASE("shapes: an element count past int64 is an error, not a tiny buffer") {
  const int64_t big = int64_t(1) << 62;
  CHECK_THROWS_WITH_AS(tg::zeros({big, 4}), doctest::Contains("has too many elements"), tg::Error);
  CHECK_THROWS_WITH_AS(tg::empty({INT64_MAX, 2}), doctest::Contains("has too many elements"), tg::Error);
  CHECK_THROWS_WITH_AS(tg::zeros({0}).reshape({big, 4, 0}), doctest::Contains("too many elements"), tg::Error);
  CHECK_THROWS_WITH_AS(tg::ones({1}).expand({big, 4}), doctest::Contains("expand: shape"), tg::Error);
  CHECK_THROWS_WITH_AS(tg::ones({1}).expand({-2}), doctest::Contains("expand: size -2 is invalid"), tg::Error);
  CHECK(tg::zeros({0, 5}).reshape({5, 0}).numel() == 0);  // empty shapes are fine
}

TEST_CASE("0-d tensors: no size(0), and gather/scatter_add see one element") {
  const Tensor x = tg::arange(0, 100, 1, {.dtype = tg::kFloat32}).select(0, 99);  // 0-d, value 99
  REQUIRE(x.dim() == 0);
  CHECK_THROWS_WITH_AS(x.size(0), doctest::Contains("a 0-d tensor has no dimensions"), tg::Error);
  CHECK_THROWS_WITH_AS(x.stride(0), doctest::Contains("a 0-d tensor has no dimensions"), tg::Error);
  // it read 99 elements past x
  CHECK_THROWS_WITH_AS(tg::gather(x, 0, tg::scalar_tensor(99, tg::kInt64)),
                       doctest::Contains("index 99 is out of range for dim 0 of size 1"), tg::Error);
  CHECK(tg::gather(x, 0, tg::scalar_tensor(0, tg::kInt64)).item<float>() == 99.0f);
  CHECK_THROWS_WITH_AS(tg::scatter_add(x, 0, tg::scalar_tensor(50, tg::kInt64), tg::scalar_tensor(1.0)),
                       doctest::Contains("index 50 is out of range"), tg::Error);
  CHECK(tg::scatter_add(x, 0, tg::scalar_tensor(0, tg::kInt64), tg::scalar_tensor(1.0)).item<float>() == 100.0f);
}

TEST_CASE("copy_ from a view of the same storage reads the values before the copy") {
  Tensor x = tg::arange(0, 9, 1, {.dtype = tg::kFloat32}).reshape({3, 3}).contiguous();
  x.copy_(x.t());  // was [0 3 6; 3 4 7; 6 7 8]
  CHECK(x.to_vector<float>() == std::vector<float>{0, 3, 6, 1, 4, 7, 2, 5, 8});
  Tensor v = tg::arange(0, 10, 1, {.dtype = tg::kFloat32});
  v.slice(0, 1, 10).copy_(v.slice(0, 0, 9));  // overlapping ranges (memcpy's undefined case)
  CHECK(v.to_vector<float>() == std::vector<float>{0, 0, 1, 2, 3, 4, 5, 6, 7, 8});
  v.copy_(v);  // onto itself: unchanged
  CHECK(v.to_vector<float>() == std::vector<float>{0, 0, 1, 2, 3, 4, 5, 6, 7, 8});
}

TEST_CASE("int64 tensors: a fractional scalar is an error (it was truncated), arange needs whole numbers for int64") {
  const Tensor a = tg::arange(4);
  CHECK_THROWS_WITH_AS(tg::lt(a, 2.5), doctest::Contains("the scalar 2.5, which is not a whole number"), tg::Error);
  CHECK_THROWS_WITH_AS(a * 2.5, doctest::Contains("not a whole number"), tg::Error);
  CHECK_THROWS_WITH_AS(a / 0.5, doctest::Contains("not a whole number"), tg::Error);
  CHECK((a * 2.0).to_vector<int64_t>() == std::vector<int64_t>{0, 2, 4, 6});  // whole numbers stay exact
  CHECK(tg::lt(a, 2.0).to_vector<int64_t>() == std::vector<int64_t>{1, 1, 0, 0});
  CHECK((a.to(tg::kFloat32) * 2.5).to_vector<float>() == std::vector<float>{0, 2.5f, 5, 7.5f});
  CHECK_THROWS_WITH_AS(tg::arange(0, 1, 0.25), doctest::Contains("are not all whole numbers"), tg::Error);
  CHECK(tg::arange(0, 1, 0.25, {.dtype = tg::kFloat32}).to_vector<float>() ==
        std::vector<float>{0, 0.25f, 0.5f, 0.75f});
}

TEST_CASE("in place into an expanded (stride-0) tensor is an error, empty tensors are contiguous") {
  Tensor b = tg::tensor({1.0f, 2.0f, 3.0f}, {1, 3});
  Tensor e = b.expand({4, 3});
  // was: b = 4 (each element added four times)
  CHECK_THROWS_WITH_AS(e.add_(tg::ones({4, 3})), doctest::Contains("the in-place target is expanded"), tg::Error);
  CHECK_THROWS_WITH_AS(e.mul_(2.0), doctest::Contains("one element would be written 4 times"), tg::Error);
  CHECK_THROWS_WITH_AS(e.copy_(tg::zeros({4, 3})), doctest::Contains("copy_: the in-place target is expanded"),
                       tg::Error);
  CHECK(b.to_vector<float>() == std::vector<float>{1, 2, 3});
  Tensor one = tg::tensor({5.0f}).expand({1, 1});  // stride 0 on a size-1 dim: one write each, allowed
  one.add_(1.0);
  CHECK(one.item<float>() == 6.0f);
  // a fresh empty tensor is contiguous (contiguous().data_ptr() threw)
  const Tensor z = tg::zeros({2, 0, 3});
  CHECK(z.is_contiguous());
  CHECK_NOTHROW((void)z.contiguous().data_ptr<float>());
}

TEST_CASE("matmul and linear with an inner size of 0 give zeros (plus the bias), as PyTorch") {
  const Tensor y = tg::matmul(tg::ones({2, 3, 0}), tg::ones({0, 4}));  // threw: reshape [-1, 0]
  CHECK(y.shape() == tg::Shape{2, 3, 4});
  CHECK(y.to_vector<float>() == std::vector<float>(24, 0.0f));
  const Tensor z = tg::linear(tg::ones({5, 0}), tg::ones({3, 0}), tg::tensor({1.0f, 2.0f, 3.0f}));
  CHECK(z.shape() == tg::Shape{5, 3});
  CHECK(z.to_vector<float>()[4] == 2.0f);
}

// ---- session 11 review: each check fails on the code before its fix ----

TEST_CASE("log_softmax keeps (x - max) exact, logsumexp with infinite or empty inputs (as PyTorch)") {
  // x - (max + log s) rounded log 2 away next to 1e8: [0, 0] and a gradient of [-1, -1]
  Tensor x = tg::tensor(std::vector<float>{1e8f, 1e8f}, {2}, true);
  Tensor y = tg::log_softmax(x, 0);
  CHECK(y.to_vector<float>() == std::vector<float>(2, -std::log(2.0f)));
  y.sum().backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>{0.0f, 0.0f});
  // logsumexp: an infinite maximum made m * [|m| < inf] = inf * 0 = NaN
  CHECK(tg::logsumexp(tg::tensor({-INFINITY, -INFINITY}), {0}).item<float>() == -INFINITY);
  CHECK(tg::logsumexp(tg::tensor({INFINITY, 1.0f}), {0}).item<float>() == INFINITY);
  CHECK(tg::logsumexp(tg::tensor({-INFINITY, 0.0f}), {0}).item<float>() == 0.0f);
  // an empty dim is log 0 = -inf (it threw from amax)
  const Tensor e = tg::logsumexp(tg::zeros({0, 3}), {0});
  CHECK(e.shape() == tg::Shape{3});
  CHECK(e.to_vector<float>() == std::vector<float>(3, -INFINITY));
}

TEST_CASE("sum over a long leading dim stays accurate (rows were added one after another)") {
  // [n, 1] summed over dim 0: a running float sum of 2^22 values of 0.1f
  // drifted by ~1% (20,000,000 ones gave 16,777,216)
  const int64_t n = int64_t(1) << 22;
  const double exact = double(0.1f) * double(n);
  const Tensor s = tg::sum(tg::full({n, 1}, 0.1), {0});
  CHECK(std::abs(double(s.item<float>()) - exact) <= 1e-5 * exact);
  const Tensor m = tg::mean(tg::full({n, 2}, 0.1), {0});
  CHECK(std::abs(double(m.to_vector<float>()[1]) - double(0.1f)) <= 1e-6);
  // the same bits for 1 and 2 threads (the order depends on n only)
  const Tensor r = tg::randn({100003, 3});
  tg::set_num_threads(1);
  const auto one = tg::sum(r, {0}).to_vector<float>();
  tg::set_num_threads(2);
  CHECK(tg::sum(r, {0}).to_vector<float>() == one);
  // and against float64
  const auto ref = tg::sum(r.to(tg::kFloat64), {0}).to_vector<double>();
  for (int i = 0; i < 3; ++i) CHECK(std::abs(one[size_t(i)] - ref[size_t(i)]) < 1e-2);
}

TEST_CASE("int64: clamp bounds saturate or must be whole, pow is exact, INT64_MIN / -1 wraps, huge scalars are errors") {
  const Tensor i = tg::tensor(std::vector<int64_t>{-3, 0, 1, 5}, {4});
  // clamp_min's +inf upper bound converted to INT64_MIN (undefined behaviour)
  CHECK(tg::clamp_min(i, 2).to_vector<int64_t>() == std::vector<int64_t>{2, 2, 2, 5});
  CHECK(tg::clamp_max(i, 0).to_vector<int64_t>() == std::vector<int64_t>{-3, 0, 0, 0});
  CHECK_THROWS_WITH_AS(tg::clamp(i, 0.5, 2.5), doctest::Contains("the bound 0.5, which is not a whole number"), tg::Error);
  // pow went through llround(std::pow(double)): 3^39 was off by 11, 2^-1 was 1, 0^-1 was INT64_MIN
  const Tensor b = tg::tensor(std::vector<int64_t>{3, 2, 0, 1, -1, -1, -2}, {7});
  const Tensor e = tg::tensor(std::vector<int64_t>{39, -1, -1, -5, -3, -4, 5}, {7});
  CHECK(tg::pow(b, e).to_vector<int64_t>() == std::vector<int64_t>{4052555153018976267, 0, 0, 1, -1, 1, -32});
  // INT64_MIN / -1 trapped (SIGFPE)
  const Tensor q = tg::div(tg::tensor(std::vector<int64_t>{INT64_MIN, 7}, {2}), tg::tensor(std::vector<int64_t>{-1, -1}, {2}));
  CHECK(q.to_vector<int64_t>() == std::vector<int64_t>{INT64_MIN, -7});
  // 1e19 passed the whole-number check and converted to INT64_MIN
  CHECK_THROWS_WITH_AS(tg::mul(i, 1e19), doctest::Contains("outside the int64 range"), tg::Error);
  CHECK_THROWS_WITH_AS(tg::add(i, INFINITY), doctest::Contains("outside the int64 range"), tg::Error);
  CHECK_THROWS_WITH_AS(tg::var(i, {0}), doctest::Contains("var: expected a floating-point tensor"), tg::Error);
}

TEST_CASE("gradients: a / b at large and tiny b, maximum/minimum and max(x) with NaN (as PyTorch)") {
  // db = -dy * (a / b) / b: a / b² overflowed or underflowed
  for (float v : {1e20f, 1e-25f}) {
    Tensor a = tg::tensor({v}).requires_grad_(), b = tg::tensor({v}).requires_grad_();
    tg::div(a, b).sum().backward();
    // db * b = -1 (was -0 * 1e20 = 0 and -inf)
    CHECK(double(b.grad().item<float>()) * double(v) == doctest::Approx(-1.0).epsilon(1e-6));
  }
  const float nan = NAN;
  Tensor a = tg::tensor({nan, 1.0f, 2.0f, 3.0f}).requires_grad_(), b = tg::tensor({1.0f, nan, 2.0f, 1.0f}).requires_grad_();
  Tensor y = tg::maximum(a, b);
  const auto yv = y.to_vector<float>();
  CHECK((std::isnan(yv[0]) && std::isnan(yv[1]) && yv[2] == 2.0f && yv[3] == 3.0f));  // maximum(1, NaN) was 1
  y.sum().backward();
  CHECK(a.grad().to_vector<float>() == std::vector<float>{1.0f, 1.0f, 0.5f, 1.0f});
  CHECK(b.grad().to_vector<float>() == std::vector<float>{1.0f, 1.0f, 0.5f, 0.0f});
  a.set_grad(Tensor());
  b.set_grad(Tensor());
  tg::minimum(a, b).sum().backward();
  CHECK(a.grad().to_vector<float>() == std::vector<float>{1.0f, 1.0f, 0.5f, 0.0f});
  CHECK(b.grad().to_vector<float>() == std::vector<float>{1.0f, 1.0f, 0.5f, 1.0f});
  // max(x) over all elements: the gradient goes to the NaN positions (was NaN everywhere)
  Tensor x = tg::tensor({1.0f, nan, nan}).requires_grad_();
  tg::max(x).backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>{0.0f, 0.5f, 0.5f});
}

TEST_CASE("linear backward with 0 input or output features, ceil-mode pooling with the input smaller than the kernel") {
  // reshape(dy, {-1, 0}) in the backward threw
  Tensor x = tg::ones({3, 0}).requires_grad_(), w = tg::ones({4, 0}).requires_grad_(), bias = tg::ones({4}).requires_grad_();
  tg::linear(x, w, bias).sum().backward();
  CHECK(x.grad().shape() == tg::Shape{3, 0});
  CHECK(w.grad().shape() == tg::Shape{4, 0});
  CHECK(bias.grad().to_vector<float>() == std::vector<float>(4, 3.0f));
  Tensor x2 = tg::ones({3, 5}).requires_grad_(), w2 = tg::ones({0, 5}).requires_grad_();
  tg::linear(x2, w2, Tensor()).sum().backward();
  CHECK(x2.grad().to_vector<float>() == std::vector<float>(15, 0.0f));
  CHECK(w2.grad().shape() == tg::Shape{0, 5});
  // PyTorch: one window per pair of columns, the height-1 input inside a 2-high window
  Tensor p = tg::arange(0, 6, 1, {.dtype = tg::kFloat32}).reshape({1, 1, 1, 6}).requires_grad_();
  Tensor mp = tg::F::max_pool2d(p, {.kernel = 2, .stride = 2, .ceil_mode = true});
  CHECK(mp.to_vector<float>() == std::vector<float>{1, 3, 5});
  mp.sum().backward();
  CHECK(p.grad().to_vector<float>() == std::vector<float>{0, 1, 0, 1, 0, 1});
  p.set_grad(Tensor());
  Tensor ap = tg::F::avg_pool2d(p, {.kernel = 2, .stride = 2, .ceil_mode = true});
  CHECK(ap.to_vector<float>() == std::vector<float>{0.5f, 2.5f, 4.5f});
  tg::mul(ap, tg::tensor({1.0f, 2.0f, 3.0f}).reshape({1, 1, 1, 3})).sum().backward();
  CHECK(p.grad().to_vector<float>() == std::vector<float>{0.5f, 0.5f, 1.0f, 1.0f, 1.5f, 1.5f});
  // kernel (4, 6), padding (1, 0) on 3x5: PyTorch gives [2, 1] = 14, 14
  const Tensor q = tg::F::max_pool2d(tg::arange(0, 15, 1, {.dtype = tg::kFloat32}).reshape({1, 1, 3, 5}),
                                     {.kernel = {4, 6}, .stride = 3, .padding = {1, 0}, .ceil_mode = true});
  CHECK(q.shape() == tg::Shape{1, 1, 2, 1});
  CHECK(q.to_vector<float>() == std::vector<float>{14, 14});
}

TEST_CASE("random: randint over ranges past 2^63, the default generator from two threads, uniform needs a finite range") {
  // high - low overflowed: every draw of [INT64_MIN, 5) was >= 5
  tg::Generator g(3);
  int64_t above = 0;
  for (int i = 0; i < 1000; ++i) above += g.randint(INT64_MIN, 5) >= 5;
  CHECK(above == 0);
  const auto v = tg::randint(INT64_MIN, INT64_MAX, {1000}, g).to_vector<int64_t>();
  CHECK(*std::max_element(v.begin(), v.end()) > 0);  // both halves of the range
  CHECK(*std::min_element(v.begin(), v.end()) < 0);
  // two threads drawing from the default generator get disjoint counters
  // (it lost 2,447 of 400,000 reservations: both threads drew the same numbers)
  const uint64_t before = tg::default_generator().offset();
  auto draw = [] {
    for (int i = 0; i < 20000; ++i) (void)tg::rand({1}, {.dtype = tg::kFloat64});
  };
  std::thread t1(draw), t2(draw);
  t1.join();
  t2.join();
  CHECK(tg::default_generator().offset() - before == 40000);
  // ... also after a new state is assigned to it (the assignment used to copy
  // the plain generator's non-atomic flag over the default's)
  const tg::Generator saved = tg::default_generator();
  tg::default_generator() = tg::Generator(42);
  std::thread t3(draw), t4(draw);
  t3.join();
  t4.join();
  CHECK(tg::default_generator().offset() == 40000);
  tg::default_generator() = saved;
  CHECK_THROWS_WITH_AS(tg::uniform({2}, -INFINITY, INFINITY, g), doctest::Contains("is not finite"), tg::Error);
}

TEST_CASE("printing: int64 extremes exactly, width and notation from the elements shown (as PyTorch)") {
  const Tensor i = tg::tensor(std::vector<int64_t>{INT64_MAX, INT64_MIN, (int64_t(1) << 53) + 1, -1}, {4});
  const std::string s = tg::to_string(i);
  CAPTURE(s);  // went through double: 2^63 - 1 printed as -2^63, 2^53 + 1 as 2^53
  CHECK(s.find("[ 9223372036854775807, -9223372036854775808,     9007199254740993,                   -1]") !=
        std::string::npos);
  // a 1e9 among 10^6 elements but not shown: fixed notation, as PyTorch
  Tensor big = tg::full({1000000}, 0.5);
  big.data_ptr<float>()[500000] = 1e9f;
  const std::string b = tg::to_string(big);
  CAPTURE(b.substr(0, 80));
  CHECK(b.find("[0.5000, 0.5000, 0.5000, ..., 0.5000, 0.5000, 0.5000]") != std::string::npos);
}

TEST_CASE("storage: a size near SIZE_MAX is bad_alloc, not a 64-byte block") {
  size_t cap = 0;
  CHECK_THROWS_AS(tg::alloc_buffer(SIZE_MAX - 8, &cap), std::bad_alloc);
}

TEST_CASE("sums along rows longer than 16K, cross_entropy next to 1e8, int64 wrapping (session 11, second review)") {
  // a 2^24-element row was one kernel call of running sums: -2.5e-3 relative error
  const int64_t n = int64_t(1) << 24;
  const double exact = double(0.1f) * double(n);
  const auto rows = tg::sum(tg::full({2, n}, 0.1), {1}).to_vector<float>();
  for (float r : rows) CHECK(std::abs(double(r) - exact) <= 1e-5 * exact);
  // the fused cross_entropy rounded m + log s first, as log_softmax did: 0 instead of log 2
  const Tensor ce = tg::F::cross_entropy(tg::tensor({1e8f, 1e8f}, {1, 2}), tg::tensor(std::vector<int64_t>{0}, {1}));
  CHECK(ce.item<float>() == doctest::Approx(std::log(2.0)).epsilon(1e-6));
  // int64 overflow wraps as in PyTorch (it was undefined behaviour)
  const Tensor m = tg::tensor(std::vector<int64_t>{INT64_MIN, INT64_MAX}, {2});
  CHECK(tg::neg(m).to_vector<int64_t>() == std::vector<int64_t>{INT64_MIN, -INT64_MAX});
  CHECK(tg::add(m, m).to_vector<int64_t>() == std::vector<int64_t>{0, -2});
  // sums over a leading dim and in chunks wrap too (UBSan: signed overflow)
  const Tensor s2 = tg::tensor(std::vector<int64_t>{INT64_MAX, INT64_MAX, 1, 2}, {2, 2});
  CHECK(tg::sum(s2, {0}).to_vector<int64_t>() == std::vector<int64_t>{INT64_MIN, INT64_MIN + 1});
  std::vector<int64_t> longrow(32768, 0);
  longrow[0] = longrow[16384] = INT64_MAX;
  CHECK(tg::sum(tg::tensor(longrow, {32768})).item<int64_t>() == -2);
}
