// The strided copy (raw::copy_, behind contiguous(), clone(), to() and
// copy_()) in its tiled form: when the output walks one dim with stride 1 and
// the source another (x.t().contiguous(), a permuted 4-D tensor, a write into
// a transposed view), it copies in tiles of the two dims. Every case compares
// the result element by element, in every dtype pair, with a plain reference
// that reads the source through its own strides: odd shapes, batched
// transposes, all permutations of a 4-D tensor, sliced and offset sources,
// expanded (0-stride) sources, transposed and sliced targets, negative strides
// (only make_view makes them), empty and 0-d tensors, and 1 vs 2 threads.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "../common/test_util.h"

using tg::Tensor;

namespace {

const tg::DType kDTypes[] = {tg::kFloat32, tg::kFloat64, tg::kInt64};

// Element at multi-index idx (row-major position k) of x, through x's strides.
template <class T>
double element(const Tensor& x, const std::vector<int64_t>& idx) {
  int64_t off = 0;
  for (int d = 0; d < x.dim(); ++d) off += idx[d] * x.strides()[d];
  return double(x.raw_ptr<T>()[off]);
}
double element(const Tensor& x, const std::vector<int64_t>& idx) {
  if (x.dtype() == tg::kFloat32) return element<float>(x, idx);
  if (x.dtype() == tg::kFloat64) return element<double>(x, idx);
  return element<int64_t>(x, idx);
}

// All values of x in row-major order, read through its strides (never through
// contiguous(), which is the copy under test).
std::vector<double> ref_values(const Tensor& x) {
  std::vector<double> out;
  const int64_t n = x.numel();
  std::vector<int64_t> idx(x.dim(), 0);
  for (int64_t k = 0; k < n; ++k) {
    out.push_back(element(x, idx));
    for (int d = x.dim() - 1; d >= 0; --d) {
      if (++idx[d] < x.shape()[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

// Distinct values -n/3, -n/3 + 1, ... (exact in every dtype), shaped.
Tensor distinct(const tg::Shape& shape, tg::DType dtype) {
  const int64_t n = shape.numel();
  return tg::arange(double(-(n / 3)), double(n - n / 3), 1.0, {.dtype = dtype}).reshape(shape);
}

// y = x converted to dtype through the copy: contiguous() for the same dtype,
// to() for another; y must be a fresh contiguous tensor with x's values.
void check_copy_of(const Tensor& x, tg::DType dtype) {
  CAPTURE(x.shape());
  CAPTURE(x.strides());
  CAPTURE(x.dtype());
  CAPTURE(dtype);
  const Tensor y = x.dtype() == dtype ? x.contiguous() : x.to(dtype);
  REQUIRE(y.is_contiguous());
  REQUIRE(y.shape() == x.shape());
  REQUIRE(y.dtype() == dtype);
  CHECK(ref_values(y) == ref_values(x));
}

void check_all_dtypes(const Tensor& x) {
  for (tg::DType d : kDTypes) check_copy_of(x, d);
}

}  // namespace

TEST_CASE("copy_tiled: t().contiguous() and t().to() of odd 2-D shapes, every dtype pair") {
  const std::vector<std::pair<int64_t, int64_t>> shapes = {
      {1, 1}, {1, 7}, {7, 1}, {2, 3}, {31, 33}, {32, 32}, {33, 65}, {64, 64}, {64, 784}, {100, 37}, {257, 130}};
  for (auto [m, n] : shapes)
    for (tg::DType s : kDTypes) check_all_dtypes(distinct({m, n}, s).t());
}

TEST_CASE("copy_tiled: batched transposes and every permutation of a 4-D tensor") {
  for (tg::DType s : kDTypes) {
    check_all_dtypes(distinct({4, 70, 45}, s).transpose(1, 2));
    check_all_dtypes(distinct({70, 4, 45}, s).transpose(0, 2));
    check_all_dtypes(distinct({3, 40, 5, 33}, s).transpose(1, 3));
  }
  for (const tg::Shape& shape : {tg::Shape{3, 5, 7, 11}, tg::Shape{2, 33, 3, 40}, tg::Shape{2, 3, 1, 37}}) {
    std::vector<int64_t> p = {0, 1, 2, 3};
    do {
      const tg::Shape perm{p[0], p[1], p[2], p[3]};
      CAPTURE(perm);
      check_copy_of(distinct(shape, tg::kFloat32).permute(perm), tg::kFloat32);
      check_copy_of(distinct(shape, tg::kInt64).permute(perm), tg::kFloat64);
    } while (std::next_permutation(p.begin(), p.end()));
  }
}

TEST_CASE("copy_tiled: sliced, stepped and offset sources") {
  for (tg::DType s : kDTypes) {
    const Tensor base = distinct({70, 90}, s);
    check_all_dtypes(base.slice(0, 3, 68, 2).slice(1, 5, 88, 3).t());  // strides [3, 180]
    check_all_dtypes(base.narrow(0, 1, 66).narrow(1, 7, 40).t());      // offset 97
    check_all_dtypes(base.slice(1, 1, 90, 2).t());                     // the source's dense dim has stride 2
    const Tensor b4 = distinct({5, 9, 12, 34}, s);
    check_all_dtypes(b4.slice(1, 2, 9, 3).narrow(3, 1, 31).permute({0, 3, 2, 1}));
  }
}

TEST_CASE("copy_tiled: expanded (0-stride) sources") {
  for (tg::DType s : kDTypes) {
    check_all_dtypes(distinct({1, 50}, s).expand({40, 50}).t());                           // [50, 40], strides [1, 0]
    check_all_dtypes(distinct({30, 1, 40}, s).expand({30, 25, 40}).permute({2, 1, 0}));  // the 0-stride dim is outer
    check_all_dtypes(distinct({30, 40, 1}, s).expand({30, 40, 9}).permute({1, 2, 0}));
    check_all_dtypes(distinct({1, 40, 33}, s).expand({6, 40, 33}).transpose(1, 2));
  }
}

TEST_CASE("copy_tiled: copy_ into transposed and sliced targets, with broadcasting and conversion") {
  for (tg::DType ds : kDTypes)
    for (tg::DType ss : kDTypes) {
      CAPTURE(ds);
      CAPTURE(ss);
      // y.t().copy_(x): the target walks the row with stride 60, the source with 1
      Tensor y = tg::full({45, 60}, 7.0, {.dtype = ds});
      const Tensor x = distinct({60, 45}, ss);
      y.t().copy_(x);
      CHECK(ref_values(y.t()) == ref_values(x));
      // into a stepped window of a bigger tensor: the rest stays untouched
      Tensor big = tg::full({50, 130}, 7.0, {.dtype = ds});
      Tensor win = big.slice(0, 3, 48, 1).slice(1, 1, 121, 2).t();  // [60, 45], strides [2, 130]
      win.copy_(x);
      CHECK(ref_values(win) == ref_values(x));
      std::vector<double> want = ref_values(big);
      int64_t touched = 0;
      for (int64_t i = 0; i < 50; ++i)
        for (int64_t j = 0; j < 130; ++j) {
          const bool in = i >= 3 && i < 48 && j >= 1 && j < 121 && (j - 1) % 2 == 0;
          if (in) ++touched;
          else CHECK(want[i * 130 + j] == 7.0);
        }
      CHECK(touched == 60 * 45);
      // a broadcast source into a transposed target
      Tensor z = tg::full({45, 60}, 7.0, {.dtype = ds});
      const Tensor row = distinct({45}, ss);
      z.t().copy_(row);  // z.t()[i, j] = row[j]
      CHECK(ref_values(z.t()) == ref_values(row.expand({60, 45})));
    }
}

TEST_CASE("copy_tiled: a copy onto its own transpose reads a copy") {
  for (tg::DType s : kDTypes) {
    Tensor x = distinct({37, 37}, s);
    const std::vector<double> want = ref_values(distinct({37, 37}, s).t());
    x.copy_(x.t());
    CHECK(ref_values(x) == want);
  }
}

TEST_CASE("copy_tiled: negative strides (a raw make_view)") {
  for (tg::DType s : kDTypes) {
    const Tensor base = distinct({40 * 70}, s);
    // v[i, j] = base[2799 - i - 40 * j]: a reversed transpose
    const Tensor v = tg::make_view(base, {40, 70}, {-1, -40}, 40 * 70 - 1);
    check_all_dtypes(v);
    const Tensor w = tg::make_view(base, {40, 70}, {-70, 1}, 39 * 70);  // rows reversed, then transposed
    check_all_dtypes(w.t());
  }
}

TEST_CASE("copy_tiled: empty and 0-d tensors") {
  for (tg::DType s : kDTypes) {
    for (const tg::Shape& shape : {tg::Shape{0, 5}, tg::Shape{5, 0}, tg::Shape{3, 0, 4}, tg::Shape{0, 0}}) {
      const Tensor x = tg::zeros(shape, {.dtype = s});
      for (tg::DType d : kDTypes) {
        const Tensor y = x.dim() == 2 ? x.t() : x.permute({2, 1, 0});
        const Tensor c = y.dtype() == d ? y.contiguous() : y.to(d);
        CHECK(c.numel() == 0);
        CHECK(c.shape() == y.shape());
      }
    }
    const Tensor z = tg::full({}, 3.0, {.dtype = s});
    for (tg::DType d : kDTypes) {
      check_copy_of(z, d);
      CHECK(element(z.clone(), {}) == 3.0);
    }
  }
}

TEST_CASE("copy_tiled: 1 and 2 threads give the reference, tiles split across threads") {
  tgtest::ThreadsGuard guard;
  const Tensor a = distinct({2000, 300}, tg::kFloat32);
  const Tensor b = distinct({8, 64, 28, 30}, tg::kFloat64);
  const std::vector<double> want_a = ref_values(a.t()), want_b = ref_values(b.permute({0, 2, 3, 1}));
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    tg::set_num_threads(threads);
    CHECK(ref_values(a.t().contiguous()) == want_a);
    CHECK(ref_values(a.t().to(tg::kFloat64)) == want_a);
    CHECK(ref_values(b.permute({0, 2, 3, 1}).contiguous()) == want_b);
    CHECK(ref_values(b.permute({0, 2, 3, 1}).to(tg::kInt64)) == want_b);
    Tensor y = tg::zeros({300, 2000});
    y.t().copy_(distinct({2000, 300}, tg::kInt64));
    CHECK(ref_values(y) == want_a);  // y[j, i] = a[i, j]
  }
}

TEST_CASE("copy_tiled: an elementwise op with a transposed operand") {
  const Tensor a = distinct({90, 70}, tg::kFloat64), b = distinct({70, 90}, tg::kFloat64);
  const std::vector<double> va = ref_values(a), vb = ref_values(b.t());
  std::vector<double> want(va.size());
  for (size_t i = 0; i < va.size(); ++i) want[i] = va[i] + vb[i];
  CHECK(ref_values(a + b.t()) == want);
  CHECK(ref_values(b.t() + a) == want);
}
