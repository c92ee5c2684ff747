// The im2col/col2im span kernels (tensor/kernels/conv.h) against their scalar
// twins on every compiled Highway target: float32 and float64, span lengths
// 0..40, 0..5 rows, source strides len..len+3, pointers misaligned by 0..3
// elements. copy_spans may run over by kSpanSlackBytes (into the slack the
// caller provides): the test checks everything up to rows * len and leaves
// that slack in the buffers. col2im_plane (random values: one chain of adds in
// a fixed order, so the same bits) with NaN wherever it must not look and
// sentinels after the plane. row_dots (the weight gradient's dot products) with
// NaN wherever it must not look.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "tensor/kernels/conv.h"
#include "tests/common/test_util.h"

namespace k = tg::kernels;

namespace {

template <class T>
void check_all_targets() {
  const int64_t slack = k::kSpanSlackBytes / int64_t(sizeof(T));
  uint64_t state = 99;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return T(int64_t(state >> 40) % 2001 - 1000) / T(64);
  };
  int checked = 0;
  tgtest::for_each_target([&](const std::string& target) {
    for (int64_t len = 0; len <= 40; ++len)
      for (int64_t rows = 0; rows <= 5; ++rows)
        for (int64_t extra = 0; extra <= 3; ++extra) {
          const int64_t stride = len + extra, mis = (len + rows + extra) % 4;
          INFO(target, " len=", len, " rows=", rows, " stride=", stride, " mis=", mis);
          std::vector<T> src(size_t(mis + rows * stride + slack));
          for (auto& v : src) v = next();
          // copy
          std::vector<T> a(size_t(mis + rows * len + slack), T(7)), b = a;
          k::copy_spans(src.data() + mis, stride, rows, len, a.data() + mis);
          k::copy_spans_ref(src.data() + mis, stride, rows, len, b.data() + mis);
          REQUIRE(std::memcmp(a.data(), b.data(), size_t(mis + rows * len) * sizeof(T)) == 0);
          ++checked;
        }
  });
  CHECK(checked >= 41 * 6 * 4);
}

// col2im_plane on every target against its twin. Geometries: kernel 1..5
// (and 18 taps wide, past the kernel's precomputed masks), padding, vertical
// stride and dilation, horizontal dilation, rows from 1 to 40 wide (one, two and
// three vectors). The column rows are ld apart with NaN in the gaps, in the
// vector of slack before and after them; random values elsewhere.
template <class T>
void check_col2im_all_targets() {
  const T nan = std::numeric_limits<T>::quiet_NaN();
  const int64_t slack = k::kSpanSlackBytes / int64_t(sizeof(T));
  uint64_t state = 5;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return T(int64_t(state >> 33) % 200001 - 100000) / T(977);
  };
  struct Geo {
    int64_t H, W, KH, KW, ph, pw, sh, dh, dw;
  };
  std::vector<Geo> geos;
  for (int64_t W : {1, 5, 10, 14, 16, 17, 28, 33, 40})
    for (int64_t K : {1, 2, 3, 5})
      for (int64_t pad : {0, 1, 2})
        for (int64_t sh : {1, 2})
          for (int64_t dil : {1, 2}) geos.push_back({W % 7 + 3 + K, W, K, K, pad, pad, sh, dil, dil});
  geos.push_back({14, 10, 5, 5, 0, 0, 1, 1, 1});   // LeNet's conv2
  geos.push_back({28, 28, 5, 5, 2, 2, 1, 1, 1});   // LeNet's conv1
  geos.push_back({6, 40, 2, 18, 0, 3, 1, 1, 1});   // 18 taps
  geos.push_back({9, 45, 3, 18, 1, 2, 2, 2, 2});   // 18 taps, strided and dilated
  geos.push_back({4, 20, 1, 18, 0, 0, 1, 1, 1});   // taps wider than the row: empty spans
  // kernel, padding and dilation different along h and w (a swapped pair shows)
  geos.push_back({9, 17, 2, 3, 1, 2, 2, 2, 1});
  geos.push_back({8, 12, 3, 5, 0, 1, 1, 1, 2});
  geos.push_back({12, 9, 5, 3, 2, 0, 1, 2, 1});
  geos.push_back({7, 31, 1, 5, 0, 2, 2, 1, 3});
  int checked = 0;
  tgtest::for_each_target([&](const std::string& target) {
    for (const Geo& g : geos) {
      const int64_t OH = (g.H + 2 * g.ph - g.dh * (g.KH - 1) - 1) / g.sh + 1;
      const int64_t OW = g.W + 2 * g.pw - g.dw * (g.KW - 1);
      if (OH < 1 || OW < 1) continue;
      const int64_t P = OH * OW, ld = P + (g.W % 3), rows = g.KH * g.KW;
      INFO(target, " H=", g.H, " W=", g.W, " K=", g.KH, "x", g.KW, " pad=", g.ph, "/", g.pw, " sh=", g.sh,
           " dil=", g.dh, "/", g.dw);
      // exact-size heap buffer: the slack and nothing more on either side
      // (ASan sees any read past it); ld and W vary the rows' alignment
      const size_t n = size_t(slack + rows * ld + slack);
      std::unique_ptr<T[]> src(new T[n]);
      for (size_t i = 0; i < n; ++i) src[i] = nan;
      T* s0 = src.get() + slack;
      for (int64_t q = 0; q < rows; ++q)
        for (int64_t p = 0; p < P; ++p) s0[q * ld + p] = next();
      std::vector<T> got(size_t(g.H * g.W + 5), T(-3)), want = got;
      k::col2im_plane(s0, ld, g.KH, g.KW, OH, OW, g.sh, g.dh, g.dw, g.ph, g.pw, g.H, g.W, got.data());
      k::col2im_plane_ref(s0, ld, g.KH, g.KW, OH, OW, g.sh, g.dh, g.dw, g.ph, g.pw, g.H, g.W, want.data());
      REQUIRE(std::memcmp(got.data(), want.data(), got.size() * sizeof(T)) == 0);  // sentinels after it too
      ++checked;
    }
  });
  CHECK(checked >= 2 * int(geos.size()));
}

// Values k/8 with |k| <= 8 from a fixed LCG: every product of two is a
// multiple of 1/64 and the sums in these tests stay exact in any order.
template <class T>
struct ExactValues {
  uint64_t state;
  T operator()() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return T(int64_t(state >> 40) % 17 - 8) / T(8);
  }
};

// row_dots on every target: values k/8 with |k| <= 8, so every product is a
// multiple of 1/64 and every sum here is exact in any order: the kernel and its
// twin must agree bit for bit. Everything the kernel may read but must not use
// (the gaps between rows, the slack after them) holds NaN.
template <class T>
void check_row_dots_all_targets() {
  const T nan = std::numeric_limits<T>::quiet_NaN();
  const int64_t slack = k::kSpanSlackBytes / int64_t(sizeof(T));
  ExactValues<T> next{7};
  int checked = 0;
  tgtest::for_each_target([&](const std::string& target) {
    for (int64_t len : {0, 1, 5, 15, 16, 17, 28, 31, 33, 40})
      for (int64_t M : {1, 5, 6, 7, 13})
        for (int64_t N : {1, 3, 4, 5, 9})
          for (int64_t rows : {1, 3})
            for (int64_t imgs : {1, 2}) {
              const int64_t mis = (len + M + N) % 4, a_row = len + 2, a_chan = rows * a_row + 1,
                            a_img = M * a_chan + 3, b_row = len + 5, b_img = (N + 4) * b_row * rows;
              INFO(target, " len=", len, " M=", M, " N=", N, " rows=", rows, " imgs=", imgs);
              std::vector<T> a(size_t(mis + imgs * a_img + slack), nan), b(size_t(mis + imgs * b_img + slack), nan);
              std::vector<int64_t> off(static_cast<size_t>(N), 0);
              for (int64_t q = 0; q < N; ++q) off[size_t(q)] = (q * 7) % 5 * b_row + q % 3;  // overlapping windows
              for (int64_t i = 0; i < imgs; ++i)
                for (int64_t r = 0; r < rows; ++r)
                  for (int64_t j = 0; j < len; ++j) {
                    for (int64_t o = 0; o < M; ++o) a[size_t(mis + i * a_img + o * a_chan + r * a_row + j)] = next();
                    for (int64_t q = 0; q < N; ++q) b[size_t(mis + i * b_img + off[size_t(q)] + r * b_row + j)] = next();
                  }
              std::vector<T> got(size_t(M * N), T(-1)), want(size_t(M * N), T(-2));
              k::row_dots(a.data() + mis, a_img, a_chan, a_row, M, b.data() + mis, off.data(), b_img, b_row, N, imgs,
                          rows, len, got.data());
              k::row_dots_ref(a.data() + mis, a_img, a_chan, a_row, M, b.data() + mis, off.data(), b_img, b_row, N,
                              imgs, rows, len, want.data());
              REQUIRE(std::memcmp(got.data(), want.data(), got.size() * sizeof(T)) == 0);
              ++checked;
            }
  });
  CHECK(checked >= 10 * 5 * 5 * 2 * 2);
}

// row_axpy on every target, the same exact values (any order, fused or not,
// gives the same bits); NaN in b wherever the kernel may read but must not
// use, sentinels around every output row.
template <class T>
void check_row_axpy_all_targets() {
  const T nan = std::numeric_limits<T>::quiet_NaN();
  const int64_t slack = k::kSpanSlackBytes / int64_t(sizeof(T));
  ExactValues<T> next{11};
  int checked = 0;
  tgtest::for_each_target([&](const std::string& target) {
    for (int64_t len : {1, 5, 15, 16, 17, 28, 31, 33, 40})
      for (int64_t M : {1, 5, 6, 7, 13})
        for (int64_t N : {1, 4, 9})
          for (int64_t rows : {1, 2, 3})
            for (int flags = 0; flags < 4; ++flags) {
              const bool with_init = flags & 1, relu = flags & 2;
              const int64_t mis = (len + M + N) % 4, b_row = len + 3, out_row = len + 2, out_chan = rows * out_row + 1;
              INFO(target, " len=", len, " M=", M, " N=", N, " rows=", rows, " init=", with_init, " relu=", relu);
              std::vector<int64_t> off(static_cast<size_t>(N), 0);
              for (int64_t q = 0; q < N; ++q) off[size_t(q)] = (q * 7) % 4 * b_row + q % 3;
              std::vector<T> b(size_t(mis + (rows + 4) * b_row + slack), nan);
              for (int64_t q = 0; q < N; ++q)
                for (int64_t r = 0; r < rows; ++r)
                  for (int64_t j = 0; j < len; ++j) b[size_t(mis + off[size_t(q)] + r * b_row + j)] = next();
              std::vector<T> w(static_cast<size_t>(M * (N + 1)), T(0)), init(static_cast<size_t>(M), T(0));
              for (auto& v : w) v = next();
              for (auto& v : init) v = next();
              std::vector<T> got(size_t(mis + M * out_chan + 1), T(-7)), want = got;
              k::row_axpy(w.data(), N + 1, with_init ? init.data() : nullptr, M, b.data() + mis, off.data(), b_row, N,
                          rows, len, got.data() + mis, out_chan, out_row, relu);
              k::row_axpy_ref(w.data(), N + 1, with_init ? init.data() : nullptr, M, b.data() + mis, off.data(), b_row,
                              N, rows, len, want.data() + mis, out_chan, out_row, relu);
              REQUIRE(std::memcmp(got.data(), want.data(), got.size() * sizeof(T)) == 0);  // gaps untouched too
              ++checked;
            }
  });
  CHECK(checked >= 9 * 5 * 3 * 3 * 4);
}

}  // namespace

TEST_CASE("conv kernels: the row_axpy twin computes the named sums") {
  // b: rows [1 2 3 | 4 5 6] (b_row 3), q offsets 0 and 1; w = [2, 10]; init 0.5
  const double b[] = {1, 2, 3, 4, 5, 6};
  const int64_t off[] = {0, 1};
  const double w[] = {2, 10}, init[] = {0.5};
  double out[4] = {-1, -1, -1, -1};
  k::row_axpy_ref(w, 2, init, 1, b, off, 3, 2, 2, 2, out, 0, 2);
  CHECK(out[0] == 0.5 + 2 * 1 + 10 * 2);  // r 0, j 0
  CHECK(out[1] == 0.5 + 2 * 2 + 10 * 3);
  CHECK(out[2] == 0.5 + 2 * 4 + 10 * 5);  // r 1
  CHECK(out[3] == 0.5 + 2 * 5 + 10 * 6);
  // relu: ReLU's rule on the sum; init -40 makes the first two outputs negative
  const double neg[] = {-40};
  k::row_axpy_ref(w, 2, neg, 1, b, off, 3, 2, 2, 2, out, 0, 2, /*relu=*/true);
  CHECK(out[0] == 0.0);
  CHECK_FALSE(std::signbit(out[0]));
  CHECK(out[1] == 0.0);
  CHECK(out[2] == -40 + 2 * 4 + 10 * 5);  // 18
  CHECK(out[3] == -40 + 2 * 5 + 10 * 6);  // 30
}

TEST_CASE("conv kernels: row_axpy equals its scalar twin on every target (float32, float64, NaN in the slack)") {
  check_row_axpy_all_targets<float>();
  check_row_axpy_all_targets<double>();
}

TEST_CASE("conv kernels: the row_dots twin sums the named products") {
  // a: 2 rows [1 2 | 3 4] (a_row 2), one channel; b offsets 0 and 1 into [1 1 1 | 2 2 2] (b_row 3)
  const double a[] = {1, 2, 3, 4};
  const double b[] = {1, 1, 1, 2, 2, 2};
  const int64_t off[] = {0, 1};
  double out[2] = {-1, -1};
  k::row_dots_ref(a, 0, 0, 2, 1, b, off, 0, 3, 2, 1, 2, 2, out);
  CHECK(out[0] == 1 * 1 + 2 * 1 + 3 * 2 + 4 * 2);  // 17
  CHECK(out[1] == 17);
  k::row_dots_ref(a, 0, 0, 2, 1, b, off, 0, 3, 2, 1, 2, 0, out);  // len 0: empty sums
  CHECK(out[0] == 0);
}

TEST_CASE("conv kernels: row_dots equals its scalar twin on every target (float32, float64, NaN in the slack)") {
  check_row_dots_all_targets<float>();
  check_row_dots_all_targets<double>();
}

TEST_CASE("conv kernels: the scalar twin copies the named spans") {
  const float src[] = {1, 2, 3, 4, 5, 6, 7, 8};
  float dst[4 + 16] = {};
  k::copy_spans_ref(src, 3, 2, 2, dst);  // rows {1,2} and {4,5}
  CHECK(dst[0] == 1);
  CHECK(dst[1] == 2);
  CHECK(dst[2] == 4);
  CHECK(dst[3] == 5);
}

TEST_CASE("conv kernels: the col2im_plane twin sums the named span elements") {
  // One channel, 2x2 kernel, 2x2 output (P = 4) -> 3x3 image, no padding: every
  // tap (kh, kw) puts its 2x2 block at offset (kh, kw).
  const double src[] = {1, 2, 3, 4,       // tap (0,0)
                        10, 20, 30, 40,   // tap (0,1)
                        100, 200, 300, 400,  // tap (1,0)
                        1000, 2000, 3000, 4000};  // tap (1,1)
  double out[9];
  k::col2im_plane_ref(src, 4, 2, 2, 2, 2, 1, 1, 1, 0, 0, 3, 3, out);
  const double want[9] = {1, 2 + 10, 20, 3 + 100, 4 + 30 + 200 + 1000, 40 + 2000, 300, 400 + 3000, 4000};
  for (int i = 0; i < 9; ++i) CHECK(out[i] == want[i]);
  // padding 1: a 1x1 image is padded position (1, 1), where oh + kh = 1 and
  // ow + kw = 1: tap (0,0) element (1,1), (0,1) (1,0), (1,0) (0,1), (1,1) (0,0).
  double one = -1;
  k::col2im_plane_ref(src, 4, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, &one);
  CHECK(one == 4 + 30 + 200 + 1000);
  // vertical stride 2: rows h = 2 oh + kh; 1x4 output (P = 4) -> 2x5 image
  double s2[10];
  k::col2im_plane_ref(src, 4, 2, 2, 1, 4, 2, 1, 1, 0, 0, 2, 5, s2);
  const double want2[10] = {1, 2 + 10, 3 + 20, 4 + 30, 40, 100, 200 + 1000, 300 + 2000, 400 + 3000, 4000};
  for (int i = 0; i < 10; ++i) CHECK(s2[i] == want2[i]);
  // no output positions (OW = 0): empty sums, nothing read
  double none[6] = {5, 5, 5, 5, 5, 5};
  k::col2im_plane(src, 4, 2, 2, 2, 0, 1, 1, 1, 0, 0, 2, 3, none);
  for (double v : none) CHECK(v == 0.0);
}

TEST_CASE("conv kernels: col2im_plane equals its scalar twin on every target (float32, float64, NaN around the rows)") {
  check_col2im_all_targets<float>();
  check_col2im_all_targets<double>();
}

TEST_CASE("conv kernels: float32 span copies equal their scalar twins on every target") {
  check_all_targets<float>();
}

TEST_CASE("conv kernels: float64 span copies equal their scalar twins on every target") {
  check_all_targets<double>();
}
