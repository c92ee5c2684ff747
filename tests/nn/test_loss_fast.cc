// The one-pass loss and normalization paths of nn::functional against plain
// double references: cross_entropy's SIMD rows (C >= 32; the scalar rows below
// keep the old loop's bits), batch_norm in eval mode (y = x · scale + shift),
// and the fused smooth_l1_loss (the composite's bits forward). Odd sizes,
// float32 and float64, non-contiguous inputs, every reduction, class weights,
// ignore_index and label smoothing, 1 vs 2 threads, gradchecks, and the
// kernels of tensor/kernels/loss.h against their scalar twins on every target.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "../common/test_util.h"
#include "tensor/kernels/loss.h"

using tg::Shape;
using tg::Tensor;
namespace nn = tg::nn;
namespace F = tg::nn::functional;
namespace K = tg::kernels;

namespace {

// gradcheck with every input a leaf that requires grad
bool gc(const tg::autograd::GradcheckFn& fn, const std::vector<Tensor>& in_) {
  std::vector<Tensor> in;
  for (const Tensor& t : in_) in.push_back(t.detach().clone().requires_grad_());
  auto r = tg::autograd::gradcheck(fn, in);
  if (!r.ok) MESSAGE(r.report);
  return r.ok;
}

Tensor randn_t(const Shape& s, uint64_t seed, tg::DType dt = tg::kFloat64, double scale = 1.0) {
  tg::Generator g(seed);
  return (tg::randn(s, g, {.dtype = tg::kFloat64}) * scale).to(dt);
}

// a non-contiguous [N, C] with the same values: stored as [C, N] and transposed
Tensor transposed_copy(const Tensor& x) { return x.t().contiguous().t(); }

// ---- cross_entropy: double reference (loss per row and dloss/dx for dy per row)
struct CeRef {
  std::vector<double> l, dx;
};
CeRef ce_ref(const std::vector<double>& x, int64_t N, int64_t C, const std::vector<int64_t>& t,
             const std::vector<double>& cw, int64_t ignore, double eps, const std::vector<double>& dy) {
  CeRef r;
  r.l.assign(size_t(N), 0.0);
  r.dx.assign(size_t(N * C), 0.0);
  for (int64_t i = 0; i < N; ++i) {
    if (t[size_t(i)] == ignore) continue;
    const double* xr = x.data() + i * C;
    double m = xr[0];
    for (int64_t c = 1; c < C; ++c) m = std::max(m, xr[c]);
    long double s = 0;
    for (int64_t c = 0; c < C; ++c) s += std::exp((long double)(xr[c] - m));
    const double lse = m + double(std::log(s));
    std::vector<double> a(static_cast<size_t>(C));
    double S = 0;
    for (int64_t c = 0; c < C; ++c) {
      a[size_t(c)] = eps / double(C) * (cw.empty() ? 1.0 : cw[size_t(c)]);
      if (c == t[size_t(i)]) a[size_t(c)] += (1 - eps) * (cw.empty() ? 1.0 : cw[size_t(c)]);
      S += a[size_t(c)];
    }
    double l = 0;
    for (int64_t c = 0; c < C; ++c) {
      l += a[size_t(c)] * (lse - xr[c]);
      const double p = double(std::exp((long double)(xr[c] - m)) / s);
      r.dx[size_t(i * C + c)] = dy[size_t(i)] * (S * p - a[size_t(c)]);
    }
    r.l[size_t(i)] = l;
  }
  return r;
}

// The scalar loop cross_entropy had before the SIMD rows (kept for C < 32):
// the loss and the first-order gradient for dy per row, bit for bit.
template <class T>
void ce_old(const T* xp, int64_t N, int64_t C, const std::vector<int64_t>& t, const std::vector<double>& cw_in,
            int64_t ignore, double eps, const T* gp, T* lp, T* dp) {
  std::vector<double> cw = cw_in.empty() ? std::vector<double>(size_t(C), 1.0) : cw_in;
  double cw_sum = 0;
  for (double v : cw) cw_sum += v;
  std::vector<T> P(static_cast<size_t>(C));
  for (int64_t i = 0; i < N; ++i) {
    const T* xr = xp + i * C;
    T* pr = P.data();
    T m = xr[0];
    for (int64_t c = 1; c < C; ++c) m = std::max(m, xr[c]);
    double s = 0;
    for (int64_t c = 0; c < C; ++c) s += double(pr[c] = std::exp(xr[c] - m));
    const T inv = T(1.0 / s), ls = T(std::log(s));
    for (int64_t c = 0; c < C; ++c) pr[c] *= inv;
    const bool ign = t[size_t(i)] == ignore;
    const double wi = ign ? 0.0 : cw[size_t(t[size_t(i)])];
    double l = 0;
    if (!ign) {
      l = (1 - eps) * wi * double((m - xr[t[size_t(i)]]) + ls);
      if (eps > 0) {
        double sm = 0;
        for (int64_t c = 0; c < C; ++c) sm += cw[size_t(c)] * double((m - xr[c]) + ls);
        l += eps / double(C) * sm;
      }
    }
    lp[i] = T(l);
    T* dr = dp + i * C;
    if (ign) {
      std::fill(dr, dr + C, T(0));
      continue;
    }
    const double g = double(gp[i]);
    const double smooth = eps / double(C);
    const double S = (1 - eps) * wi + smooth * cw_sum;
    for (int64_t k = 0; k < C; ++k) dr[k] = T(g * (S * double(pr[k]) - smooth * cw[size_t(k)]));
    dr[t[size_t(i)]] -= T(g * (1 - eps) * wi);
  }
}

struct CeCase {
  bool weights;
  int64_t ignore;  // -100: none of the targets
  double eps;
};

}  // namespace

TEST_CASE("loss_fast: cross_entropy over many classes matches a double reference (SIMD rows)") {
  const std::vector<CeCase> cases = {{false, -100, 0.0}, {true, -100, 0.0}, {false, 2, 0.0}, {true, 1, 0.1},
                                     {false, -100, 0.25}};
  for (int64_t C : {32, 33, 257, 1001, 4099}) {
    const int64_t N = 5;
    for (tg::DType dt : {tg::kFloat32, tg::kFloat64}) {
      for (const CeCase& cc : cases) {
        for (bool noncontig : {false, true}) {
          CAPTURE(C);
          CAPTURE(dt);
          CAPTURE(cc.weights);
          CAPTURE(cc.ignore);
          CAPTURE(cc.eps);
          CAPTURE(noncontig);
          const Tensor x0 = randn_t({N, C}, uint64_t(C) * 7 + 1, dt, 3.0);
          tg::Generator g{uint64_t(C)};
          std::vector<int64_t> t(static_cast<size_t>(N));
          for (int64_t i = 0; i < N; ++i) t[size_t(i)] = g.randint(0, C);
          t[1] = 1;
          t[3] = 2;  // ignored when ignore = 2
          std::vector<double> cw;
          Tensor wt;
          if (cc.weights) {
            wt = (tg::rand({C}, g, {.dtype = tg::kFloat64}) + 0.5).to(dt);
            cw = wt.to_vector<double>();
          }
          const std::vector<double> dyv = randn_t({N}, 99).to_vector<double>();
          const CeRef ref = ce_ref(x0.to_vector<double>(), N, C, t, cw, cc.ignore, cc.eps, dyv);
          const double tol = dt == tg::kFloat32 ? 2e-6 : 1e-13;
          for (nn::Reduction red : {nn::Reduction::None, nn::Reduction::Sum, nn::Reduction::Mean}) {
            Tensor x = (noncontig ? transposed_copy(x0) : x0.clone()).requires_grad_();
            CHECK(x.is_contiguous() == !noncontig);
            const nn::CrossEntropyOptions o{
                .weight = wt, .ignore_index = cc.ignore, .reduction = red, .label_smoothing = cc.eps};
            Tensor l = F::cross_entropy(x, tg::tensor(t), o);
            double total_w = 0;
            for (int64_t i = 0; i < N; ++i)
              if (t[size_t(i)] != cc.ignore) total_w += cw.empty() ? 1.0 : cw[size_t(t[size_t(i)])];
            if (red == nn::Reduction::None) {
              const auto lv = l.to_vector<double>();
              for (int64_t i = 0; i < N; ++i)
                CHECK(std::abs(lv[size_t(i)] - ref.l[size_t(i)]) <= tol * (1 + std::abs(ref.l[size_t(i)])));
              l.backward(tg::tensor(dyv).to(dt));
              const auto gx = x.grad().to_vector<double>();
              double err = 0;
              for (size_t k = 0; k < gx.size(); ++k) err = std::max(err, std::abs(gx[k] - ref.dx[k]));
              CHECK(err <= tol * 4);
            } else {
              double want = 0;
              for (double v : ref.l) want += v;
              if (red == nn::Reduction::Mean) want /= total_w;
              CHECK(std::abs(l.item<double>() - want) <= tol * (1 + std::abs(want)));
              l.backward();
              // d sum / dx = ref.dx at dy = 1: rebuild with dy = 1 (mean: 1 / total)
              const std::vector<double> ones(size_t(N), red == nn::Reduction::Mean ? 1.0 / total_w : 1.0);
              const CeRef r1 = ce_ref(x0.to_vector<double>(), N, C, t, cw, cc.ignore, cc.eps, ones);
              const auto gx = x.grad().to_vector<double>();
              double err = 0;
              for (size_t k = 0; k < gx.size(); ++k) err = std::max(err, std::abs(gx[k] - r1.dx[k]));
              CHECK(err <= tol);
            }
          }
        }
      }
    }
  }
}

TEST_CASE("loss_fast: cross_entropy below 32 classes keeps the scalar loop's bits (MNIST's 10)") {
  const std::vector<CeCase> cases = {{false, -100, 0.0}, {true, 3, 0.0}, {true, -100, 0.1}};
  for (int64_t C : {1, 2, 10, 17, 31}) {
    const int64_t N = 7;
    for (const CeCase& cc : cases) {
      CAPTURE(C);
      CAPTURE(cc.eps);
      auto run = [&](auto tag) {
        using T = decltype(tag);
        const tg::DType dt = std::is_same_v<T, float> ? tg::kFloat32 : tg::kFloat64;
        const Tensor x0 = randn_t({N, C}, uint64_t(C) + 5, dt, 4.0);
        tg::Generator g{uint64_t(C) + 1};
        std::vector<int64_t> t(static_cast<size_t>(N));
        for (int64_t i = 0; i < N; ++i) t[size_t(i)] = g.randint(0, C);
        if (C > 3) t[2] = 3;
        std::vector<double> cw;
        Tensor wt;
        if (cc.weights) {
          wt = (tg::rand({C}, g, {.dtype = tg::kFloat64}) + 0.5).to(dt);
          cw = wt.to_vector<double>();
        }
        const Tensor dy = randn_t({N}, 17, dt);
        std::vector<T> lw(static_cast<size_t>(N)), dxw(static_cast<size_t>(N * C));
        const std::vector<T> xv = x0.to_vector<T>(), dyv = dy.to_vector<T>();
        ce_old<T>(xv.data(), N, C, t, cw, cc.ignore, cc.eps, dyv.data(), lw.data(), dxw.data());
        Tensor x = x0.clone().requires_grad_();
        Tensor l = F::cross_entropy(
            x, tg::tensor(t), {.weight = wt, .ignore_index = cc.ignore, .reduction = nn::Reduction::None,
                               .label_smoothing = cc.eps});
        CHECK(l.to_vector<T>() == lw);
        l.backward(dy);
        CHECK(x.grad().to_vector<T>() == dxw);
        // without grad (no P kept) the loss has the same bits
        tg::NoGradGuard ng;
        CHECK(F::cross_entropy(x0, tg::tensor(t), {.weight = wt, .ignore_index = cc.ignore,
                                                   .reduction = nn::Reduction::None, .label_smoothing = cc.eps})
                  .to_vector<T>() == lw);
      };
      run(float());
      run(double());
    }
  }
}

TEST_CASE("loss_fast: cross_entropy SIMD rows: NaN, -inf and huge logits as the scalar rows") {
  const int64_t C = 300;
  std::vector<float> v(size_t(3 * C), 0.5f);
  v[5] = std::numeric_limits<float>::quiet_NaN();                      // row 0: NaN loss
  for (int64_t c = 0; c < C; ++c) v[size_t(C + c)] = c == 7 ? 1e30f : -std::numeric_limits<float>::infinity();
  v[size_t(2 * C + 9)] = 200.0f;                                        // row 2: exp(x - m) over range
  const Tensor x = tg::tensor(v, {3, C});
  const auto l = F::cross_entropy(x, tg::tensor(std::vector<int64_t>{0, 7, 9}), {.reduction = nn::Reduction::None})
                     .to_vector<float>();
  CHECK(std::isnan(l[0]));
  CHECK(l[1] == 0.0f);  // one finite logit among -inf: p = 1
  CHECK(l[2] == doctest::Approx(0.0).epsilon(1e-6));
  // ignored rows are 0 whatever the logits
  const auto li = F::cross_entropy(x, tg::tensor(std::vector<int64_t>{-100, 7, 9}), {.reduction = nn::Reduction::None})
                      .to_vector<float>();
  CHECK(li[0] == 0.0f);
}

TEST_CASE("loss_fast: cross_entropy gives the same bits at 1 and 2 threads (SIMD and scalar rows)") {
  tgtest::ThreadsGuard tgd;
  for (int64_t C : {10, 1000, 5003}) {
    CAPTURE(C);
    const int64_t N = 64;
    const Tensor x0 = randn_t({N, C}, 3, tg::kFloat32, 2.0);
    const Tensor t = tg::randint(0, C, {N});
    auto run = [&](int threads) {
      tg::set_num_threads(threads);
      Tensor x = x0.clone().requires_grad_();
      Tensor l = F::cross_entropy(x, t, {.label_smoothing = 0.05});
      l.backward();
      return std::make_pair(l, x.grad());
    };
    const auto a = run(1), b = run(2);
    CHECK(tgtest::bit_equal(a.first, b.first));
    CHECK(tgtest::bit_equal(a.second, b.second));
  }
}

TEST_CASE("loss_fast: cross_entropy gradcheck over 300 classes (weights, ignore_index, smoothing)") {
  const int64_t N = 3, C = 300;
  const Tensor x = randn_t({N, C}, 21);
  const Tensor t = tg::tensor(std::vector<int64_t>{5, 299, 0});
  const Tensor w = tg::rand({C}, {.dtype = tg::kFloat64}) + 0.5;
  CHECK(gc([&](const std::vector<Tensor>& v) {
    return F::cross_entropy(v[0], t, {.weight = w, .ignore_index = 0, .reduction = nn::Reduction::Sum,
                                      .label_smoothing = 0.2});
  }, {x}));
  // second order: the create_graph backward
  CHECK(gc([&](const std::vector<Tensor>& v) {
    tg::EnableGradGuard eg;
    Tensor l = F::cross_entropy(v[0], t, {.label_smoothing = 0.1});
    auto gr = tg::autograd::grad({l}, {v[0]}, {.create_graph = true});
    return (gr[0] * gr[0]).sum();
  }, {x}));
}

TEST_CASE("loss_fast: loss kernels equal their scalar twins on every target (odd lengths, misaligned)") {
  tgtest::for_each_target([&](const std::string& target) {
    CAPTURE(target);
    for (int64_t n : {0, 1, 3, 7, 8, 15, 16, 17, 31, 33, 257, 1001}) {
      CAPTURE(n);
      auto run = [&](auto tag) {
        using T = decltype(tag);
        const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-14;
        std::vector<T> xs(static_cast<size_t>(n + 1)), ts(static_cast<size_t>(n + 1)), gs(static_cast<size_t>(n + 1));
        std::vector<double> ws(static_cast<size_t>(n + 1));
        tg::Generator g{uint64_t(n) + 3};
        for (int64_t i = 0; i <= n; ++i) {
          xs[size_t(i)] = T((g.next_double() * 2 - 1) * 4);
          ts[size_t(i)] = T((g.next_double() * 2 - 1) * 4);
          gs[size_t(i)] = T(g.next_double() * 2 - 1);
          ws[size_t(i)] = g.next_double() + 0.5;
        }
        const T* x = xs.data() + 1;  // misaligned
        const T* t = ts.data() + 1;
        T m = n ? *std::max_element(x, x + n) : T(0);
        std::vector<T> e(static_cast<size_t>(n)), er(static_cast<size_t>(n));
        const double s = K::exp_sum_row(x, m, e.data(), n), sr = K::exp_sum_row_ref(x, m, er.data(), n);
        CHECK(std::abs(s - sr) <= tol * sr + 1e-300);
        CHECK(K::exp_sum_row(x, m, nullptr, n) == s);
        for (int64_t i = 0; i < n; ++i) CHECK(std::abs(double(e[size_t(i)] - er[size_t(i)])) <= 4 * tol);
        const T ls = T(std::log(std::max(s, 1.0)));
        for (const double* w : {(const double*)nullptr, (const double*)ws.data() + 1}) {
          const double a = K::smooth_sum_row(x, m, ls, w, n), b = K::smooth_sum_row_ref(x, m, ls, w, n);
          CHECK(std::abs(a - b) <= 1e-12 * (1 + std::abs(b)));
          std::vector<T> d1(static_cast<size_t>(n)), d2(static_cast<size_t>(n));
          K::xent_backward_row(x, w, d1.data(), 0.7, 1.3, 0.01, n);
          K::xent_backward_row_ref(x, w, d2.data(), 0.7, 1.3, 0.01, n);
          for (int64_t i = 0; i < n; ++i)
            CHECK(std::abs(double(d1[size_t(i)] - d2[size_t(i)])) <= tol * (1 + std::abs(double(d2[size_t(i)]))));
        }
        std::vector<T> y1(static_cast<size_t>(n)), y2(static_cast<size_t>(n));
        K::scale(x, T(0.3), y1.data(), n);
        for (int64_t i = 0; i < n; ++i) CHECK(y1[size_t(i)] == x[i] * T(0.3));
        // channel_affine as [n] channels of 1 and as [1] channel of n; and [3, n]
        std::vector<T> a(static_cast<size_t>(std::max<int64_t>(n, 3))), b(a.size());
        for (size_t i = 0; i < a.size(); ++i) {
          a[i] = T(0.5 + 0.01 * double(i));
          b[i] = T(-0.2 * double(i));
        }
        for (const T* sh : {(const T*)nullptr, (const T*)b.data()}) {
          K::channel_affine(x, a.data(), sh, y1.data(), n, 1);
          K::channel_affine_ref(x, a.data(), sh, y2.data(), n, 1);
          for (int64_t i = 0; i < n; ++i)
            CHECK(std::abs(double(y1[size_t(i)] - y2[size_t(i)])) <= 2 * tol * (1 + std::abs(double(y2[size_t(i)]))));
          if (n % 3 == 0 && n > 0) {
            K::channel_affine(x, a.data(), sh, y1.data(), 3, n / 3);
            K::channel_affine_ref(x, a.data(), sh, y2.data(), 3, n / 3);
            for (int64_t i = 0; i < n; ++i)
              CHECK(std::abs(double(y1[size_t(i)] - y2[size_t(i)])) <= 2 * tol * (1 + std::abs(double(y2[size_t(i)]))));
          }
        }
        for (double beta : {0.0, 0.5, 1.0, 2.5}) {
          CAPTURE(beta);
          std::vector<T> l1(static_cast<size_t>(n)), l2(static_cast<size_t>(n)), dx1(static_cast<size_t>(n)), dx2(static_cast<size_t>(n)), dt1(static_cast<size_t>(n)), dt2(static_cast<size_t>(n));
          const double s1 = double(K::smooth_l1_forward(x, t, l1.data(), n, beta));
          const double s2 = K::smooth_l1_forward_ref(x, t, l2.data(), n, beta);
          CHECK(l1 == l2);  // elementwise: the same roundings
          CHECK(std::abs(s1 - s2) <= tol * (1 + std::abs(s2)) * 4);
          CHECK(double(K::smooth_l1_forward(x, t, nullptr, n, beta)) == s1);
          for (const T* dy : {(const T*)nullptr, (const T*)gs.data() + 1}) {
            K::smooth_l1_backward(x, t, dy, T(0.25), dx1.data(), dt1.data(), n, beta);
            K::smooth_l1_backward_ref(x, t, dy, T(0.25), dx2.data(), dt2.data(), n, beta);
            CHECK(dx1 == dx2);
            CHECK(dt1 == dt2);
          }
        }
      };
      run(float());
      run(double());
    }
    // exp_sum_row's guards: NaN stays NaN, -inf gives 0, m = +inf gives NaN
    const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> v(37, 0.0f), e(37);
    v[20] = -inf;
    CHECK(K::exp_sum_row(v.data(), 0.0f, e.data(), 37) == 36.0);
    CHECK(e[20] == 0.0f);
    v[35] = nan;
    CHECK(std::isnan(K::exp_sum_row(v.data(), 0.0f, e.data(), 37)));
    CHECK(std::isnan(e[35]));
    v[35] = 0.0f;
    CHECK(K::exp_sum_row(v.data(), inf, nullptr, 37) == 0.0);  // exp(-inf)
    v[3] = inf;
    CHECK(std::isnan(K::exp_sum_row(v.data(), inf, nullptr, 37)));  // exp(inf - inf)
    CHECK(std::isnan(K::exp_sum_row_ref(v.data(), inf, nullptr, 37)));
  });
}

// ---- batch_norm in eval mode
namespace {
// y = (x - rm) / sqrt(rv + eps) · w + b over x [N, C, *], in double
std::vector<double> bn_ref(const Tensor& x, const std::vector<double>& rm, const std::vector<double>& rv,
                           const std::vector<double>& w, const std::vector<double>& b, double eps) {
  const std::vector<double> xv = x.contiguous().to_vector<double>();
  const int64_t C = x.size(1), inner = x.numel() / (x.size(0) * C);
  std::vector<double> y(xv.size());
  for (size_t k = 0; k < xv.size(); ++k) {
    const size_t c = size_t((int64_t(k) / inner) % C);
    y[k] = (xv[k] - rm[c]) / std::sqrt(rv[c] + eps) * (w.empty() ? 1.0 : w[c]) + (b.empty() ? 0.0 : b[c]);
  }
  return y;
}
}  // namespace

TEST_CASE("loss_fast: batch_norm eval is one pass x · scale + shift matching a double reference") {
  for (const Shape& s : {Shape{3, 5, 7, 3}, Shape{5, 7}, Shape{2, 3, 11}, Shape{1, 1}, Shape{4, 9, 1, 1}}) {
    for (tg::DType dt : {tg::kFloat32, tg::kFloat64}) {
      for (int affine = 0; affine < 3; ++affine) {  // 0: none, 1: weight and bias, 2: weight and bias require grad
        for (bool noncontig : {false, true}) {
          CAPTURE(s);
          CAPTURE(dt);
          CAPTURE(affine);
          CAPTURE(noncontig);
          const int64_t C = s[1];
          const Tensor x0 = randn_t(s, 5, dt, 2.0);
          const Tensor rm = randn_t({C}, 6, dt), rv = (tg::rand({C}, {.dtype = tg::kFloat64}) + 0.3).to(dt);
          Tensor w = affine ? randn_t({C}, 7, dt) : Tensor(), b = affine ? randn_t({C}, 8, dt) : Tensor();
          if (affine == 2) {
            w.requires_grad_();
            b.requires_grad_();
          }
          const std::vector<double> rmv = rm.to_vector<double>(), rvv = rv.to_vector<double>();
          const std::vector<double> wv = affine ? w.to_vector<double>() : std::vector<double>();
          const std::vector<double> bv = affine ? b.to_vector<double>() : std::vector<double>();
          // non-contiguous: the same values through a permute of a contiguous copy
          Tensor x = x0.clone();
          if (noncontig && s.size() >= 3) x = x0.transpose(0, 2).contiguous().transpose(0, 2);
          else if (noncontig) x = transposed_copy(x0);
          x.requires_grad_();
          const double eps = 1e-5;
          Tensor y = F::batch_norm(x, rm, rv, w, b, false, 0.1, eps);
          const std::vector<double> want = bn_ref(x0, rmv, rvv, wv, bv, eps), got = y.to_vector<double>();
          const double tol = dt == tg::kFloat32 ? 3e-6 : 1e-14;
          double err = 0;
          for (size_t k = 0; k < want.size(); ++k)
            err = std::max(err, std::abs(got[k] - want[k]) / (1 + std::abs(want[k])));
          CHECK(err <= tol);
          const Tensor dy = randn_t(s, 9, dt);
          y.backward(dy);
          // dx = dy · w / sqrt(rv + eps); dw = Σ dy · x̂; db = Σ dy
          const std::vector<double> dyv = dy.to_vector<double>(), gx = x.grad().contiguous().to_vector<double>();
          const int64_t inner = x0.numel() / (s[0] * C);
          std::vector<double> dw(size_t(C), 0.0), db(size_t(C), 0.0);
          const std::vector<double> xv = x0.to_vector<double>();
          double gerr = 0;
          for (size_t k = 0; k < dyv.size(); ++k) {
            const size_t c = size_t((int64_t(k) / inner) % C);
            const double inv = 1.0 / std::sqrt(rvv[c] + eps);
            gerr = std::max(gerr, std::abs(gx[k] - dyv[k] * (wv.empty() ? 1.0 : wv[c]) * inv) /
                                      (1 + std::abs(dyv[k] * inv)));
            dw[c] += dyv[k] * (xv[k] - rmv[c]) * inv;
            db[c] += dyv[k];
          }
          CHECK(gerr <= tol);
          if (affine == 2) {
            const auto gw = w.grad().to_vector<double>(), gb = b.grad().to_vector<double>();
            for (int64_t c = 0; c < C; ++c) {
              CHECK(std::abs(gw[size_t(c)] - dw[size_t(c)]) <= tol * 20 * (1 + std::abs(dw[size_t(c)])));
              CHECK(std::abs(gb[size_t(c)] - db[size_t(c)]) <= tol * 20 * (1 + std::abs(db[size_t(c)])));
            }
          }
        }
      }
    }
  }
}

TEST_CASE("loss_fast: batch_norm eval: gradchecks (first and second order), empty batch, threads") {
  const Tensor x = randn_t({4, 3, 2, 5}, 11), w = randn_t({3}, 12), b = randn_t({3}, 13);
  const Tensor rm = randn_t({3}, 14), rv = tg::rand({3}, {.dtype = tg::kFloat64}) + 0.5;
  CHECK(gc([&](const std::vector<Tensor>& v) { return F::batch_norm(v[0], rm, rv, v[1], v[2], false); }, {x, w, b}));
  CHECK(gc([&](const std::vector<Tensor>& v) { return F::batch_norm(v[0], rm, rv, Tensor(), v[1], false); }, {x, b}));
  CHECK(gc([&](const std::vector<Tensor>& v) {
    tg::EnableGradGuard eg;
    Tensor y = F::batch_norm(v[0], rm, rv, v[1], v[2], false);
    auto gr = tg::autograd::grad({(y * y).sum()}, {v[0], v[1]}, {.create_graph = true});
    return (gr[0] * gr[0]).sum() + (gr[1] * gr[1] * gr[1]).sum();
  }, {x, w, b}));
  // running statistics that require grad take the composite path, differentiable in them
  CHECK(gc([&](const std::vector<Tensor>& v) { return F::batch_norm(v[0], v[1], v[2], w, b, false); },
           {x, rm, rv}));
  CHECK(F::batch_norm(tg::zeros({0, 3}), rm.to(tg::kFloat32), rv.to(tg::kFloat32), Tensor(), Tensor(), false).shape() ==
        Shape{0, 3});
  tgtest::ThreadsGuard tgd;
  const Tensor big = randn_t({16, 8, 30, 31}, 15, tg::kFloat32);
  const Tensor rm32 = rm.to(tg::kFloat32), rv32 = rv.to(tg::kFloat32);
  Tensor wb = tg::ones({8}), bb = tg::zeros({8});
  auto run = [&](int threads) {
    tg::set_num_threads(threads);
    Tensor xx = big.clone().requires_grad_();
    Tensor y = F::batch_norm(xx, randn_t({8}, 1, tg::kFloat32), tg::ones({8}) * 2.0, wb, bb, false);
    (y * y).sum().backward();
    return std::make_pair(y, xx.grad());
  };
  const auto r1 = run(1), r2 = run(2);
  CHECK(tgtest::bit_equal(r1.first, r2.first));
  CHECK(tgtest::bit_equal(r1.second, r2.second));
}

// ---- smooth_l1
TEST_CASE("loss_fast: smooth_l1 fused: the composite's forward bits, reference gradients, every reduction") {
  tgtest::ThreadsGuard tgd;
  for (int64_t n : {1, 7, 33, 1001, 40003}) {
    for (tg::DType dt : {tg::kFloat32, tg::kFloat64}) {
      for (double beta : {0.0, 0.5, 1.0, 0.1}) {
        for (bool noncontig : {false, true}) {
          CAPTURE(n);
          CAPTURE(dt);
          CAPTURE(beta);
          CAPTURE(noncontig);
          const Shape s = n % 7 == 0 ? Shape{7, n / 7} : Shape{n};
          const Tensor x0 = randn_t(s, uint64_t(n), dt, 1.5), t0 = randn_t(s, uint64_t(n) + 1, dt);
          Tensor xs = x0.clone(), ts = t0.clone();
          if (noncontig && s.size() == 2) {
            xs = transposed_copy(x0);
            ts = transposed_copy(t0);
          } else if (noncontig) {  // every other element of a twice longer tensor
            xs = tg::stack({x0, x0}, 1).select(1, 0);
            ts = tg::stack({t0, t0}, 1).select(1, 1);
          }
          for (nn::Reduction red : {nn::Reduction::None, nn::Reduction::Sum, nn::Reduction::Mean}) {
            CAPTURE(int(red));
            Tensor x = xs.detach().requires_grad_(), t = ts.detach().requires_grad_();
            Tensor l = F::smooth_l1_loss(x, t, red, beta);
            // the composite it replaced (values and bits)
            Tensor comp;
            {
              tg::NoGradGuard ng;
              const Tensor d = x0 - t0, ad = abs(d);
              const Tensor le = beta == 0 ? ad : where(lt(ad, beta), square(d) * (0.5 / beta), ad - 0.5 * beta);
              comp = red == nn::Reduction::None ? le : red == nn::Reduction::Sum ? tg::sum(le) : tg::mean(le);
            }
            CHECK(tgtest::bit_equal(l, comp));
            // gradients against a double reference: dl/dd = d/β inside, sign(d) outside
            const Tensor dy = red == nn::Reduction::None ? randn_t(s, 3, dt) : tg::scalar_tensor(0.7, dt);
            l.backward(dy);
            const auto xv = x0.to_vector<double>(), tv = t0.to_vector<double>();
            const auto dyv = dy.to_vector<double>();
            const auto gx = x.grad().contiguous().to_vector<double>(), gt = t.grad().contiguous().to_vector<double>();
            double err = 0;
            for (size_t k = 0; k < xv.size(); ++k) {
              const double d = double(x0.dtype() == tg::kFloat32 ? double(float(xv[k]) - float(tv[k])) : xv[k] - tv[k]);
              const double dl = beta > 0 && std::abs(d) < beta ? d / beta : double((d > 0) - (d < 0));
              double g = red == nn::Reduction::None ? dyv[k] : dyv[0];
              if (red == nn::Reduction::Mean) g /= double(n);
              err = std::max(err, std::abs(gx[k] - g * dl) + std::abs(gt[k] + g * dl));
            }
            CHECK(err <= (dt == tg::kFloat32 ? 1e-6 : 1e-15));
          }
        }
      }
    }
  }
  // 1 vs 2 threads: forward (chunked sums) and backward
  const Tensor x0 = randn_t({100003}, 1, tg::kFloat32), t0 = randn_t({100003}, 2, tg::kFloat32);
  auto run = [&](int threads, nn::Reduction red) {
    tg::set_num_threads(threads);
    Tensor x = x0.clone().requires_grad_();
    Tensor l = F::smooth_l1_loss(x, t0, red, 0.5);
    (red == nn::Reduction::None ? l.sum() : l).backward();
    return std::make_pair(l, x.grad());
  };
  for (nn::Reduction red : {nn::Reduction::None, nn::Reduction::Sum, nn::Reduction::Mean}) {
    const auto a = run(1, red), b = run(2, red);
    CHECK(tgtest::bit_equal(a.first, b.first));
    CHECK(tgtest::bit_equal(a.second, b.second));
  }
}

TEST_CASE("loss_fast: smooth_l1 gradchecks (input and target, first and second order), empty input") {
  // keep |d| away from the kinks at ±β and 0
  std::vector<double> xv = {0.1, -0.3, 2.0, -1.7, 0.45, 3.1, -0.05}, tv = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  const Tensor x = tg::tensor(xv, {7}), t = tg::tensor(tv, {7}) + 0.01;
  for (double beta : {0.0, 1.0}) {
    for (nn::Reduction red : {nn::Reduction::None, nn::Reduction::Sum, nn::Reduction::Mean}) {
      CHECK(gc([&](const std::vector<Tensor>& v) { return F::smooth_l1_loss(v[0], v[1], red, beta); }, {x, t}));
      CHECK(gc([&](const std::vector<Tensor>& v) {
        tg::EnableGradGuard eg;
        Tensor l = F::smooth_l1_loss(v[0], v[1], red, beta);
        auto gr = tg::autograd::grad({(l * l).sum()}, {v[0]}, {.create_graph = true});
        return (gr[0] * gr[0]).sum();
      }, {x, t}));
    }
  }
  const Tensor e = tg::zeros({0});
  CHECK(F::smooth_l1_loss(e, e, nn::Reduction::Sum).item<float>() == 0.0f);
  CHECK(std::isnan(F::smooth_l1_loss(e, e, nn::Reduction::Mean).item<float>()));
  CHECK(F::smooth_l1_loss(e, e, nn::Reduction::None).shape() == Shape{0});
}

TEST_CASE("loss_fast: smooth_l1's gradient at a NaN input is NaN as in PyTorch (it was 0)") {
  // PyTorch 1.13: x = [nan, 0.3, 2], t = 0, beta 1, sum: grad [nan, 0.3, 1].
  for (const double beta : {1.0, 0.0}) {
    CAPTURE(beta);
    for (const int64_t n : {3, 37}) {  // the vector tail and whole vectors
      std::vector<double> xv(size_t(n), 2.0);
      xv[0] = std::nan("");
      xv[1] = 0.3;
      Tensor x = tg::tensor(xv, {n}, true), t = tg::zeros({n}, {.dtype = tg::kFloat64});
      F::smooth_l1_loss(x, t, nn::Reduction::Sum, beta).backward();
      // the recorded backward (create_graph) agrees with the kernel
      const Tensor gr = tg::autograd::grad({F::smooth_l1_loss(x, t, nn::Reduction::Sum, beta)}, {x},
                                           {.create_graph = true})[0];
      for (const std::vector<double>& g : {x.grad().to_vector<double>(), gr.to_vector<double>()}) {
        CHECK(std::isnan(g[0]));
        CHECK(g[1] == (beta == 1.0 ? 0.3 : 1.0));
        CHECK(g[2] == 1.0);
      }
    }
  }
}
