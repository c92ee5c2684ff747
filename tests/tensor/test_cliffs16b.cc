// Session 16's second pair of performance cliffs, against plain reference
// loops written here.
// conv2d with a horizontal stride > 1: when the taps overlap (KH·KW > sh·sw)
// im2col copies spans of the stride phases of the padded image and col2im
// sums each phase of dx with kernels::col2im_taps; otherwise (1x1, 2x2 at
// stride 2) the element loops remain. Forward, dx, dw and db are
// compared exactly with direct loops on values k/8 (every sum exact in any
// order) over odd shapes, padding larger than the kernel, dilation, groups,
// strides 2 to 5 (different along h and w), 1x1 images, strides past the
// image and kernels wider than the precomputed tap masks; dx with one output
// channel (dcol = w · dy, one product each) is compared bit for bit with the
// (kh, kw) order of the old col2im on random values; col2im_taps against its
// scalar twin on every Highway target, NaN wherever it must not look, and
// sentinels between the interleaved outputs; 1 vs 2 threads bit for bit.
// The strided copy (raw::copy_) of a source expanded along some dims (a fill
// for a stride-0 innermost dim with kernels::fill_rows, row copies for
// stride-0 outer dims, short rows in blocks): values against a reference
// that reads the source through its strides, with the expanded dims in every
// position of a 4-D shape, 0-size dims, 0-d sources, every dtype pair,
// non-contiguous targets, and 1 vs 2 threads; fill_rows against its twin on
// every target.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "tensor/conv.h"
#include "tensor/kernels/conv.h"
#include "tensor/kernels/copy.h"
#include "tensor/parallel.h"
#include "tests/common/conv_ref.h"
#include "tests/common/test_util.h"

namespace {

using tg::Conv2dGeometry;

Conv2dGeometry geo(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OC, int64_t KH, int64_t KW, int64_t sh,
                   int64_t sw, int64_t ph, int64_t pw, int64_t dh = 1, int64_t dw = 1, int64_t groups = 1) {
  Conv2dGeometry g{N, C, H, W, OC, KH, KW};
  g.stride_h = sh;
  g.stride_w = sw;
  g.pad_h = ph;
  g.pad_w = pw;
  g.dil_h = dh;
  g.dil_w = dw;
  g.groups = groups;
  return g;
}

// The strided geometries of these tests (every one has OH, OW >= 1).
std::vector<Conv2dGeometry> strided_geometries() {
  return {
      geo(2, 3, 32, 32, 8, 7, 7, 2, 2, 3, 3),     // ResNet's stem, small
      geo(1, 3, 17, 23, 5, 7, 7, 2, 2, 3, 3),     // odd sizes
      geo(3, 2, 13, 11, 3, 3, 3, 3, 3, 1, 1),     // stride 3
      geo(2, 2, 9, 10, 3, 3, 3, 2, 3, 5, 4),      // padding larger than the kernel
      geo(1, 1, 6, 7, 2, 2, 2, 2, 2, 4, 5),       // padding larger than the image
      geo(2, 2, 15, 16, 4, 3, 3, 2, 2, 2, 2, 2, 2),  // dilation 2
      geo(1, 2, 19, 21, 2, 3, 4, 3, 3, 3, 3, 3, 2),  // dilation 3 x 2, stride 3
      geo(2, 2, 14, 17, 3, 3, 5, 2, 2, 1, 2, 1, 4),  // dilation 4 with stride 2: one phase only
      geo(2, 6, 12, 13, 9, 3, 3, 2, 2, 1, 1, 1, 1, 3),  // groups 3
      geo(1, 4, 11, 9, 4, 5, 5, 1, 2, 2, 2, 1, 1, 2),   // groups 2, stride 1 x 2
      geo(2, 2, 9, 9, 2, 3, 3, 3, 1, 1, 1),          // stride 3 x 1 (unit horizontal stride)
      geo(2, 4, 9, 10, 3, 1, 1, 2, 2, 0, 0),         // 1x1 kernel, stride 2 (a downsample): element loops
      geo(2, 2, 8, 9, 3, 2, 2, 2, 2, 1, 0),          // 2x2 stride 2: element loops
      geo(2, 2, 11, 20, 3, 1, 7, 3, 2, 1, 3),        // 1x7, stride 3 x 2: phases, rows skipped
      geo(1, 2, 13, 17, 2, 2, 5, 3, 2, 0, 2, 2, 1),  // 2x5 of dilation 2 x 1, stride 3 x 2: rows skipped
      geo(2, 3, 1, 1, 4, 1, 1, 2, 2, 0, 0),          // 1x1 image, 1x1 kernel
      geo(2, 3, 1, 1, 4, 3, 3, 2, 2, 1, 1),          // 1x1 image, padded
      geo(1, 2, 1, 1, 2, 3, 3, 3, 3, 2, 2),          // 1x1 image, stride 3, padding 2
      geo(1, 2, 5, 4, 3, 2, 2, 5, 5, 0, 0),          // stride past the image
      geo(1, 1, 3, 40, 2, 2, 35, 1, 2, 0, 0),        // 18 taps per phase (past the 16 precomputed masks)
      geo(1, 1, 4, 50, 1, 1, 17, 1, 2, 3, 4, 1, 3),  // 17 taps of dilation 3, stride 2
      geo(2, 2, 8, 37, 3, 2, 3, 2, 4, 1, 2, 1, 1),   // stride 4
      geo(1, 2, 30, 30, 2, 7, 7, 2, 2, 3, 3, 1, 1, 2),  // groups with the 7x7 stride-2 kernel
  };
}

// Values k/8, |k| <= 8, from a fixed LCG: products are multiples of 1/64 and
// the sums here stay exact in float32 in any order.
template <class T>
std::vector<T> eighths(int64_t n, uint64_t seed) {
  std::vector<T> v(static_cast<size_t>(n));
  for (auto& x : v) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    x = T(int64_t(seed >> 40) % 17 - 8) / T(8);
  }
  return v;
}

template <class T>
std::vector<T> randoms(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<T> v(static_cast<size_t>(n));
  for (auto& x : v) x = T(u(rng));
  return v;
}

using tgtest::for_each_term;
using tgtest::wsize;
using tgtest::xsize;
using tgtest::ysize;

template <class T>
void check_exact(const Conv2dGeometry& g, bool relu) {
  CAPTURE(g.N);
  CAPTURE(g.C);
  CAPTURE(g.H);
  CAPTURE(g.W);
  CAPTURE(g.OC);
  CAPTURE(g.KH);
  CAPTURE(g.KW);
  CAPTURE(g.stride_h);
  CAPTURE(g.stride_w);
  CAPTURE(g.pad_h);
  CAPTURE(g.pad_w);
  CAPTURE(g.dil_h);
  CAPTURE(g.dil_w);
  CAPTURE(g.groups);
  CAPTURE(relu);
  REQUIRE(g.OH() >= 1);
  REQUIRE(g.OW() >= 1);
  const auto x = eighths<T>(xsize(g), 1), w = eighths<T>(wsize(g), 2), b = eighths<T>(g.OC, 3),
             dy = eighths<T>(ysize(g), 4);
  // reference
  const int64_t P = g.OH() * g.OW();
  std::vector<T> y_ref(size_t(ysize(g))), dx_ref(size_t(xsize(g)), T(0)), dw_ref(size_t(wsize(g)), T(0)),
      db_ref(size_t(g.OC), T(0));
  for (int64_t i = 0; i < ysize(g); ++i) y_ref[size_t(i)] = b[size_t(i / P % g.OC)];
  for_each_term(g, [&](int64_t yi, int64_t xi, int64_t wi) {
    y_ref[size_t(yi)] += w[size_t(wi)] * x[size_t(xi)];
    dx_ref[size_t(xi)] += w[size_t(wi)] * dy[size_t(yi)];
    dw_ref[size_t(wi)] += x[size_t(xi)] * dy[size_t(yi)];
  });
  if (relu)
    for (auto& v : y_ref) v = v > T(0) ? v : T(0);
  for (int64_t i = 0; i < ysize(g); ++i) db_ref[size_t(i / P % g.OC)] += dy[size_t(i)];
  // tapegrad
  std::vector<T> y(y_ref.size(), T(-7)), dx(dx_ref.size(), T(-7)), dw(dw_ref.size(), T(-7)), db(db_ref.size(), T(-7));
  tg::conv2d_forward<T>(g, x.data(), w.data(), b.data(), y.data(), relu);
  tg::conv2d_backward<T>(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
  CHECK(y == y_ref);
  CHECK(dx == dx_ref);
  CHECK(dw == dw_ref);
  CHECK(db == db_ref);
  // dx alone, and dw alone (the other pointers null)
  std::vector<T> dx2(dx_ref.size(), T(5)), dw2(dw_ref.size(), T(5));
  tg::conv2d_backward<T>(g, x.data(), w.data(), dy.data(), dx2.data(), nullptr, nullptr);
  tg::conv2d_backward<T>(g, x.data(), w.data(), dy.data(), nullptr, dw2.data(), nullptr);
  CHECK(dx2 == dx_ref);
  CHECK(dw2 == dw_ref);
}

}  // namespace

TEST_CASE("cliffs16b: strided conv2d forward and backward equal reference loops exactly (float32 and float64)") {
  tgtest::ThreadsGuard guard;
  tg::set_num_threads(1);
  for (const Conv2dGeometry& g : strided_geometries())
    for (bool relu : {false, true}) {
      check_exact<float>(g, relu);
      check_exact<double>(g, relu);
    }
}

// One output channel: dcol = w · dy is a single product per element, so dx
// is exactly the sum of those products in the order col2im adds them: from
// +0, kernel row by kernel row, tap by tap (the old scalar col2im's order,
// whose bits the phases keep). Random values, compared bit for bit.
template <class T>
void check_col2im_order(const Conv2dGeometry& g) {
  CAPTURE(g.H);
  CAPTURE(g.W);
  CAPTURE(g.KH);
  CAPTURE(g.KW);
  CAPTURE(g.stride_w);
  CAPTURE(g.dil_w);
  CAPTURE(g.pad_w);
  REQUIRE(g.OC == 1);
  REQUIRE(g.groups == 1);
  const auto x = randoms<T>(xsize(g), 7), w = randoms<T>(wsize(g), 8), dy = randoms<T>(ysize(g), 9);
  const int64_t OH = g.OH(), OW = g.OW();
  std::vector<T> ref(size_t(xsize(g)), T(0));
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t kh = 0; kh < g.KH; ++kh)
        for (int64_t kw = 0; kw < g.KW; ++kw)
          for (int64_t oh = 0; oh < OH; ++oh)
            for (int64_t ow = 0; ow < OW; ++ow) {
              const int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dil_h;
              const int64_t iw = ow * g.stride_w - g.pad_w + kw * g.dil_w;
              if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
              const T prod = w[size_t((c * g.KH + kh) * g.KW + kw)] * dy[size_t((n * OH + oh) * OW + ow)];
              ref[size_t(((n * g.C + c) * g.H + ih) * g.W + iw)] += prod;
            }
  std::vector<T> dx(ref.size(), T(3));
  tg::conv2d_backward<T>(g, x.data(), w.data(), dy.data(), dx.data(), nullptr, nullptr);
  CHECK(std::memcmp(dx.data(), ref.data(), ref.size() * sizeof(T)) == 0);
}

TEST_CASE("cliffs16b: strided conv2d dx keeps col2im's order bit for bit (random values)") {
  tgtest::ThreadsGuard guard;
  tg::set_num_threads(1);
  for (Conv2dGeometry g : strided_geometries()) {
    g.OC = 1;
    g.groups = 1;
    check_col2im_order<float>(g);
    check_col2im_order<double>(g);
  }
  // the 224x224 stem's geometry on one image
  const Conv2dGeometry stem = geo(1, 3, 224, 224, 1, 7, 7, 2, 2, 3, 3);
  check_col2im_order<float>(stem);
}

TEST_CASE("cliffs16b: strided conv2d gives the same bits with 1 and 2 threads") {
  tgtest::ThreadsGuard guard;
  for (const Conv2dGeometry& g : {geo(6, 3, 30, 30, 8, 7, 7, 2, 2, 3, 3), geo(5, 4, 17, 19, 6, 3, 3, 3, 2, 1, 2)}) {
    const auto x = randoms<float>(xsize(g), 1), w = randoms<float>(wsize(g), 2), b = randoms<float>(g.OC, 3),
               dy = randoms<float>(ysize(g), 4);
    std::vector<float> out[2][4];
    for (int t = 0; t < 2; ++t) {
      tg::set_num_threads(t + 1);
      out[t][0].resize(size_t(ysize(g)));
      out[t][1].resize(size_t(xsize(g)));
      out[t][2].resize(size_t(wsize(g)));
      out[t][3].resize(size_t(g.OC));
      tg::conv2d_forward<float>(g, x.data(), w.data(), b.data(), out[t][0].data());
      tg::conv2d_backward<float>(g, x.data(), w.data(), dy.data(), out[t][1].data(), out[t][2].data(),
                                 out[t][3].data());
    }
    for (int k = 0; k < 4; ++k) CHECK(std::memcmp(out[0][k].data(), out[1][k].data(), out[0][k].size() * 4) == 0);
  }
}

// col2im_taps on every target against its twin: random parameter sets with
// 0 to 20 taps, negative and positive shifts, output columns 1 to 3 apart
// (the elements between them must keep their sentinels), NaN in the gaps
// between span rows and in a vector of slack on either side.
template <class T>
void check_col2im_taps_all_targets() {
  namespace k = tg::kernels;
  const T nan = std::numeric_limits<T>::quiet_NaN();
  const int64_t slack = k::kSpanSlackBytes / int64_t(sizeof(T));
  std::mt19937 rng(17);
  auto r = [&](int lo, int hi) { return int64_t(std::uniform_int_distribution<int>(lo, hi)(rng)); };
  std::vector<k::Col2ImTaps> ps;
  for (int i = 0; i < 300; ++i) {
    k::Col2ImTaps p{};
    p.KH = r(1, 3);
    p.NT = i % 25 == 0 ? 0 : r(1, 20);
    p.OH = r(1, 4);
    p.OW = r(1, 24);
    p.sh = r(1, 2);
    p.dh = r(1, 2);
    p.pad_h = r(0, 2);
    p.dt = r(1, 3);
    p.off0 = r(-6, 6);
    p.H = r(1, 6);
    p.W = r(1, 40);
    p.out_col = r(1, 3);
    p.out_row = p.W * p.out_col + r(0, 2);
    p.ld_t = p.OH * p.OW + r(0, 3);
    p.ld_kh = std::max<int64_t>(1, p.NT) * p.ld_t + r(0, 3);
    ps.push_back(p);
  }
  int checked = 0;
  tgtest::for_each_target([&](const std::string& target) {
    for (const k::Col2ImTaps& p : ps) {
      INFO(target, " KH=", p.KH, " NT=", p.NT, " OH=", p.OH, " OW=", p.OW, " sh=", p.sh, " dh=", p.dh,
           " pad_h=", p.pad_h, " dt=", p.dt, " off0=", p.off0, " H=", p.H, " W=", p.W, " out_col=", p.out_col);
      const size_t n = size_t(slack + p.KH * p.ld_kh + slack);
      std::unique_ptr<T[]> src(new T[n]);
      for (size_t i = 0; i < n; ++i) src[i] = nan;
      T* s0 = src.get() + slack;
      uint64_t state = uint64_t(checked) + 1;
      for (int64_t kh = 0; kh < p.KH; ++kh)
        for (int64_t t = 0; t < p.NT; ++t)
          for (int64_t e = 0; e < p.OH * p.OW; ++e) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            s0[kh * p.ld_kh + t * p.ld_t + e] = T(int64_t(state >> 33) % 200001 - 100000) / T(977);
          }
      std::vector<T> got(size_t(p.H * p.out_row + 3), T(-3)), want = got;
      k::col2im_taps(s0, p, got.data());
      k::col2im_taps_ref(s0, p, want.data());
      REQUIRE(std::memcmp(got.data(), want.data(), got.size() * sizeof(T)) == 0);
      for (int64_t h = 0; h < p.H; ++h)  // untouched between and after the outputs
        for (int64_t j = 0; j < p.out_row; ++j)
          if (j % p.out_col != 0 || j / p.out_col >= p.W) REQUIRE(got[size_t(h * p.out_row + j)] == T(-3));
      ++checked;
    }
  });
  CHECK(checked >= int(ps.size()));
}

TEST_CASE("cliffs16b: col2im_taps equals its scalar twin on every target (float32 and float64)") {
  check_col2im_taps_all_targets<float>();
  check_col2im_taps_all_targets<double>();
}

TEST_CASE("cliffs16b: the col2im_taps twin sums the named span elements") {
  namespace k = tg::kernels;
  // two taps 5 apart, spans of OW = 3 on OH = 1 row; ow = j + 1 - t (with the
  // kernel's slack of a vector on either side)
  const int64_t slack = k::kSpanSlackBytes / int64_t(sizeof(float));
  std::vector<float> buf(size_t(slack + 10 + slack), 0.0f);
  const float vals[10] = {1, 2, 4, 0, 0, 8, 16, 32, 0, 0};
  std::copy(vals, vals + 10, buf.begin() + slack);
  const float* src = buf.data() + slack;
  k::Col2ImTaps p{.ld_kh = 10, .ld_t = 5, .KH = 1, .NT = 2, .OH = 1, .OW = 3, .sh = 1, .dh = 1, .pad_h = 0,
                  .dt = 1, .off0 = 1, .H = 1, .W = 4, .out_row = 8, .out_col = 2};
  float out[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
  k::col2im_taps_ref(src, p, out);
  // j=0: t0 ow1 (2) + t1 ow0 (8); j=1: 4 + 16; j=2: ow3 none + 32; j=3: none
  const float want[8] = {10, -1, 20, -1, 32, -1, 0, -1};
  for (int i = 0; i < 8; ++i) CHECK(out[i] == want[i]);
  float got[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
  k::col2im_taps(src, p, got);
  for (int i = 0; i < 8; ++i) CHECK(got[i] == want[i]);
}

// fill_rows on every target against its twin: rows 0 to 70 long (past four
// vectors of every target), 1 to 3 rows ld apart, misaligned starts, sentinels
// around and between the rows, values with NaN payloads and -0 kept bit for bit.
template <class T>
void check_fill_rows_all_targets() {
  namespace k = tg::kernels;
  std::vector<T> vals = {T(1.5), T(-0.0), T(-3), T(7)};
  if constexpr (std::is_floating_point_v<T>) {
    using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
    const U payload = sizeof(T) == 4 ? U(0x7fc01234u) : U(0x7ff8000000abcdefull);
    T nan;
    std::memcpy(&nan, &payload, sizeof(T));
    vals[2] = nan;
  }
  int checked = 0;
  tgtest::for_each_target([&](const std::string& target) {
    for (int64_t n = 0; n <= 70; ++n)
      for (int64_t rows = 1; rows <= 3; ++rows)
        for (int64_t mis = 0; mis < 3; ++mis) {
          INFO(target, " n=", n, " rows=", rows, " mis=", mis);
          const int64_t ld = n + mis + 1, vs = rows == 3 ? 0 : 1;
          std::vector<T> got(size_t(mis + rows * ld + 8), T(-9)), want = got;
          k::fill_rows(got.data() + mis, rows, ld, n, vals.data(), vs);
          k::fill_rows_ref(want.data() + mis, rows, ld, n, vals.data(), vs);
          REQUIRE(std::memcmp(got.data(), want.data(), got.size() * sizeof(T)) == 0);
          ++checked;
        }
  });
  CHECK(checked >= 71 * 9);
}

TEST_CASE("cliffs16b: fill_rows equals its scalar twin on every target (float32 float64 int64)") {
  check_fill_rows_all_targets<float>();
  check_fill_rows_all_targets<double>();
  check_fill_rows_all_targets<int64_t>();
}

// ------------------------------------------------------------ expanded copies
namespace {

const tg::DType kDTypes[] = {tg::kFloat32, tg::kFloat64, tg::kInt64};

double at(const tg::Tensor& x, const std::vector<int64_t>& idx) {
  int64_t off = 0;
  for (int d = 0; d < x.dim(); ++d) off += idx[size_t(d)] * x.strides()[d];
  if (x.dtype() == tg::kFloat32) return double(x.raw_ptr<float>()[off]);
  if (x.dtype() == tg::kFloat64) return x.raw_ptr<double>()[off];
  return double(x.raw_ptr<int64_t>()[off]);
}

// All values of x in row-major order, read through its strides.
std::vector<double> ref_values(const tg::Tensor& x) {
  std::vector<double> out;
  std::vector<int64_t> idx(size_t(x.dim()), 0);
  for (int64_t k = 0; k < x.numel(); ++k) {
    out.push_back(at(x, idx));
    for (int d = x.dim() - 1; d >= 0; --d) {
      if (++idx[size_t(d)] < x.shape()[d]) break;
      idx[size_t(d)] = 0;
    }
  }
  return out;
}

// Distinct values -n/3, ..., exact in every dtype.
tg::Tensor distinct(const tg::Shape& shape, tg::DType dtype) {
  const int64_t n = shape.numel();
  return tg::arange(double(-(n / 3)), double(n - n / 3), 1.0, {.dtype = dtype}).reshape(shape);
}

// x (an expanded view) through contiguous() / to(): the values it shows.
void check_copies(const tg::Tensor& x) {
  CAPTURE(x.shape());
  CAPTURE(x.strides());
  CAPTURE(x.dtype());
  const std::vector<double> want = ref_values(x);
  for (tg::DType dt : kDTypes) {
    CAPTURE(dt);
    const tg::Tensor y = x.dtype() == dt ? x.contiguous() : x.to(dt);
    REQUIRE(y.is_contiguous());
    REQUIRE(y.shape() == x.shape());
    REQUIRE(y.dtype() == dt);
    CHECK(ref_values(y) == want);
    // into a transposed target (inner stride != 1) and a sliced one (rows apart)
    if (x.dim() >= 2) {
      tg::Shape ts = x.shape();
      std::swap(ts[0], ts[x.dim() - 1]);
      tg::Tensor t = tg::full(ts, -5.0, {.dtype = dt});
      tg::Tensor tv = t.transpose(0, x.dim() - 1);
      tv.copy_(x);
      CHECK(ref_values(tv) == want);
      tg::Shape ws = x.shape();
      ws[x.dim() - 1] += 3;
      tg::Tensor wide = tg::full(ws, -5.0, {.dtype = dt});
      tg::Tensor sv = wide.narrow(x.dim() - 1, 1, x.shape()[x.dim() - 1]);
      sv.copy_(x);
      CHECK(ref_values(sv) == want);
      // the columns around the slice keep their value
      const std::vector<double> all = ref_values(wide);
      const int64_t wl = ws[x.dim() - 1], n = x.shape()[x.dim() - 1];
      for (size_t i = 0; i < all.size(); ++i) {
        const int64_t j = int64_t(i) % wl;
        if (j == 0 || j > n) REQUIRE(all[i] == -5.0);
      }
    }
  }
}

}  // namespace

TEST_CASE("cliffs16b: expanded copies equal reference loops with the expanded dims in every position") {
  tgtest::ThreadsGuard guard;
  tg::set_num_threads(1);
  const tg::Shape base{3, 5, 7, 4};
  for (tg::DType dt : kDTypes)
    for (int mask = 0; mask < 16; ++mask) {
      tg::Shape src = base;
      for (int d = 0; d < 4; ++d)
        if (mask & (1 << d)) src[d] = 1;
      check_copies(distinct(src, dt).expand(base));
      // the same with the source itself a non-contiguous (transposed) view
      const tg::Tensor tr = distinct({src[3], src[1], src[2], src[0]}, dt).transpose(0, 3);
      check_copies(tr.expand(base));
    }
  for (tg::DType dt : kDTypes) {
    check_copies(distinct({7, 1}, dt).expand({7, 33}));
    check_copies(distinct({1, 33}, dt).expand({7, 33}));
    check_copies(distinct({1}, dt).expand({13}));
    check_copies(distinct({5}, dt).expand({2, 3, 5}));          // new leading dims
    check_copies(distinct({4, 1, 1}, dt).expand({4, 9, 11}));   // two stride-0 dims inner
    check_copies(distinct({1, 1, 6}, dt).expand({8, 9, 6}));    // two stride-0 dims outer
    check_copies(distinct({1, 9, 1}, dt).expand({5, 9, 3}));
  }
}

TEST_CASE("cliffs16b: expanded copies of 0-d sources and with 0-size dims") {
  for (tg::DType dt : kDTypes) {
    const tg::Tensor s = tg::full({}, 3.0, {.dtype = dt});
    check_copies(s.expand({}));
    check_copies(s.expand({1}));
    check_copies(s.expand({6, 7}));
    check_copies(s.expand({0}));
    check_copies(s.expand({4, 0}));
    check_copies(distinct({1, 5}, dt).expand({0, 5}));
    check_copies(distinct({3, 1}, dt).expand({3, 0}));
    check_copies(distinct({2, 1, 4}, dt).expand({2, 0, 4}));
    check_copies(distinct({0, 1}, dt).expand({0, 6}));
    const tg::Tensor y = distinct({3, 1}, dt).expand({3, 0}).contiguous();
    CHECK(y.numel() == 0);
    CHECK(y.shape() == tg::Shape{3, 0});
  }
}

TEST_CASE("cliffs16b: large expanded copies give the same values with 1 and 2 threads") {
  tgtest::ThreadsGuard guard;
  struct Case {
    tg::Shape src, dst;
  };
  const std::vector<Case> cases = {{{1024, 1}, {1024, 1024}}, {{1, 1024}, {1024, 1024}}, {{4099, 1}, {4099, 67}},
                                   {{1, 700}, {600, 700}},     {{1}, {300001}},           {{}, {513, 517}},
                                   {{64, 1, 257}, {64, 33, 257}}, {{65, 129, 1}, {65, 129, 31}}};
  for (tg::DType dt : kDTypes)
    for (const Case& c : cases) {
      CAPTURE(c.src);
      CAPTURE(c.dst);
      CAPTURE(dt);
      const tg::Tensor x = (c.src.size() == 0 ? tg::full({}, 7.0, {.dtype = dt}) : distinct(c.src, dt)).expand(c.dst);
      const std::vector<double> want = ref_values(x);
      tg::Tensor y[2], z[2];
      for (int t = 0; t < 2; ++t) {
        tg::set_num_threads(t + 1);
        y[t] = x.contiguous();
        z[t] = x.to(dt == tg::kFloat64 ? tg::kInt64 : tg::kFloat64);
      }
      CHECK(ref_values(y[0]) == want);
      CHECK(tgtest::bit_equal(y[0], y[1]));
      CHECK(ref_values(z[0]) == want);
      CHECK(tgtest::bit_equal(z[0], z[1]));
    }
}
