// Per-target compilation and dynamic dispatch of optim-inl.h, plus the scalar
// twins: the same update one element at a time, written exactly like the
// torch.optim lines they mirror.
//
// GCC contracts a*b + c into an FMA by default in C++ (-ffp-contract=fast)
// whenever the target has one (AVX2, AVX3), which would make those targets
// round differently from SSE4 and the twins. Contraction is switched off for
// this file so every target computes the same bits (clang contracts within an
// expression: switched off too).
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tensor/kernels/optim.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "tensor/kernels/optim-inl.h"

#if HWY_ONCE
#include <algorithm>
#include <cmath>

namespace tg::kernels {

HWY_EXPORT(SgdF32);
HWY_EXPORT(SgdF64);
HWY_EXPORT(AdamF32);
HWY_EXPORT(AdamF64);
HWY_EXPORT(RmspropF32);
HWY_EXPORT(RmspropF64);
HWY_EXPORT(AdagradF32);
HWY_EXPORT(AdagradF64);

void sgd_step(float* p, const float* g, float* b, int64_t n, const SgdStepArgs& a) {
  HWY_DYNAMIC_DISPATCH(SgdF32)(p, g, b, n, a);
}
void sgd_step(double* p, const double* g, double* b, int64_t n, const SgdStepArgs& a) {
  HWY_DYNAMIC_DISPATCH(SgdF64)(p, g, b, n, a);
}
void adam_step(float* p, const float* g, float* m, float* v, float* vmax, int64_t n,
               const AdamStepArgs& a) {
  HWY_DYNAMIC_DISPATCH(AdamF32)(p, g, m, v, vmax, n, a);
}
void adam_step(double* p, const double* g, double* m, double* v, double* vmax, int64_t n,
               const AdamStepArgs& a) {
  HWY_DYNAMIC_DISPATCH(AdamF64)(p, g, m, v, vmax, n, a);
}
void rmsprop_step(float* p, const float* g, float* sq, float* ga, float* b, int64_t n,
                  const RmspropStepArgs& a) {
  HWY_DYNAMIC_DISPATCH(RmspropF32)(p, g, sq, ga, b, n, a);
}
void rmsprop_step(double* p, const double* g, double* sq, double* ga, double* b, int64_t n,
                  const RmspropStepArgs& a) {
  HWY_DYNAMIC_DISPATCH(RmspropF64)(p, g, sq, ga, b, n, a);
}
void adagrad_step(float* p, const float* g, float* s, int64_t n, const AdagradStepArgs& a) {
  HWY_DYNAMIC_DISPATCH(AdagradF32)(p, g, s, n, a);
}
void adagrad_step(double* p, const double* g, double* s, int64_t n, const AdagradStepArgs& a) {
  HWY_DYNAMIC_DISPATCH(AdagradF64)(p, g, s, n, a);
}

// ---------------------------------------------------------------- scalar twins
namespace {

template <class T>
T load_grad(T g, T p, bool maximize, bool l2, T wd) {
  T d = maximize ? -g : g;
  if (l2) d = d + wd * p;
  return d;
}

template <class T>
void sgd_ref(T* p, const T* g, T* buf, int64_t n, const SgdStepArgs& a) {
  const SgdScalars<T> c(a);
  for (int64_t i = 0; i < n; ++i) {
    T d = load_grad(g[i], p[i], a.maximize, a.weight_decay != 0, c.weight_decay);
    if (a.momentum != 0) {
      buf[i] = a.init_buffer ? d : buf[i] * c.momentum + c.one_minus_dampening * d;
      d = a.nesterov ? d + c.momentum * buf[i] : buf[i];
    }
    p[i] = p[i] + c.neg_lr * d;
  }
}

template <class T>
void adam_ref(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const AdamStepArgs& a) {
  const AdamScalars<T> c(a);
  for (int64_t i = 0; i < n; ++i) {
    T pi = a.decoupled ? p[i] * c.decay : p[i];
    const T d = load_grad(g[i], pi, a.maximize, !a.decoupled && a.weight_decay != 0, c.weight_decay);
    m[i] = m[i] * c.beta1 + c.one_minus_beta1 * d;
    v[i] = v[i] * c.beta2 + c.one_minus_beta2 * d * d;
    T second = v[i];
    if (a.amsgrad) second = vmax[i] = std::max(vmax[i], v[i]);
    const T denom = std::sqrt(second) / c.bias_correction2_sqrt + c.eps;
    p[i] = pi + c.neg_step_size * m[i] / denom;
  }
}

template <class T>
void rmsprop_ref(T* p, const T* g, T* sq, T* ga, T* buf, int64_t n, const RmspropStepArgs& a) {
  const RmspropScalars<T> c(a);
  for (int64_t i = 0; i < n; ++i) {
    const T d = load_grad(g[i], p[i], a.maximize, a.weight_decay != 0, c.weight_decay);
    sq[i] = sq[i] * c.alpha + c.one_minus_alpha * d * d;
    T avg;
    if (a.centered) {
      ga[i] = ga[i] * c.alpha + c.one_minus_alpha * d;
      avg = std::sqrt(sq[i] + -ga[i] * ga[i]);
    } else {
      avg = std::sqrt(sq[i]);
    }
    avg = avg + c.eps;
    if (a.momentum > 0) {
      buf[i] = buf[i] * c.momentum + d / avg;
      p[i] = p[i] + c.neg_lr * buf[i];
    } else {
      p[i] = p[i] + c.neg_lr * d / avg;
    }
  }
}

template <class T>
void adagrad_ref(T* p, const T* g, T* s, int64_t n, const AdagradStepArgs& a) {
  const AdagradScalars<T> c(a);
  for (int64_t i = 0; i < n; ++i) {
    const T d = load_grad(g[i], p[i], a.maximize, a.weight_decay != 0, c.weight_decay);
    s[i] = s[i] + d * d;
    const T std_ = std::sqrt(s[i]) + c.eps;
    p[i] = p[i] + c.neg_clr * d / std_;
  }
}

}  // namespace

void sgd_step_ref(float* p, const float* g, float* b, int64_t n, const SgdStepArgs& a) { sgd_ref(p, g, b, n, a); }
void sgd_step_ref(double* p, const double* g, double* b, int64_t n, const SgdStepArgs& a) { sgd_ref(p, g, b, n, a); }
void adam_step_ref(float* p, const float* g, float* m, float* v, float* vmax, int64_t n, const AdamStepArgs& a) {
  adam_ref(p, g, m, v, vmax, n, a);
}
void adam_step_ref(double* p, const double* g, double* m, double* v, double* vmax, int64_t n,
                   const AdamStepArgs& a) {
  adam_ref(p, g, m, v, vmax, n, a);
}
void rmsprop_step_ref(float* p, const float* g, float* sq, float* ga, float* b, int64_t n,
                      const RmspropStepArgs& a) {
  rmsprop_ref(p, g, sq, ga, b, n, a);
}
void rmsprop_step_ref(double* p, const double* g, double* sq, double* ga, double* b, int64_t n,
                      const RmspropStepArgs& a) {
  rmsprop_ref(p, g, sq, ga, b, n, a);
}
void adagrad_step_ref(float* p, const float* g, float* s, int64_t n, const AdagradStepArgs& a) {
  adagrad_ref(p, g, s, n, a);
}
void adagrad_step_ref(double* p, const double* g, double* s, int64_t n, const AdagradStepArgs& a) {
  adagrad_ref(p, g, s, n, a);
}

}  // namespace tg::kernels
#endif  // HWY_ONCE
