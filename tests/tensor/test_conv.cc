// conv2d and pooling (tensor/conv.h) against naive direct loops written here,
// over random geometries with groups, dilation, stride, padding and odd
// sizes; backward also against central finite differences in float64, with a
// deliberately broken gradient that the check must reject; and bit identity of
// forward and backward for 1 and 2 threads.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "tensor/conv.h"
#include "tensor/parallel.h"
#include "tests/common/conv_ref.h"
#include "tests/common/test_util.h"

namespace {

using tg::Conv2dGeometry;
using tg::Pool2dGeometry;

template <class T>
std::vector<T> rand_vec(std::mt19937& rng, int64_t n, double lo = -1, double hi = 1) {
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<T> v(n);
  for (auto& x : v) x = T(u(rng));
  return v;
}

using tgtest::for_each_term;
using tgtest::wsize;
using tgtest::xsize;
using tgtest::ysize;

// Naive forward, in double; also returns the sum of |terms| per output (the
// error scale).
template <class T>
void conv_naive(const Conv2dGeometry& g, const T* x, const T* w, const T* b, std::vector<double>& y,
                std::vector<double>& scale) {
  y.assign(ysize(g), 0);
  scale.assign(ysize(g), 0);
  const int64_t P = g.OH() * g.OW();
  if (b)
    for (int64_t i = 0; i < ysize(g); ++i) {
      y[i] = b[(i / P) % g.OC];
      scale[i] = std::abs(double(b[(i / P) % g.OC]));
    }
  for_each_term(g, [&](int64_t yi, int64_t xi, int64_t wi) {
    y[yi] += double(x[xi]) * double(w[wi]);
    scale[yi] += std::abs(double(x[xi]) * double(w[wi]));
  });
}

template <class T>
void conv_backward_naive(const Conv2dGeometry& g, const T* x, const T* w, const T* dy,
                         std::vector<double>& dx, std::vector<double>& dw,
                         std::vector<double>& db) {
  dx.assign(xsize(g), 0);
  dw.assign(wsize(g), 0);
  db.assign(g.OC, 0);
  const int64_t P = g.OH() * g.OW();
  for (int64_t i = 0; i < ysize(g); ++i) db[(i / P) % g.OC] += dy[i];
  for_each_term(g, [&](int64_t yi, int64_t xi, int64_t wi) {
    dx[xi] += double(dy[yi]) * double(w[wi]);
    dw[wi] += double(dy[yi]) * double(x[xi]);
  });
}

Conv2dGeometry random_geometry(std::mt19937& rng, int64_t max_hw = 12) {
  std::uniform_int_distribution<int> u(0, 1000);
  for (;;) {
    Conv2dGeometry g{};
    g.groups = 1 + u(rng) % 3;
    g.N = 1 + u(rng) % 3;
    g.C = g.groups * (1 + u(rng) % 3);
    g.OC = g.groups * (1 + u(rng) % 3);
    g.H = 1 + u(rng) % max_hw;
    g.W = 1 + u(rng) % max_hw;
    g.KH = 1 + u(rng) % 4;
    g.KW = 1 + u(rng) % 4;
    g.stride_h = 1 + u(rng) % 3;
    g.stride_w = 1 + u(rng) % 2;
    g.pad_h = u(rng) % 3;
    g.pad_w = u(rng) % 2;
    g.dil_h = 1 + u(rng) % 2;
    g.dil_w = 1 + u(rng) % 3;
    if (g.OH() > 0 && g.OW() > 0) return g;
  }
}

std::string describe(const Conv2dGeometry& g) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "N=%lld C=%lld H=%lld W=%lld OC=%lld K=%lldx%lld s=%lldx%lld p=%lldx%lld "
                "d=%lldx%lld groups=%lld",
                (long long)g.N, (long long)g.C, (long long)g.H, (long long)g.W, (long long)g.OC,
                (long long)g.KH, (long long)g.KW, (long long)g.stride_h, (long long)g.stride_w,
                (long long)g.pad_h, (long long)g.pad_w, (long long)g.dil_h, (long long)g.dil_w,
                (long long)g.groups);
  return buf;
}

template <class T>
void check_close(const std::vector<T>& got, const std::vector<double>& want,
                 const std::vector<double>& scale, int64_t terms, const char* what) {
  REQUIRE(got.size() == want.size());
  const double eps = std::numeric_limits<T>::epsilon();
  for (size_t i = 0; i < got.size(); ++i) {
    const double tol = 2.0 * double(terms + 3) * eps * scale[i] + 1e-300;
    if (!(std::abs(double(got[i]) - want[i]) <= tol)) {
      FAIL(what, "[", i, "]: got ", got[i], " want ", want[i], " tol ", tol);
    }
  }
}

template <class T>
void forward_backward_case(const Conv2dGeometry& g, std::mt19937& rng, bool with_bias) {
  CAPTURE(describe(g));
  const auto x = rand_vec<T>(rng, xsize(g)), w = rand_vec<T>(rng, wsize(g));
  const auto b = rand_vec<T>(rng, g.OC), dy = rand_vec<T>(rng, ysize(g));
  std::vector<T> y(ysize(g), T(7));
  tg::conv2d_forward<T>(g, x.data(), w.data(), with_bias ? b.data() : nullptr, y.data());
  std::vector<double> yr, scale;
  conv_naive<T>(g, x.data(), w.data(), with_bias ? b.data() : nullptr, yr, scale);
  const int64_t ckk = (g.C / g.groups) * g.KH * g.KW;
  check_close(y, yr, scale, ckk, "y");

  std::vector<T> dx(xsize(g), T(5)), dw(wsize(g), T(5)), db(g.OC, T(5));
  tg::conv2d_backward<T>(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
  std::vector<double> dxr, dwr, dbr;
  conv_backward_naive<T>(g, x.data(), w.data(), dy.data(), dxr, dwr, dbr);
  // scales: the same sums on absolute values
  std::vector<T> ax(x), aw(w), ady(dy);
  for (auto* v : {&ax, &aw, &ady})
    for (auto& e : *v) e = std::abs(e);
  std::vector<double> sx, sw, sb;
  conv_backward_naive<T>(g, ax.data(), aw.data(), ady.data(), sx, sw, sb);
  const int64_t terms = g.N * g.OH() * g.OW() + g.OC * g.KH * g.KW;
  check_close(dx, dxr, sx, terms, "dx");
  check_close(dw, dwr, sw, terms, "dw");
  check_close(db, dbr, sb, terms, "db");
}

// L(x, w, b) = sum(conv(x, w, b) * r). Returns the largest |analytic - numeric|
// relative error over all of dx, dw, db, given the analytic gradients.
double finite_difference_error(const Conv2dGeometry& g, std::vector<double> x,
                               std::vector<double> w, std::vector<double> b,
                               const std::vector<double>& r, const std::vector<double>& dx,
                               const std::vector<double>& dw, const std::vector<double>& db) {
  auto loss = [&] {
    std::vector<double> y(ysize(g));
    tg::conv2d_forward<double>(g, x.data(), w.data(), b.data(), y.data());
    double s = 0;
    for (size_t i = 0; i < y.size(); ++i) s += y[i] * r[i];
    return s;
  };
  double worst = 0;
  auto check = [&](std::vector<double>& v, const std::vector<double>& grad) {
    for (size_t i = 0; i < v.size(); ++i) {
      const double h = 1e-6, saved = v[i];
      v[i] = saved + h;
      const double lp = loss();
      v[i] = saved - h;
      const double lm = loss();
      v[i] = saved;
      const double num = (lp - lm) / (2 * h);
      worst = std::max(worst, std::abs(num - grad[i]) / std::max(1.0, std::abs(num)));
    }
  };
  check(x, dx);
  check(w, dw);
  check(b, db);
  return worst;
}

using tgtest::ThreadsGuard;

}  // namespace

TEST_CASE("conv2d: forward and backward match naive loops (float and double)") {
  std::mt19937 rng(42);
  for (int i = 0; i < 60; ++i) {
    const Conv2dGeometry g = random_geometry(rng);
    forward_backward_case<float>(g, rng, i % 2 == 0);
    forward_backward_case<double>(g, rng, i % 3 != 0);
  }
  // LeNet-5 shapes, a 1x1 convolution (direct GEMM path) and a grouped one.
  Conv2dGeometry lenet1{8, 1, 28, 28, 6, 5, 5};
  lenet1.pad_h = lenet1.pad_w = 2;
  forward_backward_case<float>(lenet1, rng, true);
  forward_backward_case<float>(Conv2dGeometry{8, 6, 14, 14, 16, 5, 5}, rng, true);
  forward_backward_case<float>(Conv2dGeometry{3, 8, 7, 5, 12, 1, 1}, rng, true);
  Conv2dGeometry grouped{2, 6, 9, 11, 9, 3, 3};
  grouped.groups = 3, grouped.stride_h = 2, grouped.pad_w = 1, grouped.dil_h = 2;
  forward_backward_case<double>(grouped, rng, true);
}

TEST_CASE("conv2d: backward matches finite differences in double") {
  std::mt19937 rng(5);
  for (int i = 0; i < 8; ++i) {
    const Conv2dGeometry g = random_geometry(rng, 6);
    CAPTURE(describe(g));
    const auto x = rand_vec<double>(rng, xsize(g)), w = rand_vec<double>(rng, wsize(g));
    const auto b = rand_vec<double>(rng, g.OC), r = rand_vec<double>(rng, ysize(g));
    std::vector<double> dx(xsize(g)), dw(wsize(g)), db(g.OC);
    tg::conv2d_backward<double>(g, x.data(), w.data(), r.data(), dx.data(), dw.data(), db.data());
    CHECK(finite_difference_error(g, x, w, b, r, dx, dw, db) < 1e-7);
    // The check must catch a broken backward: zero dw, or dx off by 1%.
    std::vector<double> zeros(dw.size(), 0.0), dx_bad(dx);
    for (auto& v : dx_bad) v *= 1.01;
    // (Only where dw is not zero anyway: all taps may fall in the padding.)
    if (std::any_of(dw.begin(), dw.end(), [](double v) { return std::abs(v) > 0.1; }))
      CHECK(finite_difference_error(g, x, w, b, r, dx, zeros, db) > 1e-3);
    if (std::any_of(dx.begin(), dx.end(), [](double v) { return std::abs(v) > 0.1; }))
      CHECK(finite_difference_error(g, x, w, b, r, dx_bad, dw, db) > 1e-4);
  }
}

TEST_CASE("conv2d: null gradient pointers and N = 0") {
  std::mt19937 rng(9);
  Conv2dGeometry g{2, 4, 6, 6, 4, 3, 3};
  g.groups = 2;
  const auto x = rand_vec<float>(rng, xsize(g)), w = rand_vec<float>(rng, wsize(g));
  const auto dy = rand_vec<float>(rng, ysize(g));
  std::vector<float> dx(xsize(g)), dw(wsize(g)), db(g.OC), dw2(wsize(g));
  tg::conv2d_backward<float>(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
  tg::conv2d_backward<float>(g, x.data(), w.data(), dy.data(), nullptr, dw2.data(), nullptr);
  CHECK(dw == dw2);
  Conv2dGeometry empty = g;
  empty.N = 0;
  std::fill(dw2.begin(), dw2.end(), 3.f);
  tg::conv2d_backward<float>(empty, nullptr, w.data(), nullptr, nullptr, dw2.data(), db.data());
  CHECK(std::all_of(dw2.begin(), dw2.end(), [](float v) { return v == 0.f; }));
  Conv2dGeometry bad = g;
  bad.groups = 3;
  CHECK_THROWS(tg::conv2d_forward<float>(bad, x.data(), w.data(), nullptr, dx.data()));
}

TEST_CASE("conv2d: 1 and 2 threads give identical bits") {
  ThreadsGuard guard;
  std::mt19937 rng(17);
  Conv2dGeometry g{64, 6, 14, 14, 16, 5, 5};
  const auto x = rand_vec<float>(rng, xsize(g)), w = rand_vec<float>(rng, wsize(g));
  const auto b = rand_vec<float>(rng, g.OC), dy = rand_vec<float>(rng, ysize(g));
  std::vector<float> y[2], dx[2], dw[2], db[2];
  for (int t = 0; t < 2; ++t) {
    tg::set_num_threads(t + 1);
    y[t].resize(ysize(g));
    dx[t].resize(xsize(g));
    dw[t].resize(wsize(g));
    db[t].resize(g.OC);
    tg::conv2d_forward<float>(g, x.data(), w.data(), b.data(), y[t].data());
    tg::conv2d_backward<float>(g, x.data(), w.data(), dy.data(), dx[t].data(), dw[t].data(),
                               db[t].data());
  }
  CHECK(y[0] == y[1]);
  CHECK(dx[0] == dx[1]);
  CHECK(dw[0] == dw[1]);
  CHECK(db[0] == db[1]);
}

// ---------------------------------------------------------------------------
// Pooling

namespace {

// PyTorch's output size, written out again from its definition.
int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t p, bool ceil_mode) {
  const double v = double(in + 2 * p - k) / double(s);
  int64_t o = int64_t(ceil_mode ? std::ceil(v) : std::floor(v)) + 1;
  if (ceil_mode && (o - 1) * s >= in + p) --o;
  return o;
}

template <class T>
void max_pool_naive(const Pool2dGeometry& g, const std::vector<T>& x, std::vector<T>& y,
                    std::vector<int64_t>& arg) {
  const int64_t OH = g.OH(), OW = g.OW();
  y.assign(g.N * g.C * OH * OW, T(0));
  arg.assign(y.size(), -1);
  for (int64_t p = 0; p < g.N * g.C; ++p)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        T best = -std::numeric_limits<T>::infinity();
        int64_t a = -1;
        for (int64_t kh = 0; kh < g.KH; ++kh)
          for (int64_t kw = 0; kw < g.KW; ++kw) {
            const int64_t h = oh * g.stride_h - g.pad_h + kh, w = ow * g.stride_w - g.pad_w + kw;
            if (h < 0 || h >= g.H || w < 0 || w >= g.W) continue;
            const T v = x[p * g.H * g.W + h * g.W + w];
            if (a < 0 || v > best) best = v, a = h * g.W + w;
          }
        y[p * OH * OW + oh * OW + ow] = best;
        arg[p * OH * OW + oh * OW + ow] = a;
      }
}

template <class T>
void avg_pool_naive(const Pool2dGeometry& g, const std::vector<T>& x, std::vector<double>& y) {
  const int64_t OH = g.OH(), OW = g.OW();
  y.assign(g.N * g.C * OH * OW, 0);
  for (int64_t p = 0; p < g.N * g.C; ++p)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        double s = 0;
        int64_t inside = 0, padded = 0;
        for (int64_t kh = 0; kh < g.KH; ++kh)
          for (int64_t kw = 0; kw < g.KW; ++kw) {
            const int64_t h = oh * g.stride_h - g.pad_h + kh, w = ow * g.stride_w - g.pad_w + kw;
            // the padded window stops at H + pad (PyTorch)
            if (h >= g.H + g.pad_h || w >= g.W + g.pad_w) continue;
            ++padded;
            if (h < 0 || h >= g.H || w < 0 || w >= g.W) continue;
            ++inside;
            s += x[p * g.H * g.W + h * g.W + w];
          }
        y[p * OH * OW + oh * OW + ow] = s / double(g.count_include_pad ? padded : inside);
      }
}

Pool2dGeometry random_pool(std::mt19937& rng) {
  std::uniform_int_distribution<int> u(0, 1000);
  for (;;) {
    Pool2dGeometry g{};
    g.N = 1 + u(rng) % 2;
    g.C = 1 + u(rng) % 3;
    g.H = 1 + u(rng) % 11;
    g.W = 1 + u(rng) % 11;
    g.KH = 1 + u(rng) % 4;
    g.KW = 1 + u(rng) % 4;
    g.stride_h = 1 + u(rng) % 3;
    g.stride_w = 1 + u(rng) % 3;
    g.pad_h = u(rng) % (g.KH / 2 + 1);
    g.pad_w = u(rng) % (g.KW / 2 + 1);
    g.ceil_mode = u(rng) % 2;
    g.count_include_pad = u(rng) % 2;
    if (g.H + 2 * g.pad_h >= g.KH && g.W + 2 * g.pad_w >= g.KW) return g;
  }
}

}  // namespace

TEST_CASE("max_pool2d / avg_pool2d: match naive loops, PyTorch output sizes") {
  std::mt19937 rng(23);
  for (int i = 0; i < 200; ++i) {
    const Pool2dGeometry g = random_pool(rng);
    INFO("H=", g.H, " W=", g.W, " K=", g.KH, "x", g.KW, " s=", g.stride_h, "x", g.stride_w,
         " p=", g.pad_h, "x", g.pad_w, " ceil=", g.ceil_mode, " incl_pad=", g.count_include_pad);
    REQUIRE(g.OH() == pool_out(g.H, g.KH, g.stride_h, g.pad_h, g.ceil_mode));
    REQUIRE(g.OW() == pool_out(g.W, g.KW, g.stride_w, g.pad_w, g.ceil_mode));
    const int64_t n = g.N * g.C * g.H * g.W, m = g.N * g.C * g.OH() * g.OW();
    // distinct values (a shuffled ramp) keep max pooling away from ties
    std::vector<double> x(n);
    for (int64_t k = 0; k < n; ++k) x[k] = double(k) / double(n) - 0.5;
    std::shuffle(x.begin(), x.end(), rng);

    std::vector<double> y(m), yr;
    std::vector<int64_t> arg(m), argr;
    tg::max_pool2d_forward<double>(g, x.data(), y.data(), arg.data());
    max_pool_naive<double>(g, x, yr, argr);
    CHECK(y == yr);
    CHECK(arg == argr);
    // backward: dx[argmax] += dy, checked against the naive scatter
    const auto dy = rand_vec<double>(rng, m);
    std::vector<double> dx(n, 9.0), dxr(n, 0.0);
    tg::max_pool2d_backward<double>(g, dy.data(), arg.data(), dx.data());
    for (int64_t k = 0; k < m; ++k) dxr[(k / (g.OH() * g.OW())) * g.H * g.W + argr[k]] += dy[k];
    for (int64_t k = 0; k < n; ++k) REQUIRE(std::abs(dx[k] - dxr[k]) < 1e-12);

    std::vector<double> ya(m), yar;
    tg::avg_pool2d_forward<double>(g, x.data(), ya.data());
    avg_pool_naive<double>(g, x, yar);
    for (int64_t k = 0; k < m; ++k) REQUIRE(std::abs(ya[k] - yar[k]) < 1e-12);
    // avg backward against finite differences of L = sum(avg_pool(x) * dy):
    // the pool is linear, so the difference quotient is exact up to rounding.
    std::vector<double> dxa(n);
    tg::avg_pool2d_backward<double>(g, dy.data(), dxa.data());
    if (i % 10 == 0) {
      for (int64_t k = 0; k < n; ++k) {
        std::vector<double> xp(x), yp(m), ym(m);
        xp[k] += 1e-3;
        tg::avg_pool2d_forward<double>(g, xp.data(), yp.data());
        double num = 0;
        for (int64_t j = 0; j < m; ++j) num += (yp[j] - ya[j]) * dy[j];
        REQUIRE(std::abs(num / 1e-3 - dxa[k]) < 1e-9);
      }
    }
    // float matches double
    std::vector<float> xf(x.begin(), x.end()), yf(m);
    tg::avg_pool2d_forward<float>(g, xf.data(), yf.data());
    for (int64_t k = 0; k < m; ++k) REQUIRE(std::abs(yf[k] - yar[k]) < 1e-6);
  }
}

TEST_CASE("max_pool2d: NaN propagates, bad geometry throws") {
  Pool2dGeometry g{1, 1, 2, 2, 2, 2, 2, 2};
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x = {1.f, nan, 3.f, 2.f}, y(1);
  std::vector<int64_t> arg(1);
  tg::max_pool2d_forward<float>(g, x.data(), y.data(), arg.data());
  CHECK(std::isnan(y[0]));
  CHECK(arg[0] == 1);
  Pool2dGeometry bad = g;
  bad.pad_h = 2;
  CHECK_THROWS(tg::max_pool2d_forward<float>(bad, x.data(), y.data(), arg.data()));
}

TEST_CASE("max_pool2d: the 2x2 stride-2 fast path equals the general loop, ties and NaN included") {
  // H and W odd and even, values with many ties (first maximum wins), one NaN.
  for (int64_t W : {8, 9}) {
    Pool2dGeometry g{2, 3, 6, W, 2, 2, 2, 2};
    std::vector<double> x(size_t(g.N * g.C * g.H * g.W));
    for (size_t i = 0; i < x.size(); ++i) x[i] = double((i * 7) % 5);
    x[13] = std::numeric_limits<double>::quiet_NaN();
    std::vector<double> y(size_t(g.N * g.C * g.OH() * g.OW())), yr;
    std::vector<int64_t> arg(y.size()), argr;
    tg::max_pool2d_forward<double>(g, x.data(), y.data(), arg.data());
    max_pool_naive<double>(g, x, yr, argr);
    for (size_t k = 0; k < y.size(); ++k) {
      CAPTURE(k);
      if (std::isnan(y[k])) {
        CHECK(arg[k] == 13 - 0);  // the NaN's own position within plane 0
        continue;
      }
      CHECK(y[k] == yr[k]);
      CHECK(arg[k] == argr[k]);
    }
  }
}
