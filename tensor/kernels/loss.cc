// Per-target compilation and dynamic dispatch of loss-inl.h, plus the scalar
// twins the tests compare the SIMD kernels with.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tensor/kernels/loss.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "tensor/kernels/loss-inl.h"

#if HWY_ONCE
#include <cmath>
#include <cstdint>

namespace tg::kernels {

HWY_EXPORT(ExpSumF32);
HWY_EXPORT(ExpSumF64);
HWY_EXPORT(SmoothSumF32);
HWY_EXPORT(SmoothSumF64);
HWY_EXPORT(XentBackwardF32);
HWY_EXPORT(XentBackwardF64);
HWY_EXPORT(ScaleF32);
HWY_EXPORT(ScaleF64);
HWY_EXPORT(ChannelAffineF32);
HWY_EXPORT(ChannelAffineF64);
HWY_EXPORT(SmoothL1ForwardF32);
HWY_EXPORT(SmoothL1ForwardF64);
HWY_EXPORT(SmoothL1BackwardF32);
HWY_EXPORT(SmoothL1BackwardF64);

double exp_sum_row(const float* x, float m, float* e, int64_t n) { return HWY_DYNAMIC_DISPATCH(ExpSumF32)(x, m, e, n); }
double exp_sum_row(const double* x, double m, double* e, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(ExpSumF64)(x, m, e, n);
}
double smooth_sum_row(const float* x, float m, float ls, const double* w, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(SmoothSumF32)(x, m, ls, w, n);
}
double smooth_sum_row(const double* x, double m, double ls, const double* w, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(SmoothSumF64)(x, m, ls, w, n);
}
void xent_backward_row(const float* p, const double* w, float* dx, double g, double S, double k, int64_t n) {
  HWY_DYNAMIC_DISPATCH(XentBackwardF32)(p, w, dx, g, S, k, n);
}
void xent_backward_row(const double* p, const double* w, double* dx, double g, double S, double k, int64_t n) {
  HWY_DYNAMIC_DISPATCH(XentBackwardF64)(p, w, dx, g, S, k, n);
}
void scale(const float* x, float a, float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(ScaleF32)(x, a, y, n); }
void scale(const double* x, double a, double* y, int64_t n) { HWY_DYNAMIC_DISPATCH(ScaleF64)(x, a, y, n); }
void channel_affine(const float* x, const float* scale, const float* shift, float* y, int64_t C, int64_t inner) {
  HWY_DYNAMIC_DISPATCH(ChannelAffineF32)(x, scale, shift, y, C, inner);
}
void channel_affine(const double* x, const double* scale, const double* shift, double* y, int64_t C,
                    int64_t inner) {
  HWY_DYNAMIC_DISPATCH(ChannelAffineF64)(x, scale, shift, y, C, inner);
}
float smooth_l1_forward(const float* x, const float* t, float* l, int64_t n, double beta) {
  return HWY_DYNAMIC_DISPATCH(SmoothL1ForwardF32)(x, t, l, n, beta);
}
double smooth_l1_forward(const double* x, const double* t, double* l, int64_t n, double beta) {
  return HWY_DYNAMIC_DISPATCH(SmoothL1ForwardF64)(x, t, l, n, beta);
}
void smooth_l1_backward(const float* x, const float* t, const float* dy, float g0, float* dx, float* dt, int64_t n,
                        double beta) {
  HWY_DYNAMIC_DISPATCH(SmoothL1BackwardF32)(x, t, dy, g0, dx, dt, n, beta);
}
void smooth_l1_backward(const double* x, const double* t, const double* dy, double g0, double* dx, double* dt,
                        int64_t n, double beta) {
  HWY_DYNAMIC_DISPATCH(SmoothL1BackwardF64)(x, t, dy, g0, dx, dt, n, beta);
}

// ---------------------------------------------------------------- scalar twins
namespace {
template <class T>
double exp_sum_ref(const T* x, T m, T* e, int64_t n) {
  double s = 0;
  for (int64_t c = 0; c < n; ++c) {
    const T v = std::exp(x[c] - m);
    if (e) e[c] = v;
    s += double(v);
  }
  return s;
}
template <class T>
double smooth_sum_ref(const T* x, T m, T ls, const double* w, int64_t n) {
  double s = 0;
  for (int64_t c = 0; c < n; ++c) s += (w ? w[c] : 1.0) * double((m - x[c]) + ls);
  return s;
}
template <class T>
void xent_backward_ref(const T* p, const double* w, T* dx, double g, double S, double k, int64_t n) {
  for (int64_t c = 0; c < n; ++c) dx[c] = T(g * (S * double(p[c]) - k * (w ? w[c] : 1.0)));
}
template <class T>
void channel_affine_ref_t(const T* x, const T* scale, const T* shift, T* y, int64_t C, int64_t inner) {
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < inner; ++i) y[c * inner + i] = x[c * inner + i] * scale[c] + (shift ? shift[c] : T(0));
}
template <class T>
double smooth_l1_forward_ref_t(const T* x, const T* t, T* l, int64_t n, double b) {
  const T beta = T(b), k = b != 0 ? T(0.5 / b) : T(0), hb = T(0.5 * b);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T d = x[i] - t[i], ad = std::abs(d);
    const T v = b == 0 ? ad : ad < beta ? (d * d) * k : ad - hb;
    if (l) l[i] = v;
    s += double(v);
  }
  return s;
}
template <class T>
void smooth_l1_backward_ref_t(const T* x, const T* t, const T* dy, T g0, T* dx, T* dt, int64_t n, double b) {
  const T beta = T(b);
  for (int64_t i = 0; i < n; ++i) {
    const T d = x[i] - t[i];
    const T sgn = T((d > 0) - (d < 0));
    const T dl = std::isnan(d) ? d : b != 0 && std::abs(d) < beta ? d / beta : sgn;
    const T r = (dy ? dy[i] : g0) * dl;
    dx[i] = r;
    if (dt) dt[i] = -r;
  }
}
}  // namespace

double exp_sum_row_ref(const float* x, float m, float* e, int64_t n) { return exp_sum_ref(x, m, e, n); }
double exp_sum_row_ref(const double* x, double m, double* e, int64_t n) { return exp_sum_ref(x, m, e, n); }
double smooth_sum_row_ref(const float* x, float m, float ls, const double* w, int64_t n) {
  return smooth_sum_ref(x, m, ls, w, n);
}
double smooth_sum_row_ref(const double* x, double m, double ls, const double* w, int64_t n) {
  return smooth_sum_ref(x, m, ls, w, n);
}
void xent_backward_row_ref(const float* p, const double* w, float* dx, double g, double S, double k, int64_t n) {
  xent_backward_ref(p, w, dx, g, S, k, n);
}
void xent_backward_row_ref(const double* p, const double* w, double* dx, double g, double S, double k, int64_t n) {
  xent_backward_ref(p, w, dx, g, S, k, n);
}
void channel_affine_ref(const float* x, const float* scale, const float* shift, float* y, int64_t C, int64_t inner) {
  channel_affine_ref_t(x, scale, shift, y, C, inner);
}
void channel_affine_ref(const double* x, const double* scale, const double* shift, double* y, int64_t C,
                        int64_t inner) {
  channel_affine_ref_t(x, scale, shift, y, C, inner);
}
double smooth_l1_forward_ref(const float* x, const float* t, float* l, int64_t n, double beta) {
  return smooth_l1_forward_ref_t(x, t, l, n, beta);
}
double smooth_l1_forward_ref(const double* x, const double* t, double* l, int64_t n, double beta) {
  return smooth_l1_forward_ref_t(x, t, l, n, beta);
}
void smooth_l1_backward_ref(const float* x, const float* t, const float* dy, float g0, float* dx, float* dt,
                            int64_t n, double beta) {
  smooth_l1_backward_ref_t(x, t, dy, g0, dx, dt, n, beta);
}
void smooth_l1_backward_ref(const double* x, const double* t, const double* dy, double g0, double* dx, double* dt,
                            int64_t n, double beta) {
  smooth_l1_backward_ref_t(x, t, dy, g0, dx, dt, n, beta);
}

}  // namespace tg::kernels
#endif  // HWY_ONCE
