// Highway bodies of the fused optimizer updates declared in optim.h.
//
// Skeleton layout: one per-vector helper per optimizer (`SgdVec`, `AdamVec`,
// ...) that loads a vector of each operand at the given pointers, applies the
// update and stores it back, then one array driver (`Walk`) that moves the
// pointers a vector at a time. The last partial vector is copied into padded,
// zero-filled stack buffers, updated as a whole vector and copied back, so the
// tail gets the same math as the body and nothing touches memory past the
// caller's span. Only Mul/Add/Div/Sqrt/Max are used (never MulAdd), which are
// correctly rounded on every target: results equal the scalar twins bit for bit.
// Included once per target by optim.cc (HWY_TARGET_INCLUDE).

#include <cstddef>
#include <cstdint>

#include "hwy/highway.h"
#include "tensor/kernels/optim.h"

HWY_BEFORE_NAMESPACE();
namespace tg::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Operand slots of one update: the parameter (read/write), its gradient (read
// only) and up to three state buffers (read/write, null when unused).
template <class T>
struct Operands {
  T* p;
  const T* g;
  T* s0;
  T* s1;
  T* s2;
  Operands Offset(size_t i) const {
    return {p + i, g + i, s0 ? s0 + i : nullptr, s1 ? s1 + i : nullptr, s2 ? s2 + i : nullptr};
  }
};

// g = ±grad (+ wd·p): the first two lines of every torch.optim update.
template <class D, class V = hn::VFromD<D>>
HWY_INLINE V LoadGrad(D d, const hn::TFromD<D>* HWY_RESTRICT g, V p, bool maximize, bool l2,
                      V weight_decay) {
  V grad = hn::LoadU(d, g);
  if (maximize) grad = hn::Neg(grad);
  if (l2) grad = hn::Add(grad, hn::Mul(weight_decay, p));  // grad.add(param, alpha=wd)
  return grad;
}

// ---------------------------------------------------------------- per vector
// s0 = momentum buffer.
template <class D>
HWY_INLINE void SgdVec(D d, const Operands<hn::TFromD<D>>& o, const SgdStepArgs& a,
                       const SgdScalars<hn::TFromD<D>>& c) {
  using V = hn::VFromD<D>;
  V p = hn::LoadU(d, o.p);
  V g = LoadGrad(d, o.g, p, a.maximize, a.weight_decay != 0, hn::Set(d, c.weight_decay));
  if (a.momentum != 0) {
    const V mu = hn::Set(d, c.momentum);
    V b;
    if (a.init_buffer) {
      b = g;  // torch.clone(d_p)
    } else {
      // buf.mul_(momentum).add_(d_p, alpha=1 - dampening)
      b = hn::Add(hn::Mul(hn::LoadU(d, o.s0), mu), hn::Mul(hn::Set(d, c.one_minus_dampening), g));
    }
    hn::StoreU(b, d, o.s0);
    g = a.nesterov ? hn::Add(g, hn::Mul(mu, b)) : b;
  }
  p = hn::Add(p, hn::Mul(hn::Set(d, c.neg_lr), g));  // param.add_(d_p, alpha=-lr)
  hn::StoreU(p, d, o.p);
}

// s0 = exp_avg, s1 = exp_avg_sq, s2 = max_exp_avg_sq.
template <class D>
HWY_INLINE void AdamVec(D d, const Operands<hn::TFromD<D>>& o, const AdamStepArgs& a,
                        const AdamScalars<hn::TFromD<D>>& c) {
  using V = hn::VFromD<D>;
  V p = hn::LoadU(d, o.p);
  if (a.decoupled) p = hn::Mul(p, hn::Set(d, c.decay));  // param.mul_(1 - lr * weight_decay)
  const V g = LoadGrad(d, o.g, p, a.maximize, !a.decoupled && a.weight_decay != 0,
                       hn::Set(d, c.weight_decay));
  // exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
  const V m = hn::Add(hn::Mul(hn::LoadU(d, o.s0), hn::Set(d, c.beta1)),
                      hn::Mul(hn::Set(d, c.one_minus_beta1), g));
  // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
  const V v = hn::Add(hn::Mul(hn::LoadU(d, o.s1), hn::Set(d, c.beta2)),
                      hn::Mul(hn::Mul(hn::Set(d, c.one_minus_beta2), g), g));
  hn::StoreU(m, d, o.s0);
  hn::StoreU(v, d, o.s1);
  V second = v;
  if (a.amsgrad) {
    second = hn::Max(hn::LoadU(d, o.s2), v);
    hn::StoreU(second, d, o.s2);
  }
  // denom = (v.sqrt() / bias_correction2_sqrt).add_(eps)
  const V denom = hn::Add(hn::Div(hn::Sqrt(second), hn::Set(d, c.bias_correction2_sqrt)),
                          hn::Set(d, c.eps));
  // param.addcdiv_(exp_avg, denom, value=-step_size)
  p = hn::Add(p, hn::Div(hn::Mul(hn::Set(d, c.neg_step_size), m), denom));
  hn::StoreU(p, d, o.p);
}

// s0 = square_avg, s1 = grad_avg, s2 = momentum buffer.
template <class D>
HWY_INLINE void RmspropVec(D d, const Operands<hn::TFromD<D>>& o, const RmspropStepArgs& a,
                           const RmspropScalars<hn::TFromD<D>>& c) {
  using V = hn::VFromD<D>;
  V p = hn::LoadU(d, o.p);
  const V g = LoadGrad(d, o.g, p, a.maximize, a.weight_decay != 0, hn::Set(d, c.weight_decay));
  const V alpha = hn::Set(d, c.alpha), one_minus_alpha = hn::Set(d, c.one_minus_alpha);
  // square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
  const V s = hn::Add(hn::Mul(hn::LoadU(d, o.s0), alpha), hn::Mul(hn::Mul(one_minus_alpha, g), g));
  hn::StoreU(s, d, o.s0);
  V avg;
  if (a.centered) {
    // grad_avg.mul_(alpha).add_(grad, alpha=1 - alpha)
    const V ga = hn::Add(hn::Mul(hn::LoadU(d, o.s1), alpha), hn::Mul(one_minus_alpha, g));
    hn::StoreU(ga, d, o.s1);
    // square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
    avg = hn::Sqrt(hn::Add(s, hn::Mul(hn::Neg(ga), ga)));
  } else {
    avg = hn::Sqrt(s);
  }
  avg = hn::Add(avg, hn::Set(d, c.eps));
  const V neg_lr = hn::Set(d, c.neg_lr);
  if (a.momentum > 0) {
    // buf.mul_(momentum).addcdiv_(grad, avg); param.add_(buf, alpha=-lr)
    const V b = hn::Add(hn::Mul(hn::LoadU(d, o.s2), hn::Set(d, c.momentum)), hn::Div(g, avg));
    hn::StoreU(b, d, o.s2);
    p = hn::Add(p, hn::Mul(neg_lr, b));
  } else {
    p = hn::Add(p, hn::Div(hn::Mul(neg_lr, g), avg));  // param.addcdiv_(grad, avg, value=-lr)
  }
  hn::StoreU(p, d, o.p);
}

// s0 = sum.
template <class D>
HWY_INLINE void AdagradVec(D d, const Operands<hn::TFromD<D>>& o, const AdagradStepArgs& a,
                           const AdagradScalars<hn::TFromD<D>>& c) {
  using V = hn::VFromD<D>;
  V p = hn::LoadU(d, o.p);
  const V g = LoadGrad(d, o.g, p, a.maximize, a.weight_decay != 0, hn::Set(d, c.weight_decay));
  const V s = hn::Add(hn::LoadU(d, o.s0), hn::Mul(g, g));  // state_sum.addcmul_(grad, grad, value=1)
  hn::StoreU(s, d, o.s0);
  const V std_ = hn::Add(hn::Sqrt(s), hn::Set(d, c.eps));  // state_sum.sqrt().add_(eps)
  p = hn::Add(p, hn::Div(hn::Mul(hn::Set(d, c.neg_clr), g), std_));  // addcdiv_(grad, std, value=-clr)
  hn::StoreU(p, d, o.p);
}

// ---------------------------------------------------------------- arrays
// Calls vec(d, operands) on whole vectors, then once on a padded copy of the tail.
template <class T, class VecFn>
HWY_INLINE void Walk(const Operands<T>& o, size_t n, const VecFn& vec) {
  const hn::ScalableTag<T> d;
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) vec(d, o.Offset(i));
  if (i == n) return;
  const size_t r = n - i;
  constexpr size_t kMax = hn::MaxLanes(d);
  HWY_ALIGN T bp[kMax] = {}, bg[kMax] = {}, b0[kMax] = {}, b1[kMax] = {}, b2[kMax] = {};
  const Operands<T> at = o.Offset(i);
  for (size_t j = 0; j < r; ++j) {
    bp[j] = at.p[j];
    bg[j] = at.g[j];
    if (at.s0) b0[j] = at.s0[j];
    if (at.s1) b1[j] = at.s1[j];
    if (at.s2) b2[j] = at.s2[j];
  }
  vec(d, Operands<T>{bp, bg, at.s0 ? b0 : nullptr, at.s1 ? b1 : nullptr, at.s2 ? b2 : nullptr});
  for (size_t j = 0; j < r; ++j) {
    at.p[j] = bp[j];
    if (at.s0) at.s0[j] = b0[j];
    if (at.s1) at.s1[j] = b1[j];
    if (at.s2) at.s2[j] = b2[j];
  }
}

template <class T>
void SgdArray(T* p, const T* g, T* buf, int64_t n, const SgdStepArgs& a) {
  const SgdScalars<T> c(a);
  Walk<T>({p, g, a.momentum != 0 ? buf : nullptr, nullptr, nullptr}, static_cast<size_t>(n),
          [&](auto d, const Operands<T>& o) HWY_ATTR { SgdVec(d, o, a, c); });
}

template <class T>
void AdamArray(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const AdamStepArgs& a) {
  const AdamScalars<T> c(a);
  Walk<T>({p, g, m, v, a.amsgrad ? vmax : nullptr}, static_cast<size_t>(n),
          [&](auto d, const Operands<T>& o) HWY_ATTR { AdamVec(d, o, a, c); });
}

template <class T>
void RmspropArray(T* p, const T* g, T* sq, T* ga, T* buf, int64_t n, const RmspropStepArgs& a) {
  const RmspropScalars<T> c(a);
  Walk<T>({p, g, sq, a.centered ? ga : nullptr, a.momentum > 0 ? buf : nullptr},
          static_cast<size_t>(n),
          [&](auto d, const Operands<T>& o) HWY_ATTR { RmspropVec(d, o, a, c); });
}

template <class T>
void AdagradArray(T* p, const T* g, T* sum, int64_t n, const AdagradStepArgs& a) {
  const AdagradScalars<T> c(a);
  Walk<T>({p, g, sum, nullptr, nullptr}, static_cast<size_t>(n),
          [&](auto d, const Operands<T>& o) HWY_ATTR { AdagradVec(d, o, a, c); });
}

// Exported per-target entry points (HWY_EXPORT needs plain functions).
void SgdF32(float* p, const float* g, float* b, int64_t n, const SgdStepArgs& a) {
  SgdArray<float>(p, g, b, n, a);
}
void SgdF64(double* p, const double* g, double* b, int64_t n, const SgdStepArgs& a) {
  SgdArray<double>(p, g, b, n, a);
}
void AdamF32(float* p, const float* g, float* m, float* v, float* vmax, int64_t n,
             const AdamStepArgs& a) {
  AdamArray<float>(p, g, m, v, vmax, n, a);
}
void AdamF64(double* p, const double* g, double* m, double* v, double* vmax, int64_t n,
             const AdamStepArgs& a) {
  AdamArray<double>(p, g, m, v, vmax, n, a);
}
void RmspropF32(float* p, const float* g, float* sq, float* ga, float* b, int64_t n,
                const RmspropStepArgs& a) {
  RmspropArray<float>(p, g, sq, ga, b, n, a);
}
void RmspropF64(double* p, const double* g, double* sq, double* ga, double* b, int64_t n,
                const RmspropStepArgs& a) {
  RmspropArray<double>(p, g, sq, ga, b, n, a);
}
void AdagradF32(float* p, const float* g, float* s, int64_t n, const AdagradStepArgs& a) {
  AdagradArray<float>(p, g, s, n, a);
}
void AdagradF64(double* p, const double* g, double* s, int64_t n, const AdagradStepArgs& a) {
  AdagradArray<double>(p, g, s, n, a);
}

}  // namespace HWY_NAMESPACE
}  // namespace tg::kernels
HWY_AFTER_NAMESPACE();
