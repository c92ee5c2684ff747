// Highway bodies of the elementwise, reduction and softmax kernels.
//
// Layout as in Highway's skeleton: per-vector helpers (a functor per op with
// `operator()(d, v...)`), then array wrappers that walk a span a vector at a
// time. The last partial vector is copied into a padded stack buffer,
// computed as a whole vector and copied back, so the tail gets the very same
// math as the body and nothing reads past the caller's span.
// Included once per target by elementwise.cc (HWY_TARGET_INCLUDE).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"
#include "tensor/kernels/math-inl.h"
#include "tensor/kernels/elementwise.h"

HWY_BEFORE_NAMESPACE();
namespace tg::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// ---------------------------------------------------------------- per vector
// ExpIeee, LogIeee: tensor/kernels/math-inl.h.

template <class D, class V>
HWY_INLINE V Erf(D d, V x) {
  // |x| >= 0.5: Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, at most ~3e-7
  // relative there); |x| < 0.5: the Taylor series
  // erf(x) = 2/sqrt(pi) x sum_n (-1)^n x^2n / (n! (2n + 1)) to n = 7
  // (truncation < 1e-9 relative; A&S alone was 2% off at 1e-5 and 0 at 1e-7).
  // Used for float32 only; the float64 path calls std::erf.
  using T = hn::TFromD<D>;
  const V ax = hn::Abs(x);
  const V z = hn::Mul(x, x);
  V q = hn::Set(d, T(-1.0 / 75600));
  q = hn::MulAdd(q, z, hn::Set(d, T(1.0 / 9360)));
  q = hn::MulAdd(q, z, hn::Set(d, T(-1.0 / 1320)));
  q = hn::MulAdd(q, z, hn::Set(d, T(1.0 / 216)));
  q = hn::MulAdd(q, z, hn::Set(d, T(-1.0 / 42)));
  q = hn::MulAdd(q, z, hn::Set(d, T(1.0 / 10)));
  q = hn::MulAdd(q, z, hn::Set(d, T(-1.0 / 3)));
  q = hn::MulAdd(q, z, hn::Set(d, T(1)));
  const V small = hn::Mul(hn::Mul(x, hn::Set(d, T(1.1283791670955126))), q);
  const V t = hn::Div(hn::Set(d, T(1)), hn::MulAdd(hn::Set(d, T(0.3275911)), ax, hn::Set(d, T(1))));
  V p = hn::Set(d, T(1.061405429));
  p = hn::MulAdd(p, t, hn::Set(d, T(-1.453152027)));
  p = hn::MulAdd(p, t, hn::Set(d, T(1.421413741)));
  p = hn::MulAdd(p, t, hn::Set(d, T(-0.284496736)));
  p = hn::MulAdd(p, t, hn::Set(d, T(0.254829592)));
  p = hn::Mul(p, t);
  const V e = hn::Exp(d, hn::Neg(z));
  const V y = hn::NegMulAdd(p, e, hn::Set(d, T(1)));
  return hn::IfThenElse(hn::Lt(ax, hn::Set(d, T(0.5))), small, hn::CopySign(y, x));
}

template <class D, class V>
HWY_INLINE V Sigmoid(D d, V x) {
  using T = hn::TFromD<D>;
  const V one = hn::Set(d, T(1));
  return hn::Div(one, hn::Add(one, ExpIeee(d, hn::Neg(x))));  // x = -200: 1 / inf = 0
}

template <class D, class V>
HWY_INLINE V ApplyBinary(D d, BinaryOp op, V a, V b) {
  using T = hn::TFromD<D>;
  const V one = hn::Set(d, T(1));
  switch (op) {
    case BinaryOp::Add: return hn::Add(a, b);
    case BinaryOp::Sub: return hn::Sub(a, b);
    case BinaryOp::Mul: return hn::Mul(a, b);
    case BinaryOp::Div: return hn::Div(a, b);
    // a NaN in either operand propagates (as PyTorch's maximum / minimum)
    case BinaryOp::Max: return hn::IfThenElse(hn::Or(hn::Lt(a, b), hn::IsNaN(b)), b, a);
    case BinaryOp::Min: return hn::IfThenElse(hn::Or(hn::Lt(b, a), hn::IsNaN(b)), b, a);
    case BinaryOp::Eq: return hn::IfThenElseZero(hn::Eq(a, b), one);
    // not Eq: Highway's Ne is the ordered compare, false for NaN != NaN
    case BinaryOp::Ne: return hn::IfThenZeroElse(hn::Eq(a, b), one);
    case BinaryOp::Lt: return hn::IfThenElseZero(hn::Lt(a, b), one);
    case BinaryOp::Le: return hn::IfThenElseZero(hn::Le(a, b), one);
    case BinaryOp::Gt: return hn::IfThenElseZero(hn::Gt(a, b), one);
    case BinaryOp::Ge: return hn::IfThenElseZero(hn::Ge(a, b), one);
    default: return a;  // Pow never reaches the vector path
  }
}

template <class D, class V>
HWY_INLINE V ApplyUnary(D d, UnaryOp op, V x, V p0, V p1) {
  using T = hn::TFromD<D>;
  const V zero = hn::Zero(d);
  const V one = hn::Set(d, T(1));
  const V half = hn::Set(d, T(0.5));
  switch (op) {
    case UnaryOp::Neg: return hn::Neg(x);
    case UnaryOp::Exp: return ExpIeee(d, x);
    case UnaryOp::Log: return LogIeee(d, x);
    case UnaryOp::Sqrt: return hn::Sqrt(x);
    case UnaryOp::Rsqrt: return hn::Div(one, hn::Sqrt(x));
    case UnaryOp::Abs: return hn::Abs(x);
    case UnaryOp::Sign:
      return hn::Sub(hn::IfThenElseZero(hn::Gt(x, zero), one), hn::IfThenElseZero(hn::Lt(x, zero), one));
    case UnaryOp::Square: return hn::Mul(x, x);
    case UnaryOp::Relu: return hn::IfThenElse(hn::Gt(x, zero), x, zero);
    case UnaryOp::Sigmoid: return Sigmoid(d, x);
    case UnaryOp::Tanh: return hn::Tanh(d, x);
    case UnaryOp::Erf: return Erf(d, x);
    case UnaryOp::GeluTanh: {
      // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
      const V inner = hn::Mul(hn::Set(d, T(0.7978845608028654)),
                              hn::MulAdd(hn::Mul(hn::Set(d, T(0.044715)), hn::Mul(x, x)), x, x));
      return hn::Mul(hn::Mul(half, x), hn::Add(one, hn::Tanh(d, inner)));
    }
    case UnaryOp::GeluErf:
      return hn::Mul(hn::Mul(half, x), hn::Add(one, Erf(d, hn::Mul(x, hn::Set(d, T(0.7071067811865476))))));
    case UnaryOp::LeakyRelu: return hn::IfThenElse(hn::Gt(x, zero), x, hn::Mul(x, p0));
    // x86 max/min return their second operand when either is NaN: a NaN x
    // would become lo (-inf for clamp_max). It stays NaN, as in PyTorch.
    case UnaryOp::Clamp: return hn::IfThenElse(hn::IsNaN(x), x, hn::Min(hn::Max(x, p0), p1));
    case UnaryOp::Recip: return hn::Div(one, x);
    case UnaryOp::Step: return hn::IfThenElseZero(hn::Gt(x, zero), one);
    default: return x;  // PowScalar never reaches the vector path
  }
}

// ---------------------------------------------------------------- arrays
template <class T>
void BinaryArray(BinaryOp op, const T* HWY_RESTRICT a, int64_t sa, const T* HWY_RESTRICT b,
                 int64_t sb, T* HWY_RESTRICT out, int64_t n) {
  const hn::ScalableTag<T> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  auto load = [&](const T* p, int64_t s, int64_t i) {
    return s == 0 ? hn::Set(d, p[0]) : hn::LoadU(d, p + i);
  };
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(ApplyBinary(d, op, load(a, sa, i), load(b, sb, i)), d, out + i);
  if (i < n) {
    HWY_ALIGN T ba[hn::MaxLanes(d)] = {}, bb[hn::MaxLanes(d)] = {}, bo[hn::MaxLanes(d)];
    const int64_t r = n - i;
    for (int64_t j = 0; j < r; ++j) {
      ba[j] = a[sa ? i + j : 0];
      bb[j] = b[sb ? i + j : 0];
    }
    hn::Store(ApplyBinary(d, op, hn::Load(d, ba), hn::Load(d, bb)), d, bo);
    for (int64_t j = 0; j < r; ++j) out[i + j] = bo[j];
  }
}

template <class T>
void UnaryArray(UnaryOp op, const T* HWY_RESTRICT x, T* HWY_RESTRICT y, int64_t n, double p0, double p1) {
  const hn::ScalableTag<T> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto vp0 = hn::Set(d, T(p0)), vp1 = hn::Set(d, T(p1));
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(ApplyUnary(d, op, hn::LoadU(d, x + i), vp0, vp1), d, y + i);
  if (i < n) {
    // Pad with 1 so that log/sqrt/div of the unused lanes stay finite.
    HWY_ALIGN T bx[hn::MaxLanes(d)], by[hn::MaxLanes(d)];
    for (size_t j = 0; j < hn::MaxLanes(d); ++j) bx[j] = T(1);
    const int64_t r = n - i;
    for (int64_t j = 0; j < r; ++j) bx[j] = x[i + j];
    hn::Store(ApplyUnary(d, op, hn::Load(d, bx), vp0, vp1), d, by);
    for (int64_t j = 0; j < r; ++j) y[i + j] = by[j];
  }
}

void BinaryF32(int op, const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) {
  BinaryArray<float>(static_cast<BinaryOp>(op), a, sa, b, sb, out, n);
}
void BinaryF64(int op, const double* a, int64_t sa, const double* b, int64_t sb, double* out, int64_t n) {
  BinaryArray<double>(static_cast<BinaryOp>(op), a, sa, b, sb, out, n);
}
void UnaryF32(int op, const float* x, float* y, int64_t n, double p0, double p1) {
  UnaryArray<float>(static_cast<UnaryOp>(op), x, y, n, p0, p1);
}
void UnaryF64(int op, const double* x, double* y, int64_t n, double p0, double p1) {
  UnaryArray<double>(static_cast<UnaryOp>(op), x, y, n, p0, p1);
}

// Sum with four independent accumulators, combined in a fixed order.
template <class T>
T SumArray(const T* HWY_RESTRICT x, int64_t n) {
  const hn::ScalableTag<T> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  auto s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    s0 = hn::Add(s0, hn::LoadU(d, x + i));
    s1 = hn::Add(s1, hn::LoadU(d, x + i + N));
    s2 = hn::Add(s2, hn::LoadU(d, x + i + 2 * N));
    s3 = hn::Add(s3, hn::LoadU(d, x + i + 3 * N));
  }
  for (; i + N <= n; i += N) s0 = hn::Add(s0, hn::LoadU(d, x + i));
  T tail = 0;
  for (; i < n; ++i) tail += x[i];
  const auto s = hn::Add(hn::Add(s0, s1), hn::Add(s2, s3));
  return hn::GetLane(hn::SumOfLanes(d, s)) + tail;
}
float SumF32(const float* x, int64_t n) { return SumArray<float>(x, n); }
double SumF64(const double* x, int64_t n) { return SumArray<double>(x, n); }

template <class T, bool kMax>
T ExtremeArray(const T* HWY_RESTRICT x, int64_t n) {
  const hn::ScalableTag<T> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  T best = x[0];
  int64_t i = 0;
  bool nan = false;
  if (n >= N) {
    auto m = hn::LoadU(d, x);
    auto isnan = hn::IsNaN(m);
    for (i = N; i + N <= n; i += N) {
      const auto v = hn::LoadU(d, x + i);
      m = kMax ? hn::Max(m, v) : hn::Min(m, v);
      isnan = hn::Or(isnan, hn::IsNaN(v));
    }
    best = hn::GetLane(kMax ? hn::MaxOfLanes(d, m) : hn::MinOfLanes(d, m));
    nan = !hn::AllFalse(d, isnan);
  }
  for (; i < n; ++i) {
    best = kMax ? (x[i] > best ? x[i] : best) : (x[i] < best ? x[i] : best);
    nan = nan || x[i] != x[i];
  }
  // NaN propagates like PyTorch's max/min: the first NaN, found in the lanes
  // (a second, scalar pass over every element made max 15x slower than sum).
  if (nan)
    for (int64_t j = 0; j < n; ++j)
      if (x[j] != x[j]) return x[j];
  return best;
}
float MaxF32(const float* x, int64_t n) { return ExtremeArray<float, true>(x, n); }
double MaxF64(const double* x, int64_t n) { return ExtremeArray<double, true>(x, n); }
float MinF32(const float* x, int64_t n) { return ExtremeArray<float, false>(x, n); }
double MinF64(const double* x, int64_t n) { return ExtremeArray<double, false>(x, n); }

// Σ |x_i|^p in double lanes (clip_grad_norm_'s per-tensor norms): the span
// is walked in double-vector steps, float lanes widened first (so a float's
// x·x is exact), four accumulators, lanes added once at the end: a fixed
// order per target. kMode 2: x·x, 1: |x|, 3: |x|^p for a whole p in [3, 64]
// by repeated squaring (at most 2·log2(p) roundings; exp·log was 30x slower
// than x·x), 0: exp(p·log|x|) (LogIeee/ExpIeee in double: 0 -> 0, inf -> inf,
// NaN -> NaN; ~1e-15 relative per term). The tail is padded with zeros,
// which add 0 in every mode.
template <class T, int kMode>
double AbsPowSumArray(const T* HWY_RESTRICT x, int64_t n, double p) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<T, decltype(dd)> d;  // as many T lanes as doubles
  const int64_t N = static_cast<int64_t>(hn::Lanes(dd));
  const auto vp = hn::Set(dd, p);
  const int ip = kMode == 3 ? static_cast<int>(p) : 0;  // (a whole p in [3, 64] there)
  auto term = [&](auto xv) {
    hn::Vec<decltype(dd)> a;
    if constexpr (sizeof(T) == 4) a = hn::PromoteTo(dd, xv);
    else a = xv;
    if constexpr (kMode == 2) {
      return hn::Mul(a, a);
    } else if constexpr (kMode == 1) {
      return hn::Abs(a);
    } else if constexpr (kMode == 3) {
      auto b = hn::Abs(a), r = b;  // the lowest set bit of ip, then the rest
      int e = ip;
      for (; !(e & 1); e >>= 1) r = b = hn::Mul(b, b);
      for (e >>= 1; e; e >>= 1) {
        b = hn::Mul(b, b);
        if (e & 1) r = hn::Mul(r, b);
      }
      return r;
    } else {
      return ExpIeee(dd, hn::Mul(vp, LogIeee(dd, hn::Abs(a))));
    }
  };
  auto a0 = hn::Zero(dd), a1 = hn::Zero(dd), a2 = hn::Zero(dd), a3 = hn::Zero(dd);
  int64_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    a0 = hn::Add(a0, term(hn::LoadU(d, x + i)));
    a1 = hn::Add(a1, term(hn::LoadU(d, x + i + N)));
    a2 = hn::Add(a2, term(hn::LoadU(d, x + i + 2 * N)));
    a3 = hn::Add(a3, term(hn::LoadU(d, x + i + 3 * N)));
  }
  for (; i + N <= n; i += N) a0 = hn::Add(a0, term(hn::LoadU(d, x + i)));
  if (i < n) {
    HWY_ALIGN T bx[hn::MaxLanes(d)] = {};
    for (int64_t j = 0; j < n - i; ++j) bx[j] = x[i + j];
    a1 = hn::Add(a1, term(hn::Load(d, bx)));
  }
  return hn::GetLane(hn::SumOfLanes(dd, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
}
template <class T>
double AbsPowSum(const T* x, int64_t n, double p) {
  if (p == 2) return AbsPowSumArray<T, 2>(x, n, p);
  if (p == 1) return AbsPowSumArray<T, 1>(x, n, p);
  if (p >= 3 && p <= 64 && p == std::floor(p)) return AbsPowSumArray<T, 3>(x, n, p);
  return AbsPowSumArray<T, 0>(x, n, p);
}
double AbsPowSumF32(const float* x, int64_t n, double p) { return AbsPowSum<float>(x, n, p); }
double AbsPowSumF64(const double* x, int64_t n, double p) { return AbsPowSum<double>(x, n, p); }

template <class T>
void AccumulateArray(const T* HWY_RESTRICT x, T* HWY_RESTRICT out, int64_t n) {
  const hn::ScalableTag<T> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Add(hn::LoadU(d, out + i), hn::LoadU(d, x + i)), d, out + i);
  for (; i < n; ++i) out[i] += x[i];
}
void AccumulateF32(const float* x, float* out, int64_t n) { AccumulateArray<float>(x, out, n); }
void AccumulateF64(const double* x, double* out, int64_t n) { AccumulateArray<double>(x, out, n); }

// dx = y > 0 ? dy : +0 (a select: dy * step(y) made an infinite dy NaN), and colsum += dx.
template <class T>
HWY_INLINE void ReluBackwardVec(const T* HWY_RESTRICT dy, const T* HWY_RESTRICT y, T* HWY_RESTRICT dx,
                                T* HWY_RESTRICT colsum) {
  const hn::ScalableTag<T> d;
  const auto g = hn::IfThenElseZero(hn::Gt(hn::LoadU(d, y), hn::Zero(d)), hn::LoadU(d, dy));
  hn::StoreU(g, d, dx);
  if (colsum) hn::StoreU(hn::Add(hn::LoadU(d, colsum), g), d, colsum);
}
template <class T>
void ReluBackwardArray(const T* HWY_RESTRICT dy, const T* HWY_RESTRICT y, T* HWY_RESTRICT dx, T* HWY_RESTRICT colsum,
                       int64_t n) {
  const int64_t N = static_cast<int64_t>(hn::Lanes(hn::ScalableTag<T>()));
  int64_t i = 0;
  for (; i + N <= n; i += N) ReluBackwardVec(dy + i, y + i, dx + i, colsum ? colsum + i : nullptr);
  for (; i < n; ++i) {  // the same select and rounding as the lanes above
    const T g = y[i] > 0 ? dy[i] : T(0);
    dx[i] = g;
    if (colsum) colsum[i] += g;
  }
}
void ReluBackwardF32(const float* dy, const float* y, float* dx, float* colsum, int64_t n) {
  ReluBackwardArray<float>(dy, y, dx, colsum, n);
}
void ReluBackwardF64(const double* dy, const double* y, double* dx, double* colsum, int64_t n) {
  ReluBackwardArray<double>(dy, y, dx, colsum, n);
}

// y = exp(x - max) / sum(exp(x - max)); log variant: y = (x - max) - log(sum)
// (x - (max + log(sum)) lost the small terms: [1e8, 1e8] gave [0, 0]).
template <class T, bool kLog>
void SoftmaxRow(const T* HWY_RESTRICT x, T* HWY_RESTRICT y, int64_t n) {
  if (n == 0) return;
  const hn::ScalableTag<T> d;
  const T m = ExtremeArray<T, true>(x, n);
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto vm = hn::Set(d, m);
  auto acc = hn::Zero(d);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vm));
    if (!kLog) hn::StoreU(e, d, y + i);
    acc = hn::Add(acc, e);
  }
  T s = hn::GetLane(hn::SumOfLanes(d, acc));
  if (i < n) {
    HWY_ALIGN T bx[hn::MaxLanes(d)], by[hn::MaxLanes(d)];
    for (size_t j = 0; j < hn::MaxLanes(d); ++j) bx[j] = T(0);  // unused lanes
    for (int64_t j = 0; j < n - i; ++j) bx[j] = x[i + j] - m;
    hn::Store(hn::Exp(d, hn::Load(d, bx)), d, by);
    for (int64_t j = 0; j < n - i; ++j) {
      if (!kLog) y[i + j] = by[j];
      s += by[j];
    }
  }
  if (kLog) {
    const T ls = std::log(s);
    for (int64_t j = 0; j < n; ++j) y[j] = (x[j] - m) - ls;
  } else {
    const T inv = T(1) / s;
    for (int64_t j = 0; j < n; ++j) y[j] *= inv;
  }
}
void SoftmaxF32(const float* x, float* y, int64_t n) { SoftmaxRow<float, false>(x, y, n); }
void SoftmaxF64(const double* x, double* y, int64_t n) { SoftmaxRow<double, false>(x, y, n); }
void LogSoftmaxF32(const float* x, float* y, int64_t n) { SoftmaxRow<float, true>(x, y, n); }
void LogSoftmaxF64(const double* x, double* y, int64_t n) { SoftmaxRow<double, true>(x, y, n); }

// ------------------------------------------------- down the columns of [R, ld]
// The reduced dim of a contiguous [O, R, I] tensor without a transpose: column
// i < w of a block is x[r * ld + i], r < R, and one vector of columns is
// walked row after row (a strip). The columns past the last full vector take
// strips of N/2, N/4, ..., 1 lanes (CappedTag), so nothing outside the w
// columns is read or written (Highway 1.0's MaskedLoad is a full load on SSE4).
// Every column's math is lane-wise, the same instructions at any width, and
// its order depends on R only, so how the op layer splits the columns
// (threads, blocks, the narrow strips) never changes a bit.
template <class T, size_t kCap, class Op>
HWY_INLINE void NarrowStrips(int64_t i, int64_t w, const Op& op) {
  const hn::CappedTag<T, kCap> dc;
  const int64_t n = static_cast<int64_t>(hn::Lanes(dc));
  for (; i + n <= w; i += n) op(dc, i);
  if constexpr (kCap > 1) NarrowStrips<T, kCap / 2>(i, w, op);
}
template <class T, class Op>
HWY_INLINE void ForStrips(int64_t w, const Op& op) {
  const hn::ScalableTag<T> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= w; i += N) op(d, i);
  if constexpr (hn::MaxLanes(hn::ScalableTag<T>()) > 1)
    if (i < w) NarrowStrips<T, hn::MaxLanes(hn::ScalableTag<T>()) / 2>(i, w, op);
}

// Column maxima (kMax) or minima of one strip; *nan: the lanes that saw a NaN
// (their result is NaN). Two accumulators over even and odd rows: max and min
// are exact, so the split is free.
template <bool kMax, class D>
HWY_INLINE hn::Vec<D> ExtremeStrip(D d, const hn::TFromD<D>* x, int64_t R, int64_t ld, hn::Mask<D>* nan) {
  using T = hn::TFromD<D>;
  const T init = kMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
  auto m0 = hn::Set(d, init), m1 = m0;
  auto n0 = hn::Lt(m0, m0), n1 = n0;  // all false
  int64_t r = 0;
  for (; r + 2 <= R; r += 2) {
    const auto v0 = hn::LoadU(d, x + r * ld), v1 = hn::LoadU(d, x + (r + 1) * ld);
    m0 = kMax ? hn::Max(m0, v0) : hn::Min(m0, v0);
    m1 = kMax ? hn::Max(m1, v1) : hn::Min(m1, v1);
    n0 = hn::Or(n0, hn::IsNaN(v0));
    n1 = hn::Or(n1, hn::IsNaN(v1));
  }
  if (r < R) {
    const auto v0 = hn::LoadU(d, x + r * ld);
    m0 = kMax ? hn::Max(m0, v0) : hn::Min(m0, v0);
    n0 = hn::Or(n0, hn::IsNaN(v0));
  }
  *nan = hn::Or(n0, n1);
  const auto m = kMax ? hn::Max(m0, m1) : hn::Min(m0, m1);
  return hn::IfThenElse(*nan, hn::Set(d, std::numeric_limits<T>::quiet_NaN()), m);
}

template <class T, bool kMax>
struct ExtremeColsOp {
  const T* HWY_RESTRICT x;
  T* HWY_RESTRICT out;
  int64_t R, ld;
  template <class D>
  HWY_INLINE void operator()(D d, int64_t i) const {
    hn::Mask<D> nan;
    hn::StoreU(ExtremeStrip<kMax>(d, x + i, R, ld, &nan), d, out + i);
    if (HWY_UNLIKELY(!hn::AllFalse(d, nan)))  // the column's first NaN, as kernels::max returns
      for (int64_t j = i; j < i + static_cast<int64_t>(hn::Lanes(d)); ++j)
        for (int64_t r = 0; r < R; ++r)
          if (x[r * ld + j] != x[r * ld + j]) {
            out[j] = x[r * ld + j];
            break;
          }
  }
};
void MaxColsF32(const float* x, float* out, int64_t R, int64_t ld, int64_t w) { ForStrips<float>(w, ExtremeColsOp<float, true>{x, out, R, ld}); }
void MaxColsF64(const double* x, double* out, int64_t R, int64_t ld, int64_t w) { ForStrips<double>(w, ExtremeColsOp<double, true>{x, out, R, ld}); }
void MinColsF32(const float* x, float* out, int64_t R, int64_t ld, int64_t w) { ForStrips<float>(w, ExtremeColsOp<float, false>{x, out, R, ld}); }
void MinColsF64(const double* x, double* out, int64_t R, int64_t ld, int64_t w) { ForStrips<double>(w, ExtremeColsOp<double, false>{x, out, R, ld}); }

// Column maxima (kMax) or minima with their row: val[i] = x[r * ld + i] and
// idx[i] = r for the first r holding the extreme, or the first NaN if the
// column has one (PyTorch's max(dim) / argmax: first index on ties, NaN wins).
// Rows are scanned in two chains (even and odd rows, the compare-and-select
// of one chain is latency-bound), merged at the end by the same rule with the
// lower row winning a tie; indices ride in lanes of T's width (int32 for
// float: the op layer keeps R < 2^31).
template <class T, bool kMax>
struct ArgExtremeColsOp {
  const T* HWY_RESTRICT x;
  T* HWY_RESTRICT val;
  int64_t* HWY_RESTRICT idx;
  int64_t R, ld;
  template <class D>
  HWY_INLINE void operator()(D d, int64_t i) const {
    const hn::RebindToSigned<D> di;
    using TI = hn::TFromD<decltype(di)>;
    // (v, r) replaces (m, k): v beats m, or v is the first NaN. Ties keep (m, k).
    auto better = [&](auto v, auto m) {
      const auto beats = kMax ? hn::Gt(v, m) : hn::Lt(v, m);
      return hn::Or(beats, hn::AndNot(hn::IsNaN(m), hn::IsNaN(v)));
    };
    const T* HWY_RESTRICT xi = x + i;
    auto m0 = hn::LoadU(d, xi);
    auto k0 = hn::Zero(di);
    if (R >= 2) {
      auto m1 = hn::LoadU(d, xi + ld);
      auto k1 = hn::Set(di, TI(1));
      int64_t r = 2;
      auto r0 = hn::Set(di, TI(2)), r1 = hn::Set(di, TI(3));  // r and r + 1 in lanes
      const auto two = hn::Set(di, TI(2));
      for (; r + 2 <= R; r += 2) {
        const auto v0 = hn::LoadU(d, xi + r * ld), v1 = hn::LoadU(d, xi + (r + 1) * ld);
        const auto t0 = better(v0, m0), t1 = better(v1, m1);
        m0 = hn::IfThenElse(t0, v0, m0);
        k0 = hn::IfThenElse(hn::RebindMask(di, t0), r0, k0);
        m1 = hn::IfThenElse(t1, v1, m1);
        k1 = hn::IfThenElse(hn::RebindMask(di, t1), r1, k1);
        r0 = hn::Add(r0, two);
        r1 = hn::Add(r1, two);
      }
      if (r < R) {
        const auto v0 = hn::LoadU(d, xi + r * ld);
        const auto t0 = better(v0, m0);
        m0 = hn::IfThenElse(t0, v0, m0);
        k0 = hn::IfThenElse(hn::RebindMask(di, t0), hn::Set(di, TI(r)), k0);
      }
      // merge: chain 1 wins when it beats chain 0, or ties it (equal values,
      // or both NaN) from an earlier row
      const auto earlier = hn::RebindMask(d, hn::Lt(k1, k0));
      const auto tie = hn::Or(hn::Eq(m1, m0), hn::And(hn::IsNaN(m1), hn::IsNaN(m0)));
      const auto t = hn::Or(better(m1, m0), hn::And(tie, earlier));
      m0 = hn::IfThenElse(t, m1, m0);
      k0 = hn::IfThenElse(hn::RebindMask(di, t), k1, k0);
    }
    hn::StoreU(m0, d, val + i);
    HWY_ALIGN TI bk[hn::MaxLanes(di)];
    hn::Store(k0, di, bk);
    for (size_t j = 0; j < hn::Lanes(d); ++j) idx[i + static_cast<int64_t>(j)] = bk[j];
  }
};
void ArgMaxColsF32(const float* x, float* v, int64_t* k, int64_t R, int64_t ld, int64_t w) { ForStrips<float>(w, ArgExtremeColsOp<float, true>{x, v, k, R, ld}); }
void ArgMaxColsF64(const double* x, double* v, int64_t* k, int64_t R, int64_t ld, int64_t w) { ForStrips<double>(w, ArgExtremeColsOp<double, true>{x, v, k, R, ld}); }
void ArgMinColsF32(const float* x, float* v, int64_t* k, int64_t R, int64_t ld, int64_t w) { ForStrips<float>(w, ArgExtremeColsOp<float, false>{x, v, k, R, ld}); }
void ArgMinColsF64(const double* x, double* v, int64_t* k, int64_t R, int64_t ld, int64_t w) { ForStrips<double>(w, ArgExtremeColsOp<double, false>{x, v, k, R, ld}); }

// Softmax down the columns, per column the math of SoftmaxRow: m = max (NaN if
// any is), e = Exp(x - m) (Highway's Exp as there, not ExpIeee: x - m <= 0, and
// a NaN or all -inf column gives Exp(NaN) = 0, s = 0, y = NaN as there),
// s = Σ e in T accumulators, kSumBlock rows at a time with the block sums added
// in order (an error of ~(kSumBlock + R / kSumBlock) roundings, not R), then
// y = e * (1 / s), or for log y = (x - m) - log(s) (LogIeee).
constexpr int64_t kSumBlock = 16;
template <class T, bool kLog>
struct SoftmaxColsOp {
  const T* HWY_RESTRICT x;
  T* HWY_RESTRICT y;
  int64_t R, ld;
  template <class D>
  HWY_INLINE void operator()(D d, int64_t i) const {
    const T* HWY_RESTRICT xi = x + i;
    T* HWY_RESTRICT yi = y + i;
    hn::Mask<D> nan;
    const auto m = ExtremeStrip<true>(d, xi, R, ld, &nan);
    auto sum = hn::Zero(d);
    for (int64_t r0 = 0; r0 < R; r0 += kSumBlock) {
      auto b = hn::Zero(d);
      for (int64_t r = r0; r < std::min(R, r0 + kSumBlock); ++r) {
        const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, xi + r * ld), m));
        if (!kLog) hn::StoreU(e, d, yi + r * ld);
        b = hn::Add(b, e);
      }
      sum = hn::Add(sum, b);
    }
    if (kLog) {
      const auto ls = LogIeee(d, sum);
      for (int64_t r = 0; r < R; ++r) hn::StoreU(hn::Sub(hn::Sub(hn::LoadU(d, xi + r * ld), m), ls), d, yi + r * ld);
    } else {
      const auto inv = hn::Div(hn::Set(d, T(1)), sum);
      for (int64_t r = 0; r < R; ++r) hn::StoreU(hn::Mul(hn::LoadU(d, yi + r * ld), inv), d, yi + r * ld);
    }
  }
};
void SoftmaxColsF32(const float* x, float* y, int64_t R, int64_t ld, int64_t w) { ForStrips<float>(w, SoftmaxColsOp<float, false>{x, y, R, ld}); }
void SoftmaxColsF64(const double* x, double* y, int64_t R, int64_t ld, int64_t w) { ForStrips<double>(w, SoftmaxColsOp<double, false>{x, y, R, ld}); }
void LogSoftmaxColsF32(const float* x, float* y, int64_t R, int64_t ld, int64_t w) { ForStrips<float>(w, SoftmaxColsOp<float, true>{x, y, R, ld}); }
void LogSoftmaxColsF64(const double* x, double* y, int64_t R, int64_t ld, int64_t w) { ForStrips<double>(w, SoftmaxColsOp<double, true>{x, y, R, ld}); }

// The backward down the columns: softmax dx = y * (dy - Σ_r dy·y); log-softmax
// dx = dy - exp(y) * Σ_r dy (exp as the Exp op: ExpIeee). Sums over rows in
// kSumBlock blocks as above. The products are written as MulAdd / NegMulAdd:
// left as Mul + Add, GCC fused them in some strip widths and not in others.
template <class T, bool kLog>
struct SoftmaxBackwardColsOp {
  const T* HWY_RESTRICT dy;
  const T* HWY_RESTRICT y;
  T* HWY_RESTRICT dx;
  int64_t R, ld;
  template <class D>
  HWY_INLINE void operator()(D d, int64_t i) const {
    auto sum = hn::Zero(d);
    for (int64_t r0 = 0; r0 < R; r0 += kSumBlock) {
      auto b = hn::Zero(d);
      for (int64_t r = r0; r < std::min(R, r0 + kSumBlock); ++r) {
        const auto g = hn::LoadU(d, dy + i + r * ld);
        b = kLog ? hn::Add(b, g) : hn::MulAdd(g, hn::LoadU(d, y + i + r * ld), b);
      }
      sum = hn::Add(sum, b);
    }
    for (int64_t r = 0; r < R; ++r) {
      const int64_t k = i + r * ld;
      const auto g = hn::LoadU(d, dy + k), v = hn::LoadU(d, y + k);
      hn::StoreU(kLog ? hn::NegMulAdd(ExpIeee(d, v), sum, g) : hn::Mul(v, hn::Sub(g, sum)), d, dx + k);
    }
  }
};
void SoftmaxBackwardColsF32(const float* dy, const float* y, float* dx, int64_t R, int64_t ld, int64_t w) {
  ForStrips<float>(w, SoftmaxBackwardColsOp<float, false>{dy, y, dx, R, ld});
}
void SoftmaxBackwardColsF64(const double* dy, const double* y, double* dx, int64_t R, int64_t ld, int64_t w) {
  ForStrips<double>(w, SoftmaxBackwardColsOp<double, false>{dy, y, dx, R, ld});
}
void LogSoftmaxBackwardColsF32(const float* dy, const float* y, float* dx, int64_t R, int64_t ld, int64_t w) {
  ForStrips<float>(w, SoftmaxBackwardColsOp<float, true>{dy, y, dx, R, ld});
}
void LogSoftmaxBackwardColsF64(const double* dy, const double* y, double* dx, int64_t R, int64_t ld, int64_t w) {
  ForStrips<double>(w, SoftmaxBackwardColsOp<double, true>{dy, y, dx, R, ld});
}

const char* TargetName() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace tg::kernels
HWY_AFTER_NAMESPACE();
