// Loss and normalization kernels on contiguous spans: the SIMD bodies of
// nn::functional's cross_entropy (large class counts), batch_norm in eval
// mode and smooth_l1_loss, dispatched at run time to the best Highway target.
//
// Each function has a scalar twin (`*_ref`) in plain C++ that the tests
// compare against on every compiled target. Kernels never allocate, throw or
// spawn threads; pointers need no alignment and n may be anything. Every sum
// runs in a fixed order that depends on the target only (never on threads).
#pragma once
#include <cstdint>

namespace tg::kernels {

// ---- cross_entropy rows (x: one row of C logits, m: its max) ----
// s = Σ_c exp(x_c - m), the exps in T and summed in double lanes; with e,
// also e_c = exp(x_c - m). A NaN x_c (or m = ±inf, x_c - m = NaN) gives NaN,
// -inf gives 0, as std::exp.
double exp_sum_row(const float* x, float m, float* e, int64_t n);
double exp_sum_row(const double* x, double m, double* e, int64_t n);
// Σ_c w_c · double((m - x_c) + ls) in double lanes (w = nullptr: all 1): the
// label-smoothing term of the row's loss.
double smooth_sum_row(const float* x, float m, float ls, const double* w, int64_t n);
double smooth_sum_row(const double* x, double m, double ls, const double* w, int64_t n);
// dx_c = T(g · (S · double(p_c) - k · w_c))   (w = nullptr: all 1)
void xent_backward_row(const float* p, const double* w, float* dx, double g, double S, double k, int64_t n);
void xent_backward_row(const double* p, const double* w, double* dx, double g, double S, double k, int64_t n);
// y_c = x_c · a  (a scalar, the softmax normalization)
void scale(const float* x, float a, float* y, int64_t n);
void scale(const double* x, double a, double* y, int64_t n);

// ---- per-channel affine (batch_norm in eval mode and its dx) ----
// x: [C, inner] -> y[c, i] = x[c, i] · scale[c] + shift[c]  (shift = nullptr: 0),
// one multiply-add; inner = 1 is a row of C channels ([N, C] inputs).
void channel_affine(const float* x, const float* scale, const float* shift, float* y, int64_t C, int64_t inner);
void channel_affine(const double* x, const double* scale, const double* shift, double* y, int64_t C,
                    int64_t inner);

// ---- smooth_l1 (d = x - t; beta = 0: l = |d|) ----
// l = |d| < β ? d² · (0.5/β) : |d| - 0.5β    (the rounding of square(d) * (0.5/β)
// and abs(d) - 0.5β, with β, 0.5/β and 0.5β rounded to T as tensor-scalar ops do). With l, stores it; returns Σ l summed as kernels::sum does
// (four vectors of running sums, then the scalar tail), so reductions keep
// sum(l)'s bits.
float smooth_l1_forward(const float* x, const float* t, float* l, int64_t n, double beta);
double smooth_l1_forward(const double* x, const double* t, double* l, int64_t n, double beta);
// dx = g · (|d| < β ? d / β : sign(d))   (sign(0) = 0; NaN where d is NaN, as PyTorch), g = dy[i]
// (dy != nullptr) or the scalar g0; with dt, also dt = -dx.
void smooth_l1_backward(const float* x, const float* t, const float* dy, float g0, float* dx, float* dt, int64_t n,
                        double beta);
void smooth_l1_backward(const double* x, const double* t, const double* dy, double g0, double* dx, double* dt,
                        int64_t n, double beta);

// Scalar twins.
double exp_sum_row_ref(const float* x, float m, float* e, int64_t n);
double exp_sum_row_ref(const double* x, double m, double* e, int64_t n);
double smooth_sum_row_ref(const float* x, float m, float ls, const double* w, int64_t n);
double smooth_sum_row_ref(const double* x, double m, double ls, const double* w, int64_t n);
void xent_backward_row_ref(const float* p, const double* w, float* dx, double g, double S, double k, int64_t n);
void xent_backward_row_ref(const double* p, const double* w, double* dx, double g, double S, double k, int64_t n);
void channel_affine_ref(const float* x, const float* scale, const float* shift, float* y, int64_t C, int64_t inner);
void channel_affine_ref(const double* x, const double* scale, const double* shift, double* y, int64_t C,
                        int64_t inner);
double smooth_l1_forward_ref(const float* x, const float* t, float* l, int64_t n, double beta);
double smooth_l1_forward_ref(const double* x, const double* t, double* l, int64_t n, double beta);
void smooth_l1_backward_ref(const float* x, const float* t, const float* dy, float g0, float* dx, float* dt,
                            int64_t n, double beta);
void smooth_l1_backward_ref(const double* x, const double* t, const double* dy, double g0, double* dx, double* dt,
                            int64_t n, double beta);

}  // namespace tg::kernels
