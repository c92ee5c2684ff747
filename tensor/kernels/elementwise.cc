// Per-target compilation and dynamic dispatch of elementwise-inl.h, plus the
// scalar twins and the int64 loops (labels and indices need no SIMD).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tensor/kernels/elementwise.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "tensor/kernels/elementwise-inl.h"

#if HWY_ONCE
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace tg::kernels {

HWY_EXPORT(BinaryF32);
HWY_EXPORT(BinaryF64);
HWY_EXPORT(UnaryF32);
HWY_EXPORT(UnaryF64);
HWY_EXPORT(SumF32);
HWY_EXPORT(SumF64);
HWY_EXPORT(MaxF32);
HWY_EXPORT(MaxF64);
HWY_EXPORT(MinF32);
HWY_EXPORT(MinF64);
HWY_EXPORT(AccumulateF32);
HWY_EXPORT(AccumulateF64);
HWY_EXPORT(ReluBackwardF32);
HWY_EXPORT(ReluBackwardF64);
HWY_EXPORT(SoftmaxF32);
HWY_EXPORT(SoftmaxF64);
HWY_EXPORT(LogSoftmaxF32);
HWY_EXPORT(LogSoftmaxF64);
HWY_EXPORT(SoftmaxColsF32);
HWY_EXPORT(SoftmaxColsF64);
HWY_EXPORT(LogSoftmaxColsF32);
HWY_EXPORT(LogSoftmaxColsF64);
HWY_EXPORT(SoftmaxBackwardColsF32);
HWY_EXPORT(SoftmaxBackwardColsF64);
HWY_EXPORT(LogSoftmaxBackwardColsF32);
HWY_EXPORT(LogSoftmaxBackwardColsF64);
HWY_EXPORT(MaxColsF32);
HWY_EXPORT(MaxColsF64);
HWY_EXPORT(MinColsF32);
HWY_EXPORT(MinColsF64);
HWY_EXPORT(AbsPowSumF32);
HWY_EXPORT(AbsPowSumF64);
HWY_EXPORT(ArgMaxColsF32);
HWY_EXPORT(ArgMaxColsF64);
HWY_EXPORT(ArgMinColsF32);
HWY_EXPORT(ArgMinColsF64);
HWY_EXPORT(TargetName);

namespace {

template <class T>
T binary_scalar(BinaryOp op, T a, T b) {
  if constexpr (std::is_same_v<T, int64_t>) {  // int64 wraps (signed overflow is UB)
    if (op == BinaryOp::Add) return int64_t(uint64_t(a) + uint64_t(b));
    if (op == BinaryOp::Sub) return int64_t(uint64_t(a) - uint64_t(b));
    if (op == BinaryOp::Mul) return int64_t(uint64_t(a) * uint64_t(b));
  }
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
    case BinaryOp::Pow: return static_cast<T>(std::pow(a, b));
    case BinaryOp::Max: return a < b || b != b ? b : a;
    case BinaryOp::Min: return b < a || b != b ? b : a;
    case BinaryOp::Eq: return a == b;
    case BinaryOp::Ne: return a != b;
    case BinaryOp::Lt: return a < b;
    case BinaryOp::Le: return a <= b;
    case BinaryOp::Gt: return a > b;
    case BinaryOp::Ge: return a >= b;
  }
  return a;
}

template <class T>
T unary_scalar(UnaryOp op, T x, double p0, double p1) {
  using std::exp;
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Exp: return std::exp(x);
    case UnaryOp::Log: return std::log(x);
    case UnaryOp::Sqrt: return std::sqrt(x);
    case UnaryOp::Rsqrt: return T(1) / std::sqrt(x);
    case UnaryOp::Abs: return std::abs(x);
    case UnaryOp::Sign: return T((x > 0) - (x < 0));
    case UnaryOp::Square: return x * x;
    case UnaryOp::Relu: return x > 0 ? x : T(0);
    case UnaryOp::Sigmoid: return T(1) / (T(1) + std::exp(-x));
    case UnaryOp::Tanh: return std::tanh(x);
    case UnaryOp::Erf: return std::erf(x);
    case UnaryOp::GeluTanh:
      return T(0.5) * x * (T(1) + std::tanh(T(0.7978845608028654) * (x + T(0.044715) * x * x * x)));
    case UnaryOp::GeluErf: return T(0.5) * x * (T(1) + std::erf(x * T(0.7071067811865476)));
    case UnaryOp::LeakyRelu: return x > 0 ? x : x * T(p0);
    case UnaryOp::Clamp: return std::min(std::max(x, T(p0)), T(p1));
    case UnaryOp::PowScalar: return static_cast<T>(std::pow(x, T(p0)));
    case UnaryOp::Recip: return T(1) / x;
    case UnaryOp::Step: return x > 0 ? T(1) : T(0);
  }
  return x;
}

// Exact integer power, wrapping like int64 multiplication (was llround(pow()),
// off by 11 at 3^39). Negative exponents: 1 for 1, +-1 for -1, else 0 (PyTorch).
int64_t int_pow(int64_t base, int64_t e) {
  if (e < 0) return base == 1 ? 1 : base == -1 ? (e % 2 ? -1 : 1) : 0;
  uint64_t r = 1, b = uint64_t(base);
  for (auto k = uint64_t(e); k; k >>= 1, b *= b)
    if (k & 1) r *= b;
  return int64_t(r);
}

// An int64 clamp bound: +-inf (clamp_min / clamp_max) saturate; the op layer
// has checked that finite bounds are whole numbers in range.
int64_t int_bound(double v) {
  if (v <= -9223372036854775808.0) return INT64_MIN;
  if (v >= 9223372036854775808.0) return INT64_MAX;
  return int64_t(v);
}

template <class T>
void binary_loop(BinaryOp op, const T* a, int64_t sa, const T* b, int64_t sb, T* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = binary_scalar<T>(op, a[i * sa], b[i * sb]);
}
template <class T>
void unary_loop(UnaryOp op, const T* x, T* y, int64_t n, double p0, double p1) {
  for (int64_t i = 0; i < n; ++i) y[i] = unary_scalar<T>(op, x[i], p0, p1);
}

}  // namespace

void binary(BinaryOp op, const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) {
  if (op == BinaryOp::Pow) return binary_loop(op, a, sa, b, sb, out, n);
  HWY_DYNAMIC_DISPATCH(BinaryF32)(static_cast<int>(op), a, sa, b, sb, out, n);
}
void binary(BinaryOp op, const double* a, int64_t sa, const double* b, int64_t sb, double* out, int64_t n) {
  if (op == BinaryOp::Pow) return binary_loop(op, a, sa, b, sb, out, n);
  HWY_DYNAMIC_DISPATCH(BinaryF64)(static_cast<int>(op), a, sa, b, sb, out, n);
}
void binary(BinaryOp op, const int64_t* a, int64_t sa, const int64_t* b, int64_t sb, int64_t* out, int64_t n) {
  if (op == BinaryOp::Div) {
    // Integer division floors like Python/PyTorch's floor_divide would be surprising;
    // tapegrad truncates toward zero like C++.
    // (INT64_MIN / -1 overflows: it wraps to INT64_MIN instead of trapping;
    // a zero divisor is refused by the op layer, 0 here only avoids the trap)
    for (int64_t i = 0; i < n; ++i) {
      const int64_t x = a[i * sa], y = b[i * sb];
      out[i] = y == 0 ? 0 : y == -1 ? int64_t(0 - uint64_t(x)) : x / y;
    }
    return;
  }
  if (op == BinaryOp::Pow) {
    for (int64_t i = 0; i < n; ++i) out[i] = int_pow(a[i * sa], b[i * sb]);
    return;
  }
  binary_loop(op, a, sa, b, sb, out, n);
}

void unary(UnaryOp op, const float* x, float* y, int64_t n, double p0, double p1) {
  if (op == UnaryOp::PowScalar) {
    if (p0 == 2.0) op = UnaryOp::Square;
    else if (p0 == 0.5) op = UnaryOp::Sqrt;
    else if (p0 == -0.5) op = UnaryOp::Rsqrt;
    else if (p0 == -1.0) op = UnaryOp::Recip;
    else return unary_loop(op, x, y, n, p0, p1);
  }
  HWY_DYNAMIC_DISPATCH(UnaryF32)(static_cast<int>(op), x, y, n, p0, p1);
}
void unary(UnaryOp op, const double* x, double* y, int64_t n, double p0, double p1) {
  // float64 erf-based ops use the exact std::erf (gradchecks run in double).
  if (op == UnaryOp::Erf || op == UnaryOp::GeluErf || op == UnaryOp::PowScalar)
    return unary_loop(op, x, y, n, p0, p1);
  HWY_DYNAMIC_DISPATCH(UnaryF64)(static_cast<int>(op), x, y, n, p0, p1);
}
void unary(UnaryOp op, const int64_t* x, int64_t* y, int64_t n, double p0, double p1) {
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = x[i];
    switch (op) {
      // wrapping, as PyTorch (-INT64_MIN is INT64_MIN; signed overflow is UB)
      case UnaryOp::Neg: y[i] = int64_t(0 - uint64_t(v)); break;
      case UnaryOp::Abs: y[i] = v < 0 ? int64_t(0 - uint64_t(v)) : v; break;
      case UnaryOp::Sign: y[i] = (v > 0) - (v < 0); break;
      case UnaryOp::Square: y[i] = int64_t(uint64_t(v) * uint64_t(v)); break;
      case UnaryOp::Relu: y[i] = v > 0 ? v : 0; break;
      case UnaryOp::Clamp: y[i] = std::min(std::max(v, int_bound(p0)), int_bound(p1)); break;
      case UnaryOp::Step: y[i] = v > 0; break;
      default: y[i] = static_cast<int64_t>(unary_scalar<double>(op, double(v), p0, p1));
    }
  }
}

float sum(const float* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(SumF32)(x, n); }
double sum(const double* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(SumF64)(x, n); }
float max(const float* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(MaxF32)(x, n); }
double max(const double* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(MaxF64)(x, n); }
float min(const float* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(MinF32)(x, n); }
double min(const double* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(MinF64)(x, n); }
void accumulate(const float* x, float* out, int64_t n) { HWY_DYNAMIC_DISPATCH(AccumulateF32)(x, out, n); }
void accumulate(const double* x, double* out, int64_t n) { HWY_DYNAMIC_DISPATCH(AccumulateF64)(x, out, n); }
void relu_backward(const float* dy, const float* y, float* dx, float* colsum, int64_t n) {
  HWY_DYNAMIC_DISPATCH(ReluBackwardF32)(dy, y, dx, colsum, n);
}
void relu_backward(const double* dy, const double* y, double* dx, double* colsum, int64_t n) {
  HWY_DYNAMIC_DISPATCH(ReluBackwardF64)(dy, y, dx, colsum, n);
}
void softmax_row(const float* x, float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(SoftmaxF32)(x, y, n); }
void softmax_row(const double* x, double* y, int64_t n) { HWY_DYNAMIC_DISPATCH(SoftmaxF64)(x, y, n); }
void log_softmax_row(const float* x, float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(LogSoftmaxF32)(x, y, n); }
void log_softmax_row(const double* x, double* y, int64_t n) { HWY_DYNAMIC_DISPATCH(LogSoftmaxF64)(x, y, n); }
void softmax_cols(const float* x, float* y, int64_t R, int64_t ld, int64_t w) {
  HWY_DYNAMIC_DISPATCH(SoftmaxColsF32)(x, y, R, ld, w);
}
void softmax_cols(const double* x, double* y, int64_t R, int64_t ld, int64_t w) {
  HWY_DYNAMIC_DISPATCH(SoftmaxColsF64)(x, y, R, ld, w);
}
void log_softmax_cols(const float* x, float* y, int64_t R, int64_t ld, int64_t w) {
  HWY_DYNAMIC_DISPATCH(LogSoftmaxColsF32)(x, y, R, ld, w);
}
void log_softmax_cols(const double* x, double* y, int64_t R, int64_t ld, int64_t w) {
  HWY_DYNAMIC_DISPATCH(LogSoftmaxColsF64)(x, y, R, ld, w);
}
void softmax_backward_cols(const float* dy, const float* y, float* dx, int64_t R, int64_t ld, int64_t w) {
  HWY_DYNAMIC_DISPATCH(SoftmaxBackwardColsF32)(dy, y, dx, R, ld, w);
}
void softmax_backward_cols(const double* dy, const double* y, double* dx, int64_t R, int64_t ld, int64_t w) {
  HWY_DYNAMIC_DISPATCH(SoftmaxBackwardColsF64)(dy, y, dx, R, ld, w);
}
void log_softmax_backward_cols(const float* dy, const float* y, float* dx, int64_t R, int64_t ld, int64_t w) {
  HWY_DYNAMIC_DISPATCH(LogSoftmaxBackwardColsF32)(dy, y, dx, R, ld, w);
}
void log_softmax_backward_cols(const double* dy, const double* y, double* dx, int64_t R, int64_t ld, int64_t w) {
  HWY_DYNAMIC_DISPATCH(LogSoftmaxBackwardColsF64)(dy, y, dx, R, ld, w);
}
void max_cols(const float* x, float* out, int64_t R, int64_t ld, int64_t w) { HWY_DYNAMIC_DISPATCH(MaxColsF32)(x, out, R, ld, w); }
void max_cols(const double* x, double* out, int64_t R, int64_t ld, int64_t w) { HWY_DYNAMIC_DISPATCH(MaxColsF64)(x, out, R, ld, w); }
void min_cols(const float* x, float* out, int64_t R, int64_t ld, int64_t w) { HWY_DYNAMIC_DISPATCH(MinColsF32)(x, out, R, ld, w); }
void min_cols(const double* x, double* out, int64_t R, int64_t ld, int64_t w) { HWY_DYNAMIC_DISPATCH(MinColsF64)(x, out, R, ld, w); }
double abs_pow_sum(const float* x, int64_t n, double p) { return HWY_DYNAMIC_DISPATCH(AbsPowSumF32)(x, n, p); }
double abs_pow_sum(const double* x, int64_t n, double p) { return HWY_DYNAMIC_DISPATCH(AbsPowSumF64)(x, n, p); }
void argmax_cols(const float* x, float* val, int64_t* idx, int64_t R, int64_t ld, int64_t w) {
  HWY_DYNAMIC_DISPATCH(ArgMaxColsF32)(x, val, idx, R, ld, w);
}
void argmax_cols(const double* x, double* val, int64_t* idx, int64_t R, int64_t ld, int64_t w) {
  HWY_DYNAMIC_DISPATCH(ArgMaxColsF64)(x, val, idx, R, ld, w);
}
void argmin_cols(const float* x, float* val, int64_t* idx, int64_t R, int64_t ld, int64_t w) {
  HWY_DYNAMIC_DISPATCH(ArgMinColsF32)(x, val, idx, R, ld, w);
}
void argmin_cols(const double* x, double* val, int64_t* idx, int64_t R, int64_t ld, int64_t w) {
  HWY_DYNAMIC_DISPATCH(ArgMinColsF64)(x, val, idx, R, ld, w);
}
const char* active_target_name() { return HWY_DYNAMIC_DISPATCH(TargetName)(); }

// ---- scalar twins ----
void binary_ref(BinaryOp op, const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) {
  binary_loop(op, a, sa, b, sb, out, n);
}
void binary_ref(BinaryOp op, const double* a, int64_t sa, const double* b, int64_t sb, double* out, int64_t n) {
  binary_loop(op, a, sa, b, sb, out, n);
}
void unary_ref(UnaryOp op, const float* x, float* y, int64_t n, double p0, double p1) {
  unary_loop(op, x, y, n, p0, p1);
}
void unary_ref(UnaryOp op, const double* x, double* y, int64_t n, double p0, double p1) {
  unary_loop(op, x, y, n, p0, p1);
}
namespace {
template <class T>
void relu_backward_loop(const T* dy, const T* y, T* dx, T* colsum, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const T g = y[i] > 0 ? dy[i] : T(0);  // a select: dy * 0 was NaN for an infinite dy
    dx[i] = g;
    if (colsum) colsum[i] = colsum[i] + g;
  }
}
}  // namespace
void relu_backward_ref(const float* dy, const float* y, float* dx, float* colsum, int64_t n) {
  relu_backward_loop(dy, y, dx, colsum, n);
}
void relu_backward_ref(const double* dy, const double* y, double* dx, double* colsum, int64_t n) {
  relu_backward_loop(dy, y, dx, colsum, n);
}
double sum_ref(const float* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += x[i];
  return s;
}
double sum_ref(const double* x, int64_t n) {
  long double s = 0;
  for (int64_t i = 0; i < n; ++i) s += x[i];
  return static_cast<double>(s);
}
void softmax_row_ref(const double* x, double* y, int64_t n) {
  double m = -INFINITY, s = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, x[i]);
  for (int64_t i = 0; i < n; ++i) s += std::exp(x[i] - m);
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i] - m) / s;
}
void log_softmax_row_ref(const double* x, double* y, int64_t n) {
  double m = -INFINITY, s = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, x[i]);
  for (int64_t i = 0; i < n; ++i) s += std::exp(x[i] - m);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] - m - std::log(s);
}

namespace {
template <bool kLog>
void softmax_cols_loop(const double* x, double* y, int64_t R, int64_t ld, int64_t w) {
  std::vector<double> col(static_cast<size_t>(R)), out(static_cast<size_t>(R));
  for (int64_t i = 0; i < w; ++i) {
    for (int64_t r = 0; r < R; ++r) col[size_t(r)] = x[r * ld + i];
    if (kLog) log_softmax_row_ref(col.data(), out.data(), R);
    else softmax_row_ref(col.data(), out.data(), R);
    for (int64_t r = 0; r < R; ++r) y[r * ld + i] = out[size_t(r)];
  }
}
template <bool kLog>
void softmax_backward_cols_loop(const double* dy, const double* y, double* dx, int64_t R, int64_t ld, int64_t w) {
  for (int64_t i = 0; i < w; ++i) {
    double s = 0;
    for (int64_t r = 0; r < R; ++r) s += kLog ? dy[r * ld + i] : dy[r * ld + i] * y[r * ld + i];
    for (int64_t r = 0; r < R; ++r) {
      const int64_t k = r * ld + i;
      dx[k] = kLog ? dy[k] - std::exp(y[k]) * s : y[k] * (dy[k] - s);
    }
  }
}
template <bool kMax>
void extreme_cols_loop(const double* x, double* out, int64_t R, int64_t ld, int64_t w) {
  for (int64_t i = 0; i < w; ++i) {
    double b = x[i];
    for (int64_t r = 1; r < R && b == b; ++r) {
      const double v = x[r * ld + i];
      if (v != v || (kMax ? v > b : v < b)) b = v;
    }
    out[i] = b;
  }
}
template <class T>
double abs_pow_sum_loop(const T* x, int64_t n, double p) {
  long double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double a = std::abs(double(x[i]));
    s += p == 2 ? a * a : p == 1 ? a : std::pow(a, p);
  }
  return static_cast<double>(s);
}
template <bool kMax>
void arg_extreme_cols_loop(const double* x, double* val, int64_t* idx, int64_t R, int64_t ld, int64_t w) {
  for (int64_t i = 0; i < w; ++i) {
    int64_t k = 0;
    for (int64_t r = 1; r < R && x[k * ld + i] == x[k * ld + i]; ++r) {
      const double v = x[r * ld + i], b = x[k * ld + i];
      if (v != v || (kMax ? v > b : v < b)) k = r;
    }
    val[i] = x[k * ld + i];
    idx[i] = k;
  }
}
}  // namespace
double abs_pow_sum_ref(const float* x, int64_t n, double p) { return abs_pow_sum_loop(x, n, p); }
double abs_pow_sum_ref(const double* x, int64_t n, double p) { return abs_pow_sum_loop(x, n, p); }
void argmax_cols_ref(const double* x, double* val, int64_t* idx, int64_t R, int64_t ld, int64_t w) {
  arg_extreme_cols_loop<true>(x, val, idx, R, ld, w);
}
void argmin_cols_ref(const double* x, double* val, int64_t* idx, int64_t R, int64_t ld, int64_t w) {
  arg_extreme_cols_loop<false>(x, val, idx, R, ld, w);
}
void softmax_cols_ref(const double* x, double* y, int64_t R, int64_t ld, int64_t w) {
  softmax_cols_loop<false>(x, y, R, ld, w);
}
void log_softmax_cols_ref(const double* x, double* y, int64_t R, int64_t ld, int64_t w) {
  softmax_cols_loop<true>(x, y, R, ld, w);
}
void softmax_backward_cols_ref(const double* dy, const double* y, double* dx, int64_t R, int64_t ld, int64_t w) {
  softmax_backward_cols_loop<false>(dy, y, dx, R, ld, w);
}
void log_softmax_backward_cols_ref(const double* dy, const double* y, double* dx, int64_t R, int64_t ld, int64_t w) {
  softmax_backward_cols_loop<true>(dy, y, dx, R, ld, w);
}
void max_cols_ref(const double* x, double* out, int64_t R, int64_t ld, int64_t w) { extreme_cols_loop<true>(x, out, R, ld, w); }
void min_cols_ref(const double* x, double* out, int64_t R, int64_t ld, int64_t w) { extreme_cols_loop<false>(x, out, R, ld, w); }

}  // namespace tg::kernels
#endif  // HWY_ONCE
