// Tensor core edge cases found by review (session 10), each a clear error or
// the value PyTorch gives: scatter_add's index reaching past the input,
// shapes whose element count overflows int64, 0-d tensors asked for a size or
// indexed, copy_ from an overlapping view, int64 tensors with fractional
// scalars, and arange's int64 default with a fractional step.
#include "../common/test_util.h"

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

TEST_CASE("int64 tensors: a fractional scalar is an error (it was truncated); arange needs whole numbers for int64") {
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

TEST_CASE("in place into an expanded (stride-0) tensor is an error; empty tensors are contiguous") {
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
