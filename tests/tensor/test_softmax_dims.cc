// softmax / log_softmax and amax / amin over a dim that is not the last one:
// the [O, R, I] column path (kernels::softmax_cols, max_cols / min_cols, no
// transposes) against a plain float64 reference, on odd R and I, both float
// dtypes (and int64 for amax), non-contiguous, empty, -inf, NaN and 1e30
// inputs; the kernels against their scalar twins on every Highway target; bits
// unchanged by the thread count, by how columns are split, and on the last-dim
// path; and gradchecks of the backward through the column path.
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "../common/test_util.h"
#include "autograd/gradcheck.h"
#include "tensor/kernels/elementwise.h"

using tg::Shape;
using tg::Tensor;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

Tensor uniform_t(const Shape& s, uint64_t seed, tg::DType dt, double lo = -4, double hi = 4) {
  tg::Generator g(seed);
  return tg::uniform(s, lo, hi, g, {.dtype = dt});
}

// O, R, I of x's shape around dim.
void split(const Shape& s, int dim, int64_t* O, int64_t* R, int64_t* I) {
  *O = *I = 1;
  *R = s[dim];
  for (int d = 0; d < s.size(); ++d) {
    if (d < dim) *O *= s[d];
    if (d > dim) *I *= s[d];
  }
}

// Plain float64 softmax / log_softmax over dim (x's values read as doubles).
std::vector<double> ref_softmax(const Tensor& x, int dim, bool log) {
  const std::vector<double> v = x.to_vector<double>();
  std::vector<double> y(v.size());
  int64_t O, R, I;
  split(x.shape(), dim, &O, &R, &I);
  for (int64_t o = 0; o < O; ++o)
    for (int64_t i = 0; i < I; ++i) {
      auto at = [&](int64_t r) { return size_t((o * R + r) * I + i); };
      double m = -kInf, s = 0;
      bool nan = false;
      for (int64_t r = 0; r < R; ++r) {
        nan = nan || std::isnan(v[at(r)]);
        m = std::max(m, v[at(r)]);
      }
      if (nan) m = NAN;
      for (int64_t r = 0; r < R; ++r) s += std::exp(v[at(r)] - m);
      for (int64_t r = 0; r < R; ++r) y[at(r)] = log ? (v[at(r)] - m) - std::log(s) : std::exp(v[at(r)] - m) / s;
    }
  return y;
}

// The scale a few roundings are measured in. softmax: y = exp(x - m) / s, and
// x - m is rounded in the input's precision, so y carries |x - m| ~ |log y|
// relative roundings of its own (exact in the float64 reference): y (1 + |log y|).
// log_softmax: (x - m) - log s, rounded at the size of its terms: |y| + 1.
double tol_scale(double want, bool log) {
  return log ? std::abs(want) + 1 : want * (1 + (want > 0 ? std::abs(std::log(want)) : 0));
}

// |got - want| within `ulps` float/double roundings of tol_scale (plus a
// denormal floor). Infinities and NaN must match.
void check_close(const Tensor& got, const std::vector<double>& want, bool log, double ulps = 8) {
  const double eps = got.dtype() == tg::kFloat32 ? 0x1p-24 : 0x1p-53;
  const double floor = got.dtype() == tg::kFloat32 ? 1e-37 : 1e-300;
  const std::vector<double> g = got.to_vector<double>();
  REQUIRE(g.size() == want.size());
  double worst = 0;
  for (size_t k = 0; k < g.size(); ++k) {
    if (std::isnan(want[k]) || std::isinf(want[k])) {
      CHECK_MESSAGE((std::isnan(want[k]) ? std::isnan(g[k]) : g[k] == want[k]), "at ", k, ": ", g[k], " vs ", want[k]);
      continue;
    }
    const double scale = tol_scale(want[k], log);
    const double err = std::abs(g[k] - want[k]) / (eps * scale + floor);
    worst = std::max(worst, err);
  }
  CHECK_MESSAGE(worst <= ulps, "worst error ", worst, " ulps (of the result's scale)");
}

// The last-dim path on the same values: dim moved last, contiguous, moved back.
Tensor via_last_dim(const Tensor& x, int dim, bool log) {
  const Tensor xt = x.transpose(dim, -1).contiguous();
  return (log ? tg::log_softmax(xt, -1) : tg::softmax(xt, -1)).transpose(dim, -1).contiguous();
}

Tensor run(const Tensor& x, int dim, bool log) { return log ? tg::log_softmax(x, dim) : tg::softmax(x, dim); }

}  // namespace

TEST_CASE("softmax_dims: non-last dims against a float64 reference, odd R and I, both dtypes") {
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64})
    for (bool log : {false, true})
      for (int64_t R : {1, 3, 17, 1000})
        for (int64_t I : {1, 2, 7, 33, 784}) {
          if (R * I > 200000) continue;
          CAPTURE(dt);
          CAPTURE(log);
          CAPTURE(R);
          CAPTURE(I);
          const Tensor x = uniform_t({3, R, I}, uint64_t(R * 1000 + I), dt, -8, 8);
          check_close(run(x, 1, log), ref_softmax(x, 1, log), log);
          const Tensor x0 = uniform_t({R, I}, uint64_t(R * 77 + I), dt, -8, 8);
          check_close(run(x0, 0, log), ref_softmax(x0, 0, log), log);
        }
}

TEST_CASE("softmax_dims: every dim of 3-D and 4-D tensors, negative dims") {
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64})
    for (bool log : {false, true}) {
      const Tensor a = uniform_t({5, 6, 7}, 3, dt), b = uniform_t({4, 3, 9, 5}, 4, dt);
      for (int d = 0; d < 3; ++d) check_close(run(a, d, log), ref_softmax(a, d, log), log);
      for (int d = 0; d < 4; ++d) check_close(run(b, d, log), ref_softmax(b, d, log), log);
      check_close(run(b, -3, log), ref_softmax(b, 1, log), log);
      // trailing size-1 dims (I == 1): the row kernels, the same bits as the last-dim path
      const Tensor c = uniform_t({6, 11, 1, 1}, 5, dt);
      CHECK(tgtest::bit_equal(run(c, 1, log), run(c.reshape({6, 11}), 1, log).reshape({6, 11, 1, 1})));
    }
}

TEST_CASE("softmax_dims: non-contiguous inputs (transposed, sliced, expanded)") {
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64})
    for (bool log : {false, true}) {
      const Tensor base = uniform_t({9, 20, 13}, 6, dt);
      const Tensor tr = base.transpose(0, 2);                  // [13, 20, 9]
      const Tensor sl = base.slice(1, 1, 19, 3).narrow(2, 2, 9);  // [9, 6, 9]
      const Tensor ex = uniform_t({1, 20, 13}, 7, dt).expand({4, 20, 13});
      const Tensor ex2 = uniform_t({20, 1}, 8, dt).expand({20, 5});  // constant along dim 1
      for (const Tensor& x : {tr, sl, ex})
        for (int d : {0, 1}) check_close(run(x, d, log), ref_softmax(x, d, log), log);
      check_close(run(ex2, 0, log), ref_softmax(ex2, 0, log), log);
      const Tensor t2 = uniform_t({40, 33}, 9, dt).t();  // [33, 40], dim 0 of a 2-D transpose
      check_close(run(t2, 0, log), ref_softmax(t2, 0, log), log);
    }
}

TEST_CASE("softmax_dims: empty and 0-d tensors") {
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64})
    for (bool log : {false, true}) {
      for (const Shape& s : {Shape{0, 5}, Shape{4, 0, 3}, Shape{4, 3, 0}, Shape{0}})
        for (int d = 0; d < s.size(); ++d) {
          const Tensor y = run(tg::zeros(s, {.dtype = dt}), d, log);
          CHECK(y.shape() == s);
          CHECK(y.numel() == 0);
        }
      const Tensor y0 = run(tg::full({}, 3.0, {.dtype = dt}), 0, log);
      CHECK(y0.item<double>() == (log ? 0.0 : 1.0));
    }
}

TEST_CASE("softmax_dims: -inf entries, all -inf and NaN columns, 1e30 values: as the reference and the last-dim path") {
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64})
    for (bool log : {false, true}) {
      CAPTURE(dt);
      CAPTURE(log);
      // [R = 5, I = 19]: column 0 all -inf, 1 some -inf, 2 a NaN, 3 +inf,
      // 4..6 1e30-scale, the rest ordinary.
      Tensor x = uniform_t({5, 19}, 10, tg::kFloat64);
      std::vector<double> v = x.to_vector<double>();
      for (int r = 0; r < 5; ++r) {
        v[size_t(r * 19 + 0)] = -kInf;
        if (r % 2) v[size_t(r * 19 + 1)] = -kInf;
        for (int c = 4; c <= 6; ++c) v[size_t(r * 19 + c)] = (r - 2) * 1e30 + c * 1e29;
      }
      v[size_t(3 * 19 + 2)] = NAN;
      v[size_t(2 * 19 + 3)] = kInf;
      v[size_t(4 * 19 + 5)] = -1e30;  // ties and mixed signs at 1e30
      x = tg::tensor(v, Shape{5, 19}).to(dt);
      const Tensor y = run(x, 0, log);
      check_close(y, ref_softmax(x, 0, log), log);
      // NaN / inf pattern and values as the last-dim path gives them
      const std::vector<double> a = y.to_vector<double>(), b = via_last_dim(x, 0, log).to_vector<double>();
      for (size_t k = 0; k < a.size(); ++k) {
        CAPTURE(k);
        CHECK(std::isnan(a[k]) == std::isnan(b[k]));
        if (!std::isnan(a[k]) && a[k] != b[k]) CHECK(a[k] == doctest::Approx(b[k]).epsilon(1e-5));
      }
      // column 0 (all -inf) and 2 (a NaN) and 3 (+inf with finite others: inf - inf) are NaN everywhere
      for (int r = 0; r < 5; ++r) {
        CHECK(std::isnan(a[size_t(r * 19)]));
        CHECK(std::isnan(a[size_t(r * 19 + 2)]));
      }
      // -inf entries: 0 (softmax) or -inf (log_softmax)
      CHECK(a[size_t(1 * 19 + 1)] == (log ? -kInf : 0.0));
    }
}

TEST_CASE("softmax_dims: 1 and 2 threads give the same bits, and so does any column split") {
  tgtest::ThreadsGuard guard;
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64})
    for (bool log : {false, true}) {
      const Tensor a = uniform_t({256, 1000}, 11, dt), b = uniform_t({64, 10, 28, 28}, 12, dt);
      const Tensor c = uniform_t({7, 33, 517}, 13, dt);
      tg::set_num_threads(1);
      const Tensor a1 = run(a, 0, log), b1 = run(b, 1, log), c1 = run(c, 1, log);
      const Tensor m1 = tg::amax(a, {0}), n1 = tg::amin(c, {1});
      tg::set_num_threads(2);
      CHECK(tgtest::bit_equal(a1, run(a, 0, log)));
      CHECK(tgtest::bit_equal(b1, run(b, 1, log)));
      CHECK(tgtest::bit_equal(c1, run(c, 1, log)));
      CHECK(tgtest::bit_equal(m1, tg::amax(a, {0})));
      CHECK(tgtest::bit_equal(n1, tg::amin(c, {1})));
    }
  // kernels, on every target: one call over w columns == calls over pieces of
  // odd widths at odd offsets (full and narrow strips give a column the same bits)
  tgtest::for_each_target([&](const std::string& target) {
    CAPTURE(target);
    const int64_t R = 37, ld = 101;
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(-5, 5);
    std::vector<float> x(size_t(R * ld)), dy(x.size());
    for (auto& e : x) e = u(rng);
    for (auto& e : dy) e = u(rng);
    for (int kind = 0; kind < 5; ++kind) {
      CAPTURE(kind);
      std::vector<float> whole(x.size()), parts(x.size());
      auto call = [&](int64_t i0, int64_t w, float* out) {
        switch (kind) {
          case 0: return tg::kernels::softmax_cols(x.data() + i0, out + i0, R, ld, w);
          case 1: return tg::kernels::log_softmax_cols(x.data() + i0, out + i0, R, ld, w);
          case 2: return tg::kernels::softmax_backward_cols(dy.data() + i0, x.data() + i0, out + i0, R, ld, w);
          case 3: return tg::kernels::log_softmax_backward_cols(dy.data() + i0, x.data() + i0, out + i0, R, ld, w);
          default: return tg::kernels::max_cols(x.data() + i0, out + i0, R, ld, w);
        }
      };
      call(0, ld, whole.data());
      for (int64_t i0 = 0, k = 1; i0 < ld; i0 += k, k += 4) call(i0, std::min(k, ld - i0), parts.data());
      CHECK(std::memcmp(whole.data(), parts.data(), x.size() * sizeof(float)) == 0);
    }
  });
}

TEST_CASE("softmax_dims: the last-dim path keeps the row kernels' bits") {
  for (int64_t n : {1, 5, 16, 1000}) {
    const Tensor x = uniform_t({9, n}, uint64_t(n), tg::kFloat32);
    const std::vector<float> v = x.to_vector<float>();
    std::vector<float> y(v.size()), ly(v.size());
    for (int64_t o = 0; o < 9; ++o) {
      tg::kernels::softmax_row(v.data() + o * n, y.data() + o * n, n);
      tg::kernels::log_softmax_row(v.data() + o * n, ly.data() + o * n, n);
    }
    CHECK(tgtest::bit_equal(tg::softmax(x, 1), tg::tensor(y, Shape{9, n})));
    CHECK(tgtest::bit_equal(tg::log_softmax(x, -1), tg::tensor(ly, Shape{9, n})));
  }
}

TEST_CASE("softmax_dims: softmax_cols / max_cols / min_cols against their scalar twins on every target") {
  tgtest::for_each_target([&](const std::string& target) {
    CAPTURE(target);
    for (int64_t R : {1, 2, 3, 17, 40})
      for (int64_t w : {1, 2, 7, 16, 33, 67})
        for (int mis = 0; mis < 2; ++mis) {
          const int64_t ld = w + 3;
          std::mt19937 rng(uint32_t(R * 100 + w + mis));
          std::uniform_real_distribution<double> u(-6, 6);
          std::vector<double> xd(size_t(R * ld + 1));
          for (auto& e : xd) e = u(rng);
          std::vector<float> xf(xd.begin(), xd.end());
          std::vector<double> xfd(xf.begin(), xf.end());
          std::vector<double> yr(xd.size()), yd(xd.size(), -7.0);
          std::vector<float> yf(xd.size(), -7.0f);
          for (bool log : {false, true}) {
            CAPTURE(log);
            if (log) {
              tg::kernels::log_softmax_cols(xd.data() + mis, yd.data() + mis, R, ld, w);
              tg::kernels::log_softmax_cols(xf.data() + mis, yf.data() + mis, R, ld, w);
            } else {
              tg::kernels::softmax_cols(xd.data() + mis, yd.data() + mis, R, ld, w);
              tg::kernels::softmax_cols(xf.data() + mis, yf.data() + mis, R, ld, w);
            }
            for (const bool f32 : {false, true}) {
              if (log) tg::kernels::log_softmax_cols_ref((f32 ? xfd : xd).data() + mis, yr.data() + mis, R, ld, w);
              else tg::kernels::softmax_cols_ref((f32 ? xfd : xd).data() + mis, yr.data() + mis, R, ld, w);
              const double eps = f32 ? 0x1p-24 : 0x1p-53;
              for (int64_t r = 0; r < R; ++r)
                for (int64_t i = 0; i < ld; ++i) {
                  const size_t k = size_t(mis + r * ld + i);
                  const double got = f32 ? double(yf[k]) : yd[k];
                  if (i >= w) {  // columns past w untouched
                    CHECK(got == -7.0);
                    continue;
                  }
                  if (std::abs(got - yr[k]) > 8 * eps * tol_scale(yr[k], log) + 1e-300) {
                    CHECK_MESSAGE(false, "got ", got, ", want ", yr[k], " at r ", r, " i ", i, " f32 ", f32);
                    return;
                  }
                }
            }
          }
          std::vector<double> md(static_cast<size_t>(w)), mr(static_cast<size_t>(w));
          std::vector<float> mf(static_cast<size_t>(w));
          tg::kernels::max_cols(xd.data() + mis, md.data(), R, ld, w);
          tg::kernels::max_cols_ref(xd.data() + mis, mr.data(), R, ld, w);
          CHECK(md == mr);
          tg::kernels::min_cols(xd.data() + mis, md.data(), R, ld, w);
          tg::kernels::min_cols_ref(xd.data() + mis, mr.data(), R, ld, w);
          CHECK(md == mr);
          tg::kernels::max_cols(xf.data() + mis, mf.data(), R, ld, w);
          tg::kernels::max_cols_ref(xfd.data() + mis, mr.data(), R, ld, w);
          CHECK(std::vector<double>(mf.begin(), mf.end()) == mr);
        }
  });
}

namespace {
// amax / amin over dims by brute force in double (NaN wins).
std::vector<double> ref_extreme(const Tensor& x, const std::vector<int>& dims, bool is_max) {
  const Shape s = x.shape();
  const std::vector<double> v = x.to_vector<double>();
  Shape os = s;
  for (int d : dims) os[d] = 1;
  std::vector<double> out(size_t(os.numel()), is_max ? -kInf : kInf);
  std::vector<bool> seen_nan(out.size(), false);
  std::vector<int64_t> idx(size_t(s.size()), 0);
  for (size_t k = 0; k < v.size(); ++k) {
    int64_t rem = int64_t(k), oi = 0;
    for (int d = s.size() - 1; d >= 0; --d) {
      idx[size_t(d)] = rem % s[d];
      rem /= s[d];
    }
    for (int d = 0; d < s.size(); ++d) oi = oi * os[d] + (os[d] == 1 ? 0 : idx[size_t(d)]);
    if (seen_nan[size_t(oi)]) continue;
    if (std::isnan(v[k])) {
      seen_nan[size_t(oi)] = true;
      out[size_t(oi)] = v[k];
    } else {
      out[size_t(oi)] = is_max ? std::max(out[size_t(oi)], v[k]) : std::min(out[size_t(oi)], v[k]);
    }
  }
  return out;
}
void check_extreme(const Tensor& x, const std::vector<int64_t>& dims) {
  std::vector<int> di(dims.begin(), dims.end());
  for (bool is_max : {true, false})
    for (bool keepdim : {false, true}) {
      const Tensor y = is_max ? tg::amax(x, dims, keepdim) : tg::amin(x, dims, keepdim);
      const std::vector<double> got = y.to_vector<double>(), want = ref_extreme(x, di, is_max);
      REQUIRE(got.size() == want.size());
      for (size_t k = 0; k < got.size(); ++k) {
        if (std::isnan(want[k])) CHECK(std::isnan(got[k]));
        else CHECK(got[k] == want[k]);
      }
    }
}
}  // namespace

TEST_CASE("softmax_dims: amax / amin over non-last dims, every dtype, odd shapes, NaN, non-contiguous") {
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64, tg::kInt64}) {
    CAPTURE(dt);
    for (int64_t R : {1, 3, 17, 1000})
      for (int64_t I : {2, 7, 33, 784}) {
        if (R * I > 200000) continue;
        Tensor x = uniform_t({2, R, I}, uint64_t(R + I), tg::kFloat64, -1000, 1000);
        if (dt == tg::kInt64) x = x.to(tg::kInt64);
        else x = x.to(dt);
        check_extreme(x, {1});
      }
    Tensor b = uniform_t({4, 3, 9, 5}, 21, tg::kFloat64, -50, 50).to(dt);
    check_extreme(b, {0});
    check_extreme(b, {1, 2});
    check_extreme(b, {0, 1, 2});
    check_extreme(b, {2});
    check_extreme(b.transpose(1, 3), {1});
    check_extreme(b.slice(2, 1, 9, 2), {2});
    check_extreme(tg::full({1, 6}, 2.0, {.dtype = dt}).expand({5, 6}), {0});
    // empty kept dims: nothing to reduce into
    CHECK(tg::amax(tg::zeros({0, 3, 4}, {.dtype = dt}), {1}).shape() == Shape{0, 4});
    CHECK(tg::amin(tg::zeros({2, 3, 0}, {.dtype = dt}), {1}).shape() == Shape{2, 0});
  }
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64}) {  // NaN and infinities down columns
    std::vector<double> v(6 * 19);
    for (size_t k = 0; k < v.size(); ++k) v[k] = double(k % 7) - 3;
    v[2 * 19 + 4] = NAN;
    v[5 * 19 + 18] = NAN;
    v[0 * 19 + 7] = kInf;
    v[3 * 19 + 8] = -kInf;
    check_extreme(tg::tensor(v, Shape{6, 19}).to(dt), {0});
    check_extreme(tg::tensor(v, Shape{2, 3, 19}).to(dt), {1});
  }
}

TEST_CASE("softmax_dims: gradcheck through the column path") {
  using V = const std::vector<Tensor>&;
  auto leaf = [](const Shape& s, uint64_t seed) {
    Tensor t = uniform_t(s, seed, tg::kFloat64, -2, 2);
    t.requires_grad_();
    return t;
  };
  const Tensor a = leaf({3, 4, 5}, 31), b = leaf({2, 3, 2, 3}, 32);
  Tensor w = uniform_t({3, 4, 5}, 33, tg::kFloat64);  // weights so Σ softmax = 1 does not hide errors
  for (bool log : {false, true})
    for (int d : {0, 1}) {
      CAPTURE(log);
      CAPTURE(d);
      auto r = tg::autograd::gradcheck([&](V x) { return (run(x[0], d, log) * w).sum(); }, {a});
      INFO(r.report);
      CHECK(r.ok);
      auto r2 = tg::autograd::gradcheck([&](V x) { return run(x[0], d + 1, log); }, {b});
      INFO(r2.report);
      CHECK(r2.ok);
      auto r3 = tg::autograd::gradcheck([&](V x) { return run(x[0].transpose(0, 2), d, log); }, {a});
      INFO(r3.report);
      CHECK(r3.ok);
    }
  // the check can fail: a softmax whose backward drops the Σ dy·y term
  auto broken = tg::autograd::gradcheck(
      [&](V x) { return (tg::softmax(x[0], 0).detach() + x[0] * tg::softmax(x[0], 0).detach() - x[0].detach() * tg::softmax(x[0], 0).detach()) * w; }, {a});
  CHECK_FALSE(broken.ok);
}

TEST_CASE("softmax_dims: the one-pass backward against its twin, the recorded backward and 1 vs 2 threads") {
  tgtest::for_each_target([&](const std::string& target) {
    CAPTURE(target);
    for (int64_t R : {1, 3, 17, 40})
      for (int64_t w : {1, 2, 7, 33}) {
        const int64_t ld = w + 2;
        std::mt19937 rng(uint32_t(R * 31 + w));
        std::uniform_real_distribution<double> u(-1, 1);
        std::vector<double> g(size_t(R * ld)), y(g.size()), dx(g.size(), -7.0), dr(g.size());
        for (auto& e : g) e = u(rng);
        for (auto& e : y) e = u(rng) * 0.5 - 0.6;  // log-probabilities, and softmax-like values
        for (bool log : {false, true}) {
          if (log) {
            tg::kernels::log_softmax_backward_cols(g.data(), y.data(), dx.data(), R, ld, w);
            tg::kernels::log_softmax_backward_cols_ref(g.data(), y.data(), dr.data(), R, ld, w);
          } else {
            tg::kernels::softmax_backward_cols(g.data(), y.data(), dx.data(), R, ld, w);
            tg::kernels::softmax_backward_cols_ref(g.data(), y.data(), dr.data(), R, ld, w);
          }
          for (int64_t r = 0; r < R; ++r)
            for (int64_t i = 0; i < w; ++i) {
              const size_t k = size_t(r * ld + i);
              CHECK(std::abs(dx[k] - dr[k]) <= 1e-14 * (1 + double(R)));
            }
        }
      }
  });
  tgtest::ThreadsGuard guard;
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64})
    for (bool log : {false, true}) {
      CAPTURE(dt);
      CAPTURE(log);
      Tensor x = uniform_t({64, 10, 7, 9}, 41, dt);
      x.requires_grad_();
      const Tensor dy = uniform_t({64, 10, 7, 9}, 42, dt);
      auto grad_of = [&](bool create_graph) {
        return tg::autograd::grad({run(x, 1, log)}, {x}, {.grad_outputs = {dy}, .create_graph = create_graph})[0].detach();
      };
      tg::set_num_threads(1);
      const Tensor g1 = grad_of(false);
      tg::set_num_threads(2);
      CHECK(tgtest::bit_equal(g1, grad_of(false)));
      // create_graph records the composite backward: the same values
      const double tol = dt == tg::kFloat32 ? 1e-6 : 1e-14;
      CHECK(tgtest::max_abs_diff(g1, grad_of(true)) <= tol);
      // a sum's expanded dy (stride 0) goes through the one-pass backward too
      const Tensor gs = tg::autograd::grad({(run(x, 1, log) * dy).sum()}, {x})[0];
      CHECK(tgtest::max_abs_diff(g1, gs) <= tol);
    }
}

TEST_CASE("softmax_dims: second-order gradcheck through a non-last dim (the recorded backward)") {
  Tensor a = uniform_t({3, 4, 5}, 51, tg::kFloat64, -2, 2);
  a.requires_grad_();
  const Tensor w = uniform_t({3, 4, 5}, 52, tg::kFloat64);
  for (bool log : {false, true}) {
    CAPTURE(log);
    auto r = tg::autograd::gradcheck(
        [&](const std::vector<Tensor>& x) {
          tg::EnableGradGuard eg;  // gradcheck's finite differences run under no-grad
          const Tensor y = (run(x[0], 1, log) * w).sum();
          return tg::autograd::grad({y}, {x[0]}, {.create_graph = true})[0];
        },
        {a});
    INFO(r.report);
    CHECK(r.ok);
  }
}
