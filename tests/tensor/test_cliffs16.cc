// Session 16's two performance cliffs, closed without changing semantics:
// clip_grad_norm_'s norms (kernels::abs_pow_sum and max / min over fixed
// chunks, combined in order) against a long double reference, PyTorch 1.13's
// float64 values and the old NaN / inf / error rules; and max / min / argmax /
// argmin over a dim before the last walking down the columns
// (kernels::argmax_cols / argmin_cols) against a plain scan with PyTorch's tie
// rule (first index; the first NaN wins), on odd shapes, every dtype,
// non-contiguous, empty and 0-d inputs; kernels against their scalar twins on
// every Highway target; the same bits for 1 and 2 threads.
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "../common/test_util.h"
#include "optim/clip.h"
#include "tensor/kernels/elementwise.h"

using tg::Shape;
using tg::Tensor;
namespace nu = tg::nn::utils;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

Tensor uniform_t(const Shape& s, uint64_t seed, tg::DType dt, double lo = -4, double hi = 4) {
  tg::Generator g(seed);
  return tg::uniform(s, lo, hi, g, {.dtype = dt});
}

// ---------------------------------------------------------------- clip_grad_norm_
// The total norm by the definition, in long double: ‖(‖g₁‖_p, ‖g₂‖_p, ...)‖_p.
double ref_total(const std::vector<Tensor>& grads, double p) {
  long double total = 0;
  bool nan = false;
  for (const Tensor& g : grads) {
    long double acc = 0;
    for (double v : g.contiguous().to_vector<double>()) {
      const long double a = std::fabs((long double)v);
      if (std::isnan(v)) nan = true;
      if (std::isinf(p)) acc = std::max(acc, a);
      else acc += p == 2 ? a * a : p == 1 ? a : std::pow(a, (long double)p);
    }
    const long double n = std::isinf(p) ? acc : p == 2 ? std::sqrt(acc) : p == 1 ? acc : std::pow(acc, 1 / (long double)p);
    if (std::isinf(p)) total = std::max(total, n);
    else total += p == 2 ? n * n : p == 1 ? n : std::pow(n, (long double)p);
  }
  if (nan) return NAN;
  if (std::isinf(p)) return double(total);
  return double(p == 2 ? std::sqrt(total) : p == 1 ? total : std::pow(total, 1 / (long double)p));
}

double rel(double a, double b) { return a == b ? 0 : std::abs(a - b) / std::max(std::abs(b), 1e-300); }

// Parameters with the given gradients (copied), float32 or float64.
std::vector<Tensor> params_with(const std::vector<Tensor>& grads) {
  std::vector<Tensor> ps;
  for (const Tensor& g : grads) {
    Tensor p = tg::zeros(g.shape(), {.dtype = g.dtype(), .requires_grad = true});
    p.set_grad(g.contiguous().clone());
    ps.push_back(p);
  }
  return ps;
}

// Odd shapes, sizes across several 16K chunks, a 0-d and an empty gradient.
std::vector<Tensor> odd_grads(tg::DType dt, uint64_t seed) {
  std::vector<Tensor> gs;
  const std::vector<Shape> shapes = {{37, 29}, {16385}, {1}, {}, {0, 4}, {3, 5, 7}, {40000}, {256, 129}};
  for (size_t k = 0; k < shapes.size(); ++k) gs.push_back(uniform_t(shapes[k], seed + k, dt, -2, 2));
  return gs;
}

}  // namespace

TEST_CASE("cliffs16: abs_pow_sum against its scalar twin on every target") {
  tgtest::for_each_target([&](const std::string& target) {
    CAPTURE(target);
    for (int64_t n : {0, 1, 2, 3, 7, 15, 16, 17, 33, 100, 1001, 16385})
      for (int mis = 0; mis < 2; ++mis) {
        std::mt19937 rng{uint32_t(n * 3 + mis)};
        std::uniform_real_distribution<double> u(-3, 3);
        std::vector<double> xd(size_t(n + 1));
        for (auto& e : xd) e = u(rng);
        std::vector<float> xf(xd.begin(), xd.end());
        for (double p : {2.0, 1.0, 3.0, 4.0, 7.0, 0.5, 1.7, 65.0}) {
          CAPTURE(n);
          CAPTURE(p);
          // positive terms: a few roundings per chain of the sum; pow via exp(p log)
          const double tol = (p == 2 || p == 1) ? 1e-14 : 1e-13;
          CHECK(rel(tg::kernels::abs_pow_sum(xd.data() + mis, n, p), tg::kernels::abs_pow_sum_ref(xd.data() + mis, n, p)) <= tol);
          CHECK(rel(tg::kernels::abs_pow_sum(xf.data() + mis, n, p), tg::kernels::abs_pow_sum_ref(xf.data() + mis, n, p)) <= tol);
        }
      }
    // special values: NaN anywhere gives NaN, inf gives inf, zeros 0, denormals
    for (double p : {2.0, 1.0, 3.0, 4.0, 0.5, 1.7}) {
      std::vector<double> z(37, 0.0);
      CHECK(tg::kernels::abs_pow_sum(z.data(), 37, p) == 0.0);
      z[33] = kInf;
      CHECK(tg::kernels::abs_pow_sum(z.data(), 37, p) == kInf);
      z[5] = NAN;
      CHECK(std::isnan(tg::kernels::abs_pow_sum(z.data(), 37, p)));
      std::vector<float> zf(37, -0.0f);
      zf[36] = NAN;  // in the tail
      CHECK(std::isnan(tg::kernels::abs_pow_sum(zf.data(), 37, p)));
      std::vector<double> den(19, 4.9e-324);
      den[3] = -2.2e-310;
      CHECK(rel(tg::kernels::abs_pow_sum(den.data(), 19, p), tg::kernels::abs_pow_sum_ref(den.data(), 19, p)) <= 1e-12);
      std::vector<float> fden(19, 1e-40f);
      CHECK(rel(tg::kernels::abs_pow_sum(fden.data(), 19, p), tg::kernels::abs_pow_sum_ref(fden.data(), 19, p)) <= 1e-13);
    }
    // x·x of a float is exact in double: 3 · (2^24 - 1)² with no rounding but the sum's
    const float big = 16777215.0f;
    std::vector<float> b(3, big);
    CHECK(tg::kernels::abs_pow_sum(b.data(), 3, 2.0) == 3.0 * double(big) * double(big));
  });
}

TEST_CASE("cliffs16: clip_grad_norm_ against a long double reference for every norm type and dtype") {
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64})
    for (double p : {2.0, 1.0, 3.0, 0.5, kInf}) {
      CAPTURE(dt);
      CAPTURE(p);
      const std::vector<Tensor> gs = odd_grads(dt, 100);
      const std::vector<Tensor> ps = params_with(gs);
      const double want = ref_total(gs, p);
      const double total = nu::clip_grad_norm_(ps, 1.0, p);
      CHECK(rel(total, want) <= (std::isinf(p) ? 0.0 : 1e-13));
      // every gradient scaled by T(coef), one rounding, as mul_ does
      const double coef = 1.0 / (total + 1e-6);
      REQUIRE(coef < 1.0);
      for (size_t k = 0; k < gs.size(); ++k) CHECK(tgtest::bit_equal(ps[k].grad(), gs[k] * coef));
      // no clipping above the norm: the gradients are left as they were
      const std::vector<Tensor> qs = params_with(gs);
      CHECK(nu::clip_grad_norm_(qs, total * 2, p) == total);
      for (size_t k = 0; k < gs.size(); ++k) CHECK(tgtest::bit_equal(qs[k].grad(), gs[k]));
    }
}

TEST_CASE("cliffs16: clip_grad_norm_ matches PyTorch 1.13 float64 values") {
  // torch.nn.utils.clip_grad_norm_(ps, 1.0, p) on a = sin(0.37k + 0.1)(1 + k % 5)
  // as [100, 37], b = cos(0.011k) 1e-3 for k < 40000, c = k - 3 for k < 7.
  std::vector<double> a(3700), b(40000), c(7);
  for (size_t k = 0; k < a.size(); ++k) a[k] = std::sin(0.37 * double(k) + 0.1) * double(1 + k % 5);
  for (size_t k = 0; k < b.size(); ++k) b[k] = std::cos(double(k) * 0.011) * 1e-3;
  for (size_t k = 0; k < c.size(); ++k) c[k] = double(k) - 3;
  const std::vector<Tensor> gs = {tg::tensor(a, Shape{100, 37}), tg::tensor(b, Shape{40000}), tg::tensor(c, Shape{7})};
  const std::vector<std::pair<double, double>> torch_totals = {
      {2.0, 142.80201440123884}, {1.0, 7106.151356874446}, {3.0, 41.37221544541348},
      {0.5, 32549836.89008296},  {kInf, 4.999999634439587}};
  const std::vector<std::pair<double, double>> torch_a01 = {
      {2.0, 0.006342855653774469}, {1.0, 0.00012746316890005933}, {3.0, 0.02189325708360859},
      {0.5, 2.7827253752969584e-08}, {kInf, 0.18115449116531118}};
  for (size_t t = 0; t < torch_totals.size(); ++t) {
    const double p = torch_totals[t].first;
    CAPTURE(p);
    const std::vector<Tensor> ps = params_with(gs);
    CHECK(rel(nu::clip_grad_norm_(ps, 1.0, p), torch_totals[t].second) <= 1e-13);
    CHECK(rel(ps[0].grad().at<double>({0, 1}), torch_a01[t].second) <= 1e-13);
  }
}

TEST_CASE("cliffs16: clip_grad_norm_ on non-contiguous and expanded gradients") {
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64})
    for (double p : {2.0, 3.0, kInf}) {
      CAPTURE(dt);
      CAPTURE(p);
      const Tensor base = uniform_t({300, 70}, 7, dt);
      const Tensor tr = base.t();                              // [70, 300]
      const Tensor sl = base.slice(0, 1, 299, 3).narrow(1, 5, 60);  // [100, 60]
      const Tensor ex = uniform_t({1, 500}, 8, dt).expand({40, 500});
      Tensor p1 = tg::zeros(tr.shape(), {.dtype = dt, .requires_grad = true});
      Tensor p2 = tg::zeros(sl.shape(), {.dtype = dt, .requires_grad = true});
      Tensor p3 = tg::zeros(ex.shape(), {.dtype = dt, .requires_grad = true});
      p1.set_grad(base.clone().t());  // a transposed .grad over its own storage
      p2.set_grad(sl);
      p3.set_grad(ex);
      const double want = ref_total({base.t(), sl, ex}, p);
      // norm only (an expanded .grad cannot be scaled in place)
      const double total = nu::clip_grad_norm_({p1, p2, p3}, 1e30, p);
      CHECK(rel(total, want) <= (std::isinf(p) ? 0.0 : 1e-13));
      // the same total as contiguous copies of the same values
      const std::vector<Tensor> cs = params_with({base.t(), sl, ex});
      CHECK(nu::clip_grad_norm_(cs, 1e30, p) == total);
      // scaling a transposed .grad in place
      const Tensor before = p1.grad().clone();
      const double t2 = nu::clip_grad_norm_({p1, p2}, 0.5, p);
      CHECK(tgtest::bit_equal(p1.grad().contiguous(), before * (0.5 / (t2 + 1e-6))));
    }
}

TEST_CASE("cliffs16: clip_grad_norm_ NaN and inf rules and error_if_nonfinite") {
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64})
    for (double p : {2.0, 1.0, 3.0, kInf}) {
      CAPTURE(dt);
      CAPTURE(p);
      // a NaN in a later chunk of a long gradient: total NaN, every gradient NaN
      Tensor g = uniform_t({40000}, 9, dt);
      std::vector<double> v = g.to_vector<double>();
      v[33333] = NAN;
      const std::vector<Tensor> gs = {uniform_t({17}, 10, dt), tg::tensor(v, Shape{40000}).to(dt)};
      std::vector<Tensor> ps = params_with(gs);
      CHECK(std::isnan(nu::clip_grad_norm_(ps, 1.0, p)));
      for (const Tensor& q : ps)
        for (double e : q.grad().to_vector<double>()) CHECK(std::isnan(e));
      ps = params_with(gs);
      CHECK_THROWS_WITH_AS(nu::clip_grad_norm_(ps, 1.0, p, true), doctest::Contains("error_if_nonfinite"), tg::Error);
      // -inf: total inf, coef 0: finite gradients become 0 (inf * 0 NaN, as PyTorch)
      v[33333] = -kInf;
      ps = params_with({tg::tensor(v, Shape{40000}).to(dt)});
      CHECK(nu::clip_grad_norm_(ps, 1.0, p) == kInf);
      const std::vector<double> after = ps[0].grad().to_vector<double>();
      CHECK(after[0] == 0.0);
      CHECK(std::isnan(after[33333]));
      ps = params_with({tg::tensor(v, Shape{40000}).to(dt)});
      CHECK_THROWS_WITH_AS(nu::clip_grad_norm_(ps, 1.0, p, true), doctest::Contains("is inf"), tg::Error);
    }
  // norm_type checks, no gradients, only empty gradients
  Tensor w = tg::zeros({3}, {.requires_grad = true});
  CHECK_THROWS_WITH_AS(nu::clip_grad_norm_({w}, 1.0, 0.0), doctest::Contains("norm_type must be > 0"), tg::Error);
  CHECK_THROWS_WITH_AS(nu::clip_grad_norm_({w}, 1.0, NAN), doctest::Contains("norm_type must be > 0"), tg::Error);
  CHECK(nu::clip_grad_norm_({w}, 1.0) == 0.0);
  Tensor e = tg::zeros({0, 5}, {.requires_grad = true});
  e.set_grad(tg::zeros({0, 5}));
  for (double p : {2.0, 1.0, 3.0, kInf}) CHECK(nu::clip_grad_norm_({e}, 1.0, p) == 0.0);
}

TEST_CASE("cliffs16: clip_grad_norm_ gives the same bits for 1 and 2 threads") {
  tgtest::ThreadsGuard guard;
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64})
    for (double p : {2.0, 1.0, 3.0, kInf}) {
      std::vector<Tensor> gs;
      for (int k = 0; k < 20; ++k) gs.push_back(uniform_t({int64_t(5000 + 977 * k)}, uint64_t(k + 40), dt));
      gs.push_back(uniform_t({256, 784}, 61, dt));
      tg::set_num_threads(1);
      const std::vector<Tensor> p1 = params_with(gs);
      const double t1 = nu::clip_grad_norm_(p1, 0.5, p);
      tg::set_num_threads(2);
      const std::vector<Tensor> p2 = params_with(gs);
      const double t2 = nu::clip_grad_norm_(p2, 0.5, p);
      CHECK(std::memcmp(&t1, &t2, sizeof t1) == 0);
      for (size_t k = 0; k < gs.size(); ++k) CHECK(tgtest::bit_equal(p1[k].grad(), p2[k].grad()));
      CHECK(rel(t1, ref_total(gs, p)) <= (std::isinf(p) ? 0.0 : 1e-13));
    }
}

// ---------------------------------------------------------------- max / min (dim)
namespace {

// max / min over dim by a plain scan: the first index of the extreme, or of the
// first NaN (PyTorch 1.13's rule).
void ref_max_dim(const Tensor& x, int dim, bool is_max, std::vector<double>* val, std::vector<int64_t>* idx) {
  const std::vector<double> v = x.to_vector<double>();
  const Shape s = x.shape();
  int64_t O = 1, R = s[dim], I = 1;
  for (int d = 0; d < s.size(); ++d) {
    if (d < dim) O *= s[d];
    if (d > dim) I *= s[d];
  }
  val->assign(size_t(O * I), 0);
  idx->assign(size_t(O * I), 0);
  for (int64_t o = 0; o < O; ++o)
    for (int64_t i = 0; i < I; ++i) {
      auto at = [&](int64_t r) { return v[size_t((o * R + r) * I + i)]; };
      int64_t k = 0;
      for (int64_t r = 1; r < R; ++r) {
        if (std::isnan(at(k))) break;
        if (std::isnan(at(r)) || (is_max ? at(r) > at(k) : at(r) < at(k))) k = r;
      }
      (*val)[size_t(o * I + i)] = at(k);
      (*idx)[size_t(o * I + i)] = k;
    }
}

// values (bits, as doubles: -0 and NaN included) and indices as the scan, with
// and without keepdim, and argmax / argmin the same indices.
void check_max_dim(const Tensor& x, int dim) {
  for (bool is_max : {true, false}) {
    CAPTURE(is_max);
    std::vector<double> want;
    std::vector<int64_t> wi;
    ref_max_dim(x, dim, is_max, &want, &wi);
    for (bool keepdim : {false, true}) {
      const tg::ValuesIndices r = is_max ? tg::max(x, dim, keepdim) : tg::min(x, dim, keepdim);
      Shape rs = x.shape();
      if (keepdim) rs[dim] = 1;
      else rs.erase(dim);
      REQUIRE(r.values.shape() == rs);
      REQUIRE(r.indices.shape() == rs);
      CHECK(r.values.dtype() == x.dtype());
      CHECK(r.indices.dtype() == tg::kInt64);
      const std::vector<double> got = r.values.to_vector<double>();
      const std::vector<int64_t> gi = r.indices.to_vector<int64_t>();
      REQUIRE(got.size() == want.size());
      size_t bad = 0;
      for (size_t k = 0; k < got.size(); ++k) {
        const bool same = std::isnan(want[k]) ? std::isnan(got[k]) : (got[k] == want[k] && std::signbit(got[k]) == std::signbit(want[k]));
        if (!same || gi[k] != wi[k]) {
          if (++bad <= 3) CHECK_MESSAGE(false, "at ", k, ": ", got[k], " [", gi[k], "] vs ", want[k], " [", wi[k], "]");
        }
      }
      CHECK(bad == 0);
      const Tensor ai = is_max ? tg::argmax(x, dim, keepdim) : tg::argmin(x, dim, keepdim);
      CHECK(ai.to_vector<int64_t>() == gi);
    }
  }
}

// Values with many ties (a few distinct integers, ±0) and, for floats, NaN
// at odd and even rows, several NaN in one column, infinities.
Tensor tie_tensor(const Shape& s, uint64_t seed, tg::DType dt, bool specials) {
  std::mt19937 rng{uint32_t(seed)};
  std::uniform_int_distribution<int> u(-3, 3), pick(0, 40);
  std::vector<double> v(size_t(s.numel()));
  for (auto& e : v) {
    e = u(rng);
    if (e == 0 && pick(rng) % 2) e = -0.0;
    if (specials && dt != tg::kInt64) {
      const int k = pick(rng);
      if (k == 0) e = NAN;
      else if (k == 1) e = kInf;
      else if (k == 2) e = -kInf;
    }
  }
  return tg::tensor(v, s).to(dt);
}

}  // namespace

TEST_CASE("cliffs16: max and min over non-last dims against a scan for every dtype with ties and NaN on odd shapes") {
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64, tg::kInt64}) {
    CAPTURE(dt);
    for (int64_t R : {1, 2, 3, 4, 17, 1000})
      for (int64_t I : {2, 7, 16, 33, 784}) {
        if (R * I > 100000) continue;
        CAPTURE(R);
        CAPTURE(I);
        check_max_dim(tie_tensor({3, R, I}, uint64_t(R * 10 + I), dt, true), 1);
        Tensor x = uniform_t({R, I}, uint64_t(R + I), tg::kFloat64, -1000, 1000);
        check_max_dim(dt == tg::kInt64 ? x.to(tg::kInt64) : x.to(dt), 0);
      }
    const Tensor b = tie_tensor({4, 3, 9, 5}, 77, dt, true);
    for (int d = 0; d < 4; ++d) check_max_dim(b, d);  // the last dim: the row scan
    CHECK(tg::max(b, -3).indices.to_vector<int64_t>() == tg::max(b, 1).indices.to_vector<int64_t>());
    check_max_dim(tie_tensor({64, 10, 28, 28}, 78, dt, true), 1);
    check_max_dim(tie_tensor({6, 11, 1, 1}, 79, dt, true), 1);  // I == 1: the row scan
  }
}

TEST_CASE("cliffs16: max and min over a dim match PyTorch 1.13 on ties and NaN") {
  // torch.tensor([[1,3,3],[3,1,3],[2,3,nan],[3,nan,nan]]).max(0) / .min(0)
  const Tensor x = tg::tensor(std::vector<double>{1, 3, 3, 3, 1, 3, 2, 3, NAN, 3, NAN, NAN}, Shape{4, 3});
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64}) {
    const tg::ValuesIndices mx = tg::max(x.to(dt), 0), mn = tg::min(x.to(dt), 0);
    CHECK(mx.indices.to_vector<int64_t>() == std::vector<int64_t>{1, 3, 2});
    CHECK(mn.indices.to_vector<int64_t>() == std::vector<int64_t>{0, 3, 2});
    CHECK(mx.values.to_vector<double>()[0] == 3.0);
    CHECK(std::isnan(mx.values.to_vector<double>()[1]));
    CHECK(tg::argmax(x.to(dt), 0).to_vector<int64_t>() == std::vector<int64_t>{1, 3, 2});
    // [[0, -0], [-0, 0]]: the first of equal zeros, with its sign
    const Tensor z = tg::tensor(std::vector<double>{0.0, -0.0, -0.0, 0.0}, Shape{2, 2}).to(dt);
    for (bool is_max : {true, false}) {
      const tg::ValuesIndices r = is_max ? tg::max(z, 0) : tg::min(z, 0);
      CHECK(r.indices.to_vector<int64_t>() == std::vector<int64_t>{0, 0});
      const std::vector<double> v = r.values.to_vector<double>();
      CHECK(!std::signbit(v[0]));
      CHECK(std::signbit(v[1]));
    }
    // z[300, 40] = 0 with z[5,3] = z[200,3] = 1, z[10,7] = 5, z[100,7] = z[250,7] = NaN
    std::vector<double> big(300 * 40, 0.0);
    big[5 * 40 + 3] = big[200 * 40 + 3] = 1;
    big[10 * 40 + 7] = 5;
    big[100 * 40 + 7] = big[250 * 40 + 7] = NAN;
    const Tensor zb = tg::tensor(big, Shape{300, 40}).to(dt);
    const std::vector<int64_t> im = tg::max(zb, 0).indices.to_vector<int64_t>(), in = tg::min(zb, 0).indices.to_vector<int64_t>();
    CHECK(im[3] == 5);
    CHECK(im[7] == 100);
    CHECK(im[0] == 0);
    CHECK(in[3] == 0);
    CHECK(in[7] == 100);
  }
}

TEST_CASE("cliffs16: max and min over a dim on non-contiguous inputs") {
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64, tg::kInt64}) {
    CAPTURE(dt);
    const Tensor base = tie_tensor({9, 20, 13}, 90, dt, true);
    const Tensor tr = base.transpose(0, 2);                      // [13, 20, 9]
    const Tensor sl = base.slice(1, 1, 19, 3).narrow(2, 2, 9);   // [9, 6, 9]
    const Tensor ex = tie_tensor({1, 20, 13}, 91, dt, true).expand({4, 20, 13});
    const Tensor ex0 = tie_tensor({1, 13}, 92, dt, false).expand({6, 13});  // all ties along dim 0
    for (const Tensor& x : {tr, sl, ex})
      for (int d = 0; d < 3; ++d) check_max_dim(x, d);
    check_max_dim(ex0, 0);
    CHECK(tg::max(ex0, 0).indices.to_vector<int64_t>() == std::vector<int64_t>(13, 0));
    check_max_dim(tie_tensor({40, 33}, 93, dt, true).t(), 0);
  }
}

TEST_CASE("cliffs16: max and min over a dim on empty and 0-d tensors") {
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64, tg::kInt64}) {
    CAPTURE(dt);
    const tg::ValuesIndices a = tg::max(tg::zeros({0, 3, 4}, {.dtype = dt}), 1);
    CHECK(a.values.shape() == Shape{0, 4});
    CHECK(a.indices.shape() == Shape{0, 4});
    const tg::ValuesIndices b = tg::min(tg::zeros({2, 3, 0}, {.dtype = dt}), 1, true);
    CHECK(b.values.shape() == Shape{2, 1, 0});
    CHECK(tg::argmax(tg::zeros({0, 5}, {.dtype = dt}), 1).shape() == Shape{0});
    CHECK_THROWS_WITH_AS(tg::max(tg::zeros({4, 0, 3}, {.dtype = dt}), 1), doctest::Contains("of size 0"), tg::Error);
    CHECK_THROWS_WITH_AS(tg::argmax(tg::zeros({0, 5}, {.dtype = dt}), 0), doctest::Contains("has size 0"), tg::Error);
    const tg::ValuesIndices s = tg::max(tg::full({}, 7.0, {.dtype = dt}), 0);
    CHECK(s.values.item<double>() == 7.0);
    CHECK(s.indices.item<int64_t>() == 0);
    CHECK(tg::argmin(tg::full({}, 7.0, {.dtype = dt}), -1).item<int64_t>() == 0);
  }
}

TEST_CASE("cliffs16: max over a dim gives the same bits for 1 and 2 threads and the last-dim path's answer") {
  tgtest::ThreadsGuard guard;
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64, tg::kInt64}) {
    CAPTURE(dt);
    const Tensor a = tie_tensor({256, 1000}, 94, dt, true), b = tie_tensor({64, 10, 28, 28}, 95, dt, true);
    tg::set_num_threads(1);
    const tg::ValuesIndices a1 = tg::max(a, 0), b1 = tg::min(b, 1);
    tg::set_num_threads(2);
    const tg::ValuesIndices a2 = tg::max(a, 0), b2 = tg::min(b, 1);
    CHECK(tgtest::bit_equal(a1.values, a2.values));
    CHECK(tgtest::bit_equal(a1.indices, a2.indices));
    CHECK(tgtest::bit_equal(b1.values, b2.values));
    CHECK(tgtest::bit_equal(b1.indices, b2.indices));
    // the same dim moved last (the row scan) gives the same values and indices
    const tg::ValuesIndices at = tg::max(a.t().contiguous(), 1);
    CHECK(tgtest::bit_equal(a1.values, at.values));
    CHECK(tgtest::bit_equal(a1.indices, at.indices));
    const tg::ValuesIndices bt = tg::min(b.transpose(1, 3).contiguous(), 3);
    CHECK(tgtest::bit_equal(b1.values, bt.values.transpose(1, 2).contiguous()));
    CHECK(tgtest::bit_equal(b1.indices, bt.indices.transpose(1, 2).contiguous()));
  }
}

TEST_CASE("cliffs16: argmax_cols and argmin_cols against their scalar twins on every target") {
  tgtest::for_each_target([&](const std::string& target) {
    CAPTURE(target);
    for (int64_t R : {1, 2, 3, 4, 5, 17, 40})
      for (int64_t w : {1, 2, 7, 16, 33, 67})
        for (int mis = 0; mis < 2; ++mis) {
          CAPTURE(R);
          CAPTURE(w);
          const int64_t ld = w + 3;
          std::mt19937 rng{uint32_t(R * 100 + w + mis)};
          std::uniform_int_distribution<int> u(-2, 2), pick(0, 30);
          std::vector<double> xd(size_t(R * ld + 1));
          for (auto& e : xd) {
            e = u(rng);  // many ties
            const int k = pick(rng);
            if (k == 0) e = NAN;
            else if (k == 1) e = -kInf;
          }
          std::vector<float> xf(xd.begin(), xd.end());
          for (bool is_max : {true, false}) {
            std::vector<double> vr(static_cast<size_t>(w)), vd(static_cast<size_t>(ld), -7.0);
            std::vector<float> vf(static_cast<size_t>(ld), -7.0f);
            std::vector<int64_t> ir(static_cast<size_t>(w)), id(static_cast<size_t>(ld), -7), jf(static_cast<size_t>(ld), -7);
            if (is_max) {
              tg::kernels::argmax_cols_ref(xd.data() + mis, vr.data(), ir.data(), R, ld, w);
              tg::kernels::argmax_cols(xd.data() + mis, vd.data(), id.data(), R, ld, w);
              tg::kernels::argmax_cols(xf.data() + mis, vf.data(), jf.data(), R, ld, w);
            } else {
              tg::kernels::argmin_cols_ref(xd.data() + mis, vr.data(), ir.data(), R, ld, w);
              tg::kernels::argmin_cols(xd.data() + mis, vd.data(), id.data(), R, ld, w);
              tg::kernels::argmin_cols(xf.data() + mis, vf.data(), jf.data(), R, ld, w);
            }
            for (int64_t i = 0; i < ld; ++i) {
              if (i >= w) {  // nothing past w written
                CHECK(vd[size_t(i)] == -7.0);
                CHECK(id[size_t(i)] == -7);
                CHECK(vf[size_t(i)] == -7.0f);
                CHECK(jf[size_t(i)] == -7);
                continue;
              }
              CHECK(id[size_t(i)] == ir[size_t(i)]);
              CHECK(jf[size_t(i)] == ir[size_t(i)]);
              if (std::isnan(vr[size_t(i)])) {
                CHECK(std::isnan(vd[size_t(i)]));
                CHECK(std::isnan(vf[size_t(i)]));
              } else {
                CHECK(vd[size_t(i)] == vr[size_t(i)]);
                CHECK(double(vf[size_t(i)]) == vr[size_t(i)]);
              }
            }
          }
        }
    // a call over w columns == calls over pieces of odd widths at odd offsets
    const int64_t R = 37, ld = 101;
    std::mt19937 rng{5};
    std::uniform_int_distribution<int> u(-3, 3);
    std::vector<float> x(static_cast<size_t>(R * ld));
    for (auto& e : x) e = float(u(rng));
    std::vector<float> v1(static_cast<size_t>(ld)), v2(static_cast<size_t>(ld));
    std::vector<int64_t> i1(static_cast<size_t>(ld)), i2(static_cast<size_t>(ld));
    tg::kernels::argmax_cols(x.data(), v1.data(), i1.data(), R, ld, ld);
    for (int64_t i0 = 0, k = 1; i0 < ld; i0 += k, k += 4)
      tg::kernels::argmax_cols(x.data() + i0, v2.data() + i0, i2.data() + i0, R, ld, std::min(k, ld - i0));
    CHECK(v1 == v2);
    CHECK(i1 == i2);
  });
}

TEST_CASE("cliffs16: max over a non-last dim sends the gradient to the picked index") {
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64}) {
    Tensor x = tie_tensor({5, 6, 7}, 96, dt, false);
    x.requires_grad_();
    const tg::ValuesIndices r = tg::max(x, 1);
    Tensor w = uniform_t({5, 7}, 97, dt);
    (r.values * w).sum().backward();
    const std::vector<double> g = x.grad().to_vector<double>(), wv = w.to_vector<double>();
    const std::vector<int64_t> idx = r.indices.to_vector<int64_t>();
    for (int64_t o = 0; o < 5; ++o)
      for (int64_t rr = 0; rr < 6; ++rr)
        for (int64_t i = 0; i < 7; ++i)
          CHECK(g[size_t((o * 6 + rr) * 7 + i)] == (idx[size_t(o * 7 + i)] == rr ? wv[size_t(o * 7 + i)] : 0.0));
  }
}
