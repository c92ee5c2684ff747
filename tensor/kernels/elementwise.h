// Elementwise and reduction kernels on contiguous spans: the SIMD bodies of the
// tensor ops, dispatched at run time to the best Highway target.
//
// Binary kernels read a[i*sa] and b[i*sb] with sa, sb in {0, 1} (0 broadcasts
// one value), so one call covers tensor-tensor, tensor-scalar and
// scalar-tensor. Each function has a scalar twin (`*_ref`) in plain C++ that
// the tests compare against on every compiled target. Kernels never allocate,
// throw or spawn threads; pointers need no alignment and n may be anything.
#pragma once
#include <cstdint>

namespace tg::kernels {

enum class BinaryOp : int { Add, Sub, Mul, Div, Pow, Max, Min, Eq, Ne, Lt, Le, Gt, Ge };
// p0/p1 parameterize LeakyRelu (slope), Clamp (lo, hi), PowScalar (p).
enum class UnaryOp : int {
  Neg, Exp, Log, Sqrt, Rsqrt, Abs, Sign, Square, Relu, Sigmoid, Tanh, Erf,
  GeluTanh, GeluErf, LeakyRelu, Clamp, PowScalar, Recip, Step /* x > 0 */
};

void binary(BinaryOp op, const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n);
void binary(BinaryOp op, const double* a, int64_t sa, const double* b, int64_t sb, double* out, int64_t n);
void binary(BinaryOp op, const int64_t* a, int64_t sa, const int64_t* b, int64_t sb, int64_t* out, int64_t n);
void unary(UnaryOp op, const float* x, float* y, int64_t n, double p0 = 0, double p1 = 0);
void unary(UnaryOp op, const double* x, double* y, int64_t n, double p0 = 0, double p1 = 0);
void unary(UnaryOp op, const int64_t* x, int64_t* y, int64_t n, double p0 = 0, double p1 = 0);

// Reductions of one contiguous span.
float sum(const float* x, int64_t n);
double sum(const double* x, int64_t n);
float max(const float* x, int64_t n);
double max(const double* x, int64_t n);
float min(const float* x, int64_t n);
double min(const double* x, int64_t n);
// Σ |x_i|^p over a span in double (p > 0 finite; clip_grad_norm_'s norms):
// p = 2 sums x·x, p = 1 |x|, a whole p in [3, 64] products by repeated
// squaring, any other p exp(p·log|x|) (~1e-15 relative per term; 0 -> 0,
// inf -> inf, NaN -> NaN). Floats are widened before the math,
// so x·x is exact; the terms are summed in double lanes, a fixed order per
// target. For p = inf use max and min (max |x| = max(|max x|, |min x|)).
double abs_pow_sum(const float* x, int64_t n, double p);
double abs_pow_sum(const double* x, int64_t n, double p);
// out[i] += x[i] for a span (column sums accumulate row after row).
void accumulate(const float* x, float* out, int64_t n);
void accumulate(const double* x, double* out, int64_t n);
// ReLU's backward in one pass: dx[i] = y[i] > 0 ? dy[i] : +0 (the same select
// as the recorded where(step(y), dy, 0), so -0 and NaN come out alike); with colsum,
// also colsum[i] += dx[i] (a bias gradient summed row after row).
void relu_backward(const float* dy, const float* y, float* dx, float* colsum, int64_t n);
void relu_backward(const double* dy, const double* y, double* dx, double* colsum, int64_t n);
// Softmax / log-softmax of one row (max-subtracted, numerically stable).
void softmax_row(const float* x, float* y, int64_t n);
void softmax_row(const double* x, double* y, int64_t n);
void log_softmax_row(const float* x, float* y, int64_t n);
void log_softmax_row(const double* x, double* y, int64_t n);
// The same down the columns of a row-major [R, ld] block, for the first w
// columns (column i: x[r * ld + i], r < R): the reduced dim of a contiguous
// [O, R, I] tensor (ld = I) without a transpose. Per column the math of
// softmax_row (the same Highway Exp), with the sum taken over rows in blocks
// of 16; the log variant takes log(sum) in SIMD. A column's bits do not depend
// on w or on where the block starts.
void softmax_cols(const float* x, float* y, int64_t R, int64_t ld, int64_t w);
void softmax_cols(const double* x, double* y, int64_t R, int64_t ld, int64_t w);
void log_softmax_cols(const float* x, float* y, int64_t R, int64_t ld, int64_t w);
void log_softmax_cols(const double* x, double* y, int64_t R, int64_t ld, int64_t w);
// Their backward down the columns, given y and dy: softmax
// dx = y * (dy - Σ_r dy·y), log_softmax dx = dy - exp(y) * Σ_r dy.
void softmax_backward_cols(const float* dy, const float* y, float* dx, int64_t R, int64_t ld, int64_t w);
void softmax_backward_cols(const double* dy, const double* y, double* dx, int64_t R, int64_t ld, int64_t w);
void log_softmax_backward_cols(const float* dy, const float* y, float* dx, int64_t R, int64_t ld, int64_t w);
void log_softmax_backward_cols(const double* dy, const double* y, double* dx, int64_t R, int64_t ld, int64_t w);
// out[i] = max (min) over r < R of x[r * ld + i] for i < w; a column holding
// NaN gives its first NaN (as max / min). R >= 1.
void max_cols(const float* x, float* out, int64_t R, int64_t ld, int64_t w);
void max_cols(const double* x, double* out, int64_t R, int64_t ld, int64_t w);
void min_cols(const float* x, float* out, int64_t R, int64_t ld, int64_t w);
void min_cols(const double* x, double* out, int64_t R, int64_t ld, int64_t w);
// max_cols / min_cols with the row they come from: val[i] = x[r * ld + i]
// and idx[i] = r for the first r holding the column's max (min), or its first
// NaN (max(dim) / argmax, as PyTorch: first index on ties, NaN wins).
// 1 <= R < 2^31.
void argmax_cols(const float* x, float* val, int64_t* idx, int64_t R, int64_t ld, int64_t w);
void argmax_cols(const double* x, double* val, int64_t* idx, int64_t R, int64_t ld, int64_t w);
void argmin_cols(const float* x, float* val, int64_t* idx, int64_t R, int64_t ld, int64_t w);
void argmin_cols(const double* x, double* val, int64_t* idx, int64_t R, int64_t ld, int64_t w);

// Scalar twins.
void binary_ref(BinaryOp op, const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n);
void binary_ref(BinaryOp op, const double* a, int64_t sa, const double* b, int64_t sb, double* out, int64_t n);
void unary_ref(UnaryOp op, const float* x, float* y, int64_t n, double p0 = 0, double p1 = 0);
void unary_ref(UnaryOp op, const double* x, double* y, int64_t n, double p0 = 0, double p1 = 0);
void relu_backward_ref(const float* dy, const float* y, float* dx, float* colsum, int64_t n);
void relu_backward_ref(const double* dy, const double* y, double* dx, double* colsum, int64_t n);
double sum_ref(const float* x, int64_t n);
double sum_ref(const double* x, int64_t n);
void softmax_row_ref(const double* x, double* y, int64_t n);
void log_softmax_row_ref(const double* x, double* y, int64_t n);
void softmax_cols_ref(const double* x, double* y, int64_t R, int64_t ld, int64_t w);
void log_softmax_cols_ref(const double* x, double* y, int64_t R, int64_t ld, int64_t w);
void softmax_backward_cols_ref(const double* dy, const double* y, double* dx, int64_t R, int64_t ld, int64_t w);
void log_softmax_backward_cols_ref(const double* dy, const double* y, double* dx, int64_t R, int64_t ld, int64_t w);
// abs_pow_sum's twin: terms std::pow(|x|, p) (x·x, |x| for p = 2, 1) summed
// in long double.
double abs_pow_sum_ref(const float* x, int64_t n, double p);
double abs_pow_sum_ref(const double* x, int64_t n, double p);
void argmax_cols_ref(const double* x, double* val, int64_t* idx, int64_t R, int64_t ld, int64_t w);
void argmin_cols_ref(const double* x, double* val, int64_t* idx, int64_t R, int64_t ld, int64_t w);
void max_cols_ref(const double* x, double* out, int64_t R, int64_t ld, int64_t w);
void min_cols_ref(const double* x, double* out, int64_t R, int64_t ld, int64_t w);

// Which Highway target the dispatcher picks now (for benchmarks and logs).
const char* active_target_name();

}  // namespace tg::kernels
