// Highway bodies of the loss and normalization kernels (loss.h).
//
// Layout as in Highway's skeleton and elementwise-inl.h: per-vector helpers,
// then array wrappers that walk a span a vector at a time. A last partial
// vector is copied into a padded stack buffer, computed as a whole vector and
// copied back (or masked off in a sum), so the tail gets the very same math
// as the body and nothing reads past the caller's span.
// Included once per target by loss.cc (HWY_TARGET_INCLUDE).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"
#include "tensor/kernels/math-inl.h"
#include "tensor/kernels/loss.h"

HWY_BEFORE_NAMESPACE();
namespace tg::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// ---------------------------------------------------------------- per vector
// ExpIeee (NaN passes through, large x gives inf, as std::exp): math-inl.h.

// Adds the lanes of v (float or double) into double accumulators: a float
// vector is widened half by half into a0 (lower) and a1 (upper).
template <class D, class V, class VD>
HWY_INLINE void AddWide(D d, V v, VD& a0, VD& a1) {
  using T = hn::TFromD<D>;
  if constexpr (sizeof(T) == 4) {
    const hn::ScalableTag<double> dd;
#if HWY_TARGET == HWY_SCALAR  // one lane of each
    a0 = hn::Add(a0, hn::PromoteTo(dd, v));
    (void)a1;
#else
    const hn::Half<D> dh;
    a0 = hn::Add(a0, hn::PromoteTo(dd, hn::LowerHalf(dh, v)));
    a1 = hn::Add(a1, hn::PromoteTo(dd, hn::UpperHalf(dh, v)));
#endif
  } else {
    a0 = hn::Add(a0, v);
  }
}

// ---------------------------------------------------------------- cross_entropy rows
// s = Σ exp(x - m): exps in T, summed in double lanes (2 float lanes of 8 per
// double vector on AVX2), lanes combined once at the end: a fixed order per target.
template <class T>
double ExpSumArray(const T* HWY_RESTRICT x, T m, T* HWY_RESTRICT e, int64_t n) {
  const hn::ScalableTag<T> d;
  const hn::ScalableTag<double> dd;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto vm = hn::Set(d, m);
  auto a0 = hn::Zero(dd), a1 = hn::Zero(dd), a2 = hn::Zero(dd), a3 = hn::Zero(dd);
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto e0 = ExpIeee(d, hn::Sub(hn::LoadU(d, x + i), vm));
    const auto e1 = ExpIeee(d, hn::Sub(hn::LoadU(d, x + i + N), vm));
    if (e) {
      hn::StoreU(e0, d, e + i);
      hn::StoreU(e1, d, e + i + N);
    }
    AddWide(d, e0, a0, a1);
    AddWide(d, e1, a2, a3);
  }
  for (; i + N <= n; i += N) {
    const auto e0 = ExpIeee(d, hn::Sub(hn::LoadU(d, x + i), vm));
    if (e) hn::StoreU(e0, d, e + i);
    AddWide(d, e0, a0, a1);
  }
  if (i < n) {
    HWY_ALIGN T bx[hn::MaxLanes(d)] = {}, be[hn::MaxLanes(d)];
    const int64_t r = n - i;
    for (int64_t j = 0; j < r; ++j) bx[j] = x[i + j];
    const auto e0 = hn::IfThenElseZero(hn::FirstN(d, size_t(r)), ExpIeee(d, hn::Sub(hn::Load(d, bx), vm)));
    hn::Store(e0, d, be);
    if (e)
      for (int64_t j = 0; j < r; ++j) e[i + j] = be[j];
    AddWide(d, e0, a2, a3);
  }
  const auto s = hn::Add(hn::Add(a0, a1), hn::Add(a2, a3));
  return hn::GetLane(hn::SumOfLanes(dd, s));
}
double ExpSumF32(const float* x, float m, float* e, int64_t n) { return ExpSumArray<float>(x, m, e, n); }
double ExpSumF64(const double* x, double m, double* e, int64_t n) { return ExpSumArray<double>(x, m, e, n); }

// Σ w_c · double((m - x_c) + ls): (m - x) + ls in T lanes, widened, weighted
// and summed in double lanes. Walks the row in double-vector steps.
template <class T>
double SmoothSumArray(const T* HWY_RESTRICT x, T m, T ls, const double* HWY_RESTRICT w, int64_t n) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<T, decltype(dd)> d;  // as many T lanes as doubles
  const int64_t N = static_cast<int64_t>(hn::Lanes(dd));
  const auto vm = hn::Set(d, m), vls = hn::Set(d, ls);
  auto term = [&](auto xv) {
    const auto t = hn::Add(hn::Sub(vm, xv), vls);
    if constexpr (sizeof(T) == 4) return hn::PromoteTo(dd, t);
    else return t;
  };
  auto a0 = hn::Zero(dd), a1 = hn::Zero(dd);
  const auto one = hn::Set(dd, 1.0);
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    a0 = hn::Add(a0, hn::Mul(w ? hn::LoadU(dd, w + i) : one, term(hn::LoadU(d, x + i))));
    a1 = hn::Add(a1, hn::Mul(w ? hn::LoadU(dd, w + i + N) : one, term(hn::LoadU(d, x + i + N))));
  }
  for (; i < n; i += N) {
    HWY_ALIGN T bx[hn::MaxLanes(d)] = {};
    HWY_ALIGN double bw[hn::MaxLanes(dd)] = {};  // unused lanes weigh 0
    const int64_t r = std::min<int64_t>(N, n - i);
    for (int64_t j = 0; j < r; ++j) {
      bx[j] = x[i + j];
      bw[j] = w ? w[i + j] : 1.0;
    }
    // (m - 0) + ls may be inf or NaN in an unused lane: masked, not weighted
    const auto v = hn::IfThenElseZero(hn::FirstN(dd, size_t(r)), hn::Mul(hn::Load(dd, bw), term(hn::Load(d, bx))));
    a0 = hn::Add(a0, v);
  }
  return hn::GetLane(hn::SumOfLanes(dd, hn::Add(a0, a1)));
}
double SmoothSumF32(const float* x, float m, float ls, const double* w, int64_t n) {
  return SmoothSumArray<float>(x, m, ls, w, n);
}
double SmoothSumF64(const double* x, double m, double ls, const double* w, int64_t n) {
  return SmoothSumArray<double>(x, m, ls, w, n);
}

// dx = T(g (S p - k w)) in double lanes.
template <class T>
void XentBackwardArray(const T* HWY_RESTRICT p, const double* HWY_RESTRICT w, T* HWY_RESTRICT dx, double g, double S,
                       double k, int64_t n) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<T, decltype(dd)> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(dd));
  const auto vg = hn::Set(dd, g), vS = hn::Set(dd, S), vk = hn::Set(dd, k), one = hn::Set(dd, 1.0);
  auto body = [&](const T* pp, const double* ww, T* out) {
    const auto pv = hn::LoadU(d, pp);
    hn::VFromD<decltype(dd)> pw;
    if constexpr (sizeof(T) == 4) pw = hn::PromoteTo(dd, pv);
    else pw = pv;
    const auto r = hn::Mul(vg, hn::Sub(hn::Mul(vS, pw), hn::Mul(vk, ww ? hn::LoadU(dd, ww) : one)));
    if constexpr (sizeof(T) == 4) hn::StoreU(hn::DemoteTo(d, r), d, out);
    else hn::StoreU(r, d, out);
  };
  int64_t i = 0;
  for (; i + N <= n; i += N) body(p + i, w ? w + i : nullptr, dx + i);
  if (i < n) {
    HWY_ALIGN T bp[hn::MaxLanes(d)] = {}, bo[hn::MaxLanes(d)];
    HWY_ALIGN double bw[hn::MaxLanes(dd)] = {};
    const int64_t r = n - i;
    for (int64_t j = 0; j < r; ++j) {
      bp[j] = p[i + j];
      bw[j] = w ? w[i + j] : 1.0;
    }
    body(bp, bw, bo);
    for (int64_t j = 0; j < r; ++j) dx[i + j] = bo[j];
  }
}
void XentBackwardF32(const float* p, const double* w, float* dx, double g, double S, double k, int64_t n) {
  XentBackwardArray<float>(p, w, dx, g, S, k, n);
}
void XentBackwardF64(const double* p, const double* w, double* dx, double g, double S, double k, int64_t n) {
  XentBackwardArray<double>(p, w, dx, g, S, k, n);
}

template <class T>
void ScaleArray(const T* HWY_RESTRICT x, T a, T* HWY_RESTRICT y, int64_t n) {
  const hn::ScalableTag<T> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto va = hn::Set(d, a);
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(d, x + i), va), d, y + i);
  for (; i < n; ++i) y[i] = x[i] * a;  // one rounding, as the lanes
}
void ScaleF32(const float* x, float a, float* y, int64_t n) { ScaleArray<float>(x, a, y, n); }
void ScaleF64(const double* x, double a, double* y, int64_t n) { ScaleArray<double>(x, a, y, n); }

// ---------------------------------------------------------------- per-channel affine
// y = x · a + b with one multiply-add (a rounding less than mul then add).
template <class T>
void ChannelAffineArray(const T* HWY_RESTRICT x, const T* HWY_RESTRICT scale, const T* HWY_RESTRICT shift,
                        T* HWY_RESTRICT y, int64_t C, int64_t inner) {
  const hn::ScalableTag<T> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  auto op = [&](auto xv, auto a, auto b) { return shift ? hn::MulAdd(xv, a, b) : hn::Mul(xv, a); };
  if (inner == 1) {  // a row of channels: scale and shift vary by lane
    int64_t i = 0;
    for (; i + N <= C; i += N)
      hn::StoreU(op(hn::LoadU(d, x + i), hn::LoadU(d, scale + i), shift ? hn::LoadU(d, shift + i) : hn::Zero(d)), d,
                 y + i);
    if (i < C) {
      HWY_ALIGN T bx[hn::MaxLanes(d)] = {}, ba[hn::MaxLanes(d)] = {}, bb[hn::MaxLanes(d)] = {}, bo[hn::MaxLanes(d)];
      const int64_t r = C - i;
      for (int64_t j = 0; j < r; ++j) {
        bx[j] = x[i + j];
        ba[j] = scale[i + j];
        bb[j] = shift ? shift[i + j] : T(0);
      }
      hn::Store(op(hn::Load(d, bx), hn::Load(d, ba), hn::Load(d, bb)), d, bo);
      for (int64_t j = 0; j < r; ++j) y[i + j] = bo[j];
    }
    return;
  }
  for (int64_t c = 0; c < C; ++c) {
    const T* xc = x + c * inner;
    T* yc = y + c * inner;
    const auto a = hn::Set(d, scale[c]), b = hn::Set(d, shift ? shift[c] : T(0));
    int64_t i = 0;
    for (; i + N <= inner; i += N) hn::StoreU(op(hn::LoadU(d, xc + i), a, b), d, yc + i);
    if (i < inner) {
      HWY_ALIGN T bx[hn::MaxLanes(d)] = {}, bo[hn::MaxLanes(d)];
      const int64_t r = inner - i;
      for (int64_t j = 0; j < r; ++j) bx[j] = xc[i + j];
      hn::Store(op(hn::Load(d, bx), a, b), d, bo);
      for (int64_t j = 0; j < r; ++j) yc[i + j] = bo[j];
    }
  }
}
void ChannelAffineF32(const float* x, const float* scale, const float* shift, float* y, int64_t C, int64_t inner) {
  ChannelAffineArray<float>(x, scale, shift, y, C, inner);
}
void ChannelAffineF64(const double* x, const double* scale, const double* shift, double* y, int64_t C,
                      int64_t inner) {
  ChannelAffineArray<double>(x, scale, shift, y, C, inner);
}

// ---------------------------------------------------------------- smooth_l1
// l = |d| < β ? (d · d) · (0.5/β) : |d| - 0.5β  (β = 0: |d|), d = x - t.
template <class D, class V>
HWY_INLINE V SmoothL1(D d, V x, V t, V beta, V k, V hb, bool quad) {
  const V df = hn::Sub(x, t);
  const V ad = hn::Abs(df);
  if (!quad) return ad;
  return hn::IfThenElse(hn::Lt(ad, beta), hn::Mul(hn::Mul(df, df), k), hn::Sub(ad, hb));
}
template <class T>
HWY_INLINE T SmoothL1Scalar(T x, T t, T beta, T k, T hb, bool quad) {
  const T df = x - t;
  const T ad = std::abs(df);
  if (!quad) return ad;
  return ad < beta ? (df * df) * k : ad - hb;
}

// The sum mirrors elementwise-inl.h's SumArray: four vectors of running sums
// over blocks of 4 vectors, then single vectors into the first, the lanes
// summed, then the scalar tail (the same bits as kernels::sum of l).
template <class T>
T SmoothL1ForwardArray(const T* HWY_RESTRICT x, const T* HWY_RESTRICT t, T* HWY_RESTRICT l, int64_t n, double b) {
  const hn::ScalableTag<T> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const bool quad = b != 0;
  const T beta = T(b), k = quad ? T(0.5 / b) : T(0), hb = T(0.5 * b);
  const auto vb = hn::Set(d, beta), vk = hn::Set(d, k), vhb = hn::Set(d, hb);
  auto at = [&](int64_t i) {
    const auto v = SmoothL1(d, hn::LoadU(d, x + i), hn::LoadU(d, t + i), vb, vk, vhb, quad);
    if (l) hn::StoreU(v, d, l + i);
    return v;
  };
  auto s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    s0 = hn::Add(s0, at(i));
    s1 = hn::Add(s1, at(i + N));
    s2 = hn::Add(s2, at(i + 2 * N));
    s3 = hn::Add(s3, at(i + 3 * N));
  }
  for (; i + N <= n; i += N) s0 = hn::Add(s0, at(i));
  T tail = 0;
  for (; i < n; ++i) {
    const T v = SmoothL1Scalar(x[i], t[i], beta, k, hb, quad);
    if (l) l[i] = v;
    tail += v;
  }
  const auto s = hn::Add(hn::Add(s0, s1), hn::Add(s2, s3));
  return hn::GetLane(hn::SumOfLanes(d, s)) + tail;
}
float SmoothL1ForwardF32(const float* x, const float* t, float* l, int64_t n, double beta) {
  return SmoothL1ForwardArray<float>(x, t, l, n, beta);
}
double SmoothL1ForwardF64(const double* x, const double* t, double* l, int64_t n, double beta) {
  return SmoothL1ForwardArray<double>(x, t, l, n, beta);
}

// dx = g · (|d| < β ? d / β : sign(d)), dt = -dx; NaN where d is NaN.
template <class T>
void SmoothL1BackwardArray(const T* HWY_RESTRICT x, const T* HWY_RESTRICT t, const T* HWY_RESTRICT dy, T g0,
                           T* HWY_RESTRICT dx, T* HWY_RESTRICT dt, int64_t n, double beta) {
  const hn::ScalableTag<T> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const bool quad = beta != 0;
  const auto vb = hn::Set(d, T(beta)), vg = hn::Set(d, g0), zero = hn::Zero(d), one = hn::Set(d, T(1));
  auto body = [&](const T* xp, const T* tp, const T* gp, T* dxp, T* dtp) {
    const auto df = hn::Sub(hn::LoadU(d, xp), hn::LoadU(d, tp));
    const auto sgn = hn::Sub(hn::IfThenElseZero(hn::Gt(df, zero), one), hn::IfThenElseZero(hn::Lt(df, zero), one));
    // a NaN difference passes through (PyTorch's gradient is NaN there)
    const auto dl = hn::IfThenElse(hn::IsNaN(df), df,
                                   quad ? hn::IfThenElse(hn::Lt(hn::Abs(df), vb), hn::Div(df, vb), sgn) : sgn);
    const auto r = hn::Mul(gp ? hn::LoadU(d, gp) : vg, dl);
    hn::StoreU(r, d, dxp);
    if (dtp) hn::StoreU(hn::Neg(r), d, dtp);
  };
  int64_t i = 0;
  for (; i + N <= n; i += N) body(x + i, t + i, dy ? dy + i : nullptr, dx + i, dt ? dt + i : nullptr);
  if (i < n) {
    HWY_ALIGN T bx[hn::MaxLanes(d)] = {}, bt[hn::MaxLanes(d)] = {}, bg[hn::MaxLanes(d)] = {};
    HWY_ALIGN T bdx[hn::MaxLanes(d)], bdt[hn::MaxLanes(d)];
    const int64_t r = n - i;
    for (int64_t j = 0; j < r; ++j) {
      bx[j] = x[i + j];
      bt[j] = t[i + j];
      if (dy) bg[j] = dy[i + j];
    }
    body(bx, bt, dy ? bg : nullptr, bdx, dt ? bdt : nullptr);
    for (int64_t j = 0; j < r; ++j) {
      dx[i + j] = bdx[j];
      if (dt) dt[i + j] = bdt[j];
    }
  }
}
void SmoothL1BackwardF32(const float* x, const float* t, const float* dy, float g0, float* dx, float* dt, int64_t n,
                         double beta) {
  SmoothL1BackwardArray<float>(x, t, dy, g0, dx, dt, n, beta);
}
void SmoothL1BackwardF64(const double* x, const double* t, const double* dy, double g0, double* dx, double* dt,
                         int64_t n, double beta) {
  SmoothL1BackwardArray<double>(x, t, dy, g0, dx, dt, n, beta);
}

}  // namespace HWY_NAMESPACE
}  // namespace tg::kernels
HWY_AFTER_NAMESPACE();
