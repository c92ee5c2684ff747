// Elementwise ops with NumPy broadcasting: one strided walk (iter.h) over the
// output, calling the SIMD kernels per row with input strides 0 or 1.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "tensor/iter.h"
#include "tensor/raw.h"

namespace tg::raw {
namespace {

const char* kBinaryNames[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum",
                              "eq",  "ne",  "lt",  "le",  "gt",  "ge"};

void check_same_dtype(const Tensor& a, const Tensor& b, const char* name) {
  TG_CHECK(a.defined() && b.defined(), name, ": undefined tensor argument");
  TG_CHECK(a.dtype() == b.dtype(), name, ": dtypes ", a.dtype(), " and ", b.dtype(),
           " differ; convert one with .to(", a.dtype(), ")");
}

bool unit_or_zero(int64_t s) { return s == 0 || s == 1; }

// Integer division by zero has no value (PyTorch raises ZeroDivisionError; the
// kernel would give 0): an int64 divisor with a zero is an error.
void check_int_divisor(BinaryOp op, const Tensor& divisor, const char* name) {
  if (op != BinaryOp::Div || divisor.dtype() != kInt64) return;
  const Tensor d = divisor.is_contiguous() ? divisor : contiguous(divisor);
  const int64_t* p = d.raw_ptr<int64_t>();
  const int64_t n = d.numel();
  for (int64_t i = 0; i < n; ++i)
    TG_CHECK(p[i] != 0, name, ": integer division by zero (the int64 divisor ", divisor.shape(),
             " is 0 at flat index ", i, "); convert to a floating type for inf/nan");
}

}  // namespace

Tensor binary(BinaryOp op, const Tensor& a_in, const Tensor& b_in, const char* name) {
  if (!name) name = kBinaryNames[int(op)];
  check_same_dtype(a_in, b_in, name);
  check_int_divisor(op, b_in, name);
  // Fast path: same shape, both contiguous (most calls in a training step).
  if (a_in.shape() == b_in.shape() && a_in.is_contiguous() && b_in.is_contiguous()) {
    Tensor out = empty(a_in.shape(), {.dtype = a_in.dtype()});
    const int64_t n = out.numel();
    visit_dtype(out.dtype(), [&](auto z) {
      using T = decltype(z);
      const T* pa = a_in.raw_ptr<T>();
      const T* pb = b_in.raw_ptr<T>();
      T* po = out.raw_ptr<T>();
      parallel_for(0, n, 32768, [&](int64_t i0, int64_t i1) {
        kernels::binary(op, pa + i0, 1, pb + i0, 1, po + i0, i1 - i0);
      });
    });
    return out;
  }
  const Shape shape = a_in.shape() == b_in.shape() ? a_in.shape() : broadcast_shapes(a_in.shape(), b_in.shape(), name);
  Tensor out = empty(shape, {.dtype = a_in.dtype()});
  Tensor a = a_in.shape() == shape ? a_in : expand(a_in, shape);
  Tensor b = b_in.shape() == shape ? b_in : expand(b_in, shape);
  const Shape* strides[3] = {&out.strides(), &a.strides(), &b.strides()};
  detail::Loop L = detail::make_loop(shape, strides, 3);
  if (!unit_or_zero(L.strides[1][L.ndim - 1]) || !unit_or_zero(L.strides[2][L.ndim - 1])) {
    // Rare: an inner stride other than 0/1 (a transposed operand). Copy it first.
    if (!unit_or_zero(L.strides[1][L.ndim - 1])) a = expand(contiguous(a_in), shape);
    if (!unit_or_zero(L.strides[2][L.ndim - 1])) b = expand(contiguous(b_in), shape);
    const Shape* strides2[3] = {&out.strides(), &a.strides(), &b.strides()};
    L = detail::make_loop(shape, strides2, 3);
  }
  visit_dtype(out.dtype(), [&](auto z) {
    using T = decltype(z);
    T* po = out.raw_ptr<T>();
    const T* pa = a.raw_ptr<T>();
    const T* pb = b.raw_ptr<T>();
    detail::for_each_row(L, [&](const int64_t* off, int64_t n, const int64_t* inner) {
      if (inner[1] > 1 || inner[2] > 1) {  // defensive; not reached after the copy above
        for (int64_t i = 0; i < n; ++i)
          kernels::binary(op, pa + off[1] + i * inner[1], 0, pb + off[2] + i * inner[2], 0, po + off[0] + i, 1);
        return;
      }
      kernels::binary(op, pa + off[1], inner[1], pb + off[2], inner[2], po + off[0], n);
    });
  });
  return out;
}

// Whether v converts to int64 without undefined behaviour (1e19, inf and NaN
// do not: they became INT64_MIN).
static bool in_int64_range(double v) { return v >= -9223372036854775808.0 && v < 9223372036854775808.0; }

template <class T>
static void check_int_scalar_divisor(BinaryOp op, T s, const char* name) {
  TG_CHECK(!(op == BinaryOp::Div && std::is_same_v<T, int64_t> && s == 0), name,
           ": integer division by zero (an int64 tensor divided by the scalar 0); convert to a floating type for "
           "inf/nan");
}

// The scalar operand of an op on a T tensor; for int64 it must be a whole
// number (arange(4) < 2.5 compared with 2) in range.
template <class T>
static T scalar_as(double s, const char* name) {
  if constexpr (std::is_same_v<T, int64_t>) {
    TG_CHECK(std::trunc(s) == s, name, ": an int64 tensor and the scalar ", s,
             ", which is not a whole number: convert the tensor with .to(kFloat32) first");
    TG_CHECK(in_int64_range(s), name, ": an int64 tensor and the scalar ", s, ", which is outside the int64 range");
  }
  return static_cast<T>(s);
}

Tensor binary(BinaryOp op, const Tensor& a_in, double s, bool scalar_first, const char* name) {
  if (!name) name = kBinaryNames[int(op)];
  TG_CHECK(a_in.defined(), name, ": undefined tensor argument");
  const Tensor a = a_in.is_contiguous() ? a_in : contiguous(a_in);
  Tensor out = empty(a.shape(), {.dtype = a.dtype()});
  visit_dtype(a.dtype(), [&](auto z) {
    using T = decltype(z);
    const T sv = scalar_as<T>(s, name);
    if (scalar_first) check_int_divisor(op, a, name);
    else check_int_scalar_divisor(op, sv, name);
    T* po = out.raw_ptr<T>();
    const T* pa = a.raw_ptr<T>();
    parallel_for(0, a.numel(), 32768, [&](int64_t i0, int64_t i1) {
      if (scalar_first) kernels::binary(op, &sv, 0, pa + i0, 1, po + i0, i1 - i0);
      else kernels::binary(op, pa + i0, 1, &sv, 0, po + i0, i1 - i0);
    });
  });
  return out;
}

void binary_(BinaryOp op, const Tensor& dst, const Tensor& src_in, const char* name) {
  check_same_dtype(dst, src_in, name);
  check_int_divisor(op, src_in, name);
  check_writable(dst.shape(), dst.strides(), name);
  TG_CHECK(broadcasts_to(src_in.shape(), dst.shape()), name, ": the result shape ",
           broadcast_shapes(dst.shape(), src_in.shape(), name), " does not fit the in-place target's shape ", dst.shape());
  Tensor src = src_in.shape() == dst.shape() ? src_in : expand(src_in, dst.shape());
  if (overlaps_differently(dst, src)) src = expand(clone(src_in), dst.shape());
  const Shape* strides[3] = {&dst.strides(), &dst.strides(), &src.strides()};
  const detail::Loop L = detail::make_loop(dst.shape(), strides, 3);
  visit_dtype(dst.dtype(), [&](auto z) {
    using T = decltype(z);
    T* pd = dst.raw_ptr<T>();
    const T* ps = src.raw_ptr<T>();
    detail::for_each_row(L, [&](const int64_t* off, int64_t n, const int64_t* inner) {
      if (inner[0] == 1 && unit_or_zero(inner[2])) {
        kernels::binary(op, pd + off[0], 1, ps + off[2], inner[2], pd + off[0], n);
      } else {
        for (int64_t i = 0; i < n; ++i)
          kernels::binary(op, pd + off[0] + i * inner[0], 0, ps + off[2] + i * inner[2], 0, pd + off[0] + i * inner[0], 1);
      }
    });
  });
  dst.impl()->storage->version++;
}

void binary_(BinaryOp op, const Tensor& dst, double s, const char* name) {
  TG_CHECK(dst.defined(), name, ": undefined tensor");
  check_writable(dst.shape(), dst.strides(), name);
  const Shape* strides[1] = {&dst.strides()};
  const detail::Loop L = detail::make_loop(dst.shape(), strides, 1);
  visit_dtype(dst.dtype(), [&](auto z) {
    using T = decltype(z);
    const T sv = scalar_as<T>(s, name);
    check_int_scalar_divisor(op, sv, name);
    T* pd = dst.raw_ptr<T>();
    detail::for_each_row(L, [&](const int64_t* off, int64_t n, const int64_t* inner) {
      if (inner[0] == 1) kernels::binary(op, pd + off[0], 1, &sv, 0, pd + off[0], n);
      else
        for (int64_t i = 0; i < n; ++i) kernels::binary(op, pd + off[0] + i * inner[0], 0, &sv, 0, pd + off[0] + i * inner[0], 1);
    });
  });
  dst.impl()->storage->version++;
}

Tensor unary(UnaryOp op, const Tensor& x_in, const char* name, double p0, double p1) {
  TG_CHECK(x_in.defined(), name, ": undefined tensor argument");
  const bool float_only = op != UnaryOp::Neg && op != UnaryOp::Abs && op != UnaryOp::Sign && op != UnaryOp::Square &&
                          op != UnaryOp::Relu && op != UnaryOp::Clamp && op != UnaryOp::Step;
  TG_CHECK(!float_only || x_in.is_floating_point(), name, ": expected a floating-point tensor, got ", x_in.dtype());
  if (op == UnaryOp::Clamp && !x_in.is_floating_point())
    for (double v : {p0, p1})  // +-inf are clamp_min / clamp_max's open ends
      TG_CHECK(std::isinf(v) || (std::trunc(v) == v && in_int64_range(v)),
               name, ": an int64 tensor and the bound ", v,
               ", which is not a whole number in the int64 range: convert the tensor with .to(kFloat32) first");
  const Tensor x = x_in.is_contiguous() ? x_in : contiguous(x_in);
  Tensor out = empty(x.shape(), {.dtype = x.dtype()});
  visit_dtype(x.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* px = x.raw_ptr<T>();
    T* po = out.raw_ptr<T>();
    parallel_for(0, x.numel(), 16384, [&](int64_t i0, int64_t i1) {
      kernels::unary(op, px + i0, po + i0, i1 - i0, p0, p1);
    });
  });
  return out;
}

Tensor relu_backward(const Tensor& dy_in, const Tensor& y_in, Tensor* colsum) {
  check_same_dtype(dy_in, y_in, "relu_backward");
  TG_CHECK(dy_in.is_floating_point(), "relu_backward: expected floating-point tensors, got ", dy_in.dtype());
  TG_CHECK(dy_in.shape() == y_in.shape(), "relu_backward: dy has shape ", dy_in.shape(), ", y has ", y_in.shape());
  const Tensor dy = dy_in.is_contiguous() ? dy_in : contiguous(dy_in);
  const Tensor y = y_in.is_contiguous() ? y_in : contiguous(y_in);
  Tensor dx = empty(y.shape(), {.dtype = y.dtype()});
  const int64_t n = y.numel(), C = y.dim() == 0 ? 1 : y.shape()[y.dim() - 1], R = C ? n / C : 0;
  // The column sums in the same pass only where they are sum(dx, rows)'s bits:
  // up to 256 rows (sum_rows adds them in order; above, it sums blocks of rows
  // pairwise, and adding 2^24 + 4e6 float rows in order stopped at 2^24) and
  // more than one column (one column is reduced another way).
  constexpr int64_t kFusedRows = 256;
  const bool fused = colsum && R <= kFusedRows && C > 1;
  if (fused) *colsum = zeros({C}, {.dtype = y.dtype()});
  visit_dtype(y.dtype(), [&](auto z) {
    using T = decltype(z);
    if constexpr (std::is_floating_point_v<T>) {
      const T* pdy = dy.raw_ptr<T>();
      const T* py = y.raw_ptr<T>();
      T* pdx = dx.raw_ptr<T>();
      if (!fused) {
        parallel_for(0, n, 16384, [&](int64_t i0, int64_t i1) {
          kernels::relu_backward(pdy + i0, py + i0, pdx + i0, static_cast<T*>(nullptr), i1 - i0);
        });
        return;
      }
      // Blocks of 16 columns, every row of each in order: a column's sum does
      // not depend on the thread count.
      T* ps = colsum->raw_ptr<T>();
      constexpr int64_t kBlock = 16;
      const int64_t blocks = (C + kBlock - 1) / kBlock;
      const int64_t grain = std::max<int64_t>(1, 2048 / std::max<int64_t>(1, R * kBlock));
      parallel_for(0, blocks, grain, [&](int64_t b0, int64_t b1) {
        const int64_t c0 = b0 * kBlock, w = std::min(C, b1 * kBlock) - c0;
        for (int64_t r = 0; r < R; ++r)
          kernels::relu_backward(pdy + r * C + c0, py + r * C + c0, pdx + r * C + c0, ps + c0, w);
      });
    }
  });
  if (colsum && !fused) *colsum = sum(dx.reshape({R, C}), {0}, false);
  return dx;
}

// t ? a : b without a branch (the compiler made `?:` on a float compare a
// branch, and a random mask mispredicted half the time: 5 ns per element).
template <class T>
static inline T select_bits(bool t, T a, T b) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  static_assert(sizeof(T) == sizeof(U));
  U ua, ub;
  std::memcpy(&ua, &a, sizeof ua);
  std::memcpy(&ub, &b, sizeof ub);
  const U m = U(0) - U(t);
  const U r = (ua & m) | (ub & ~m);
  T out;
  std::memcpy(&out, &r, sizeof out);
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_same_dtype(a, b, "where");
  TG_CHECK(cond.defined(), "where: undefined condition");
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = empty(shape, {.dtype = a.dtype()});
  // The condition is read in its own dtype, in place (it was converted to a
  // contiguous float64 copy first: 20x a mul, and every backward that selects
  // its gradient pays it).
  const Tensor ec = expand(cond, shape), ea = expand(a, shape), eb = expand(b, shape);
  const Shape* strides[4] = {&out.strides(), &ec.strides(), &ea.strides(), &eb.strides()};
  const detail::Loop L = detail::make_loop(shape, strides, 4);
  visit_dtype(a.dtype(), [&](auto z) {
    using T = decltype(z);
    visit_dtype(cond.dtype(), [&](auto zc) {
      using C = decltype(zc);
      T* po = out.raw_ptr<T>();
      const C* pc = ec.raw_ptr<C>();
      const T* pa = ea.raw_ptr<T>();
      const T* pb = eb.raw_ptr<T>();
      detail::for_each_row(L, [&](const int64_t* off, int64_t n, const int64_t* inner) {
        for (int64_t i = 0; i < n; ++i)
          po[off[0] + i] = select_bits(pc[off[1] + i * inner[1]] != C(0), pa[off[2] + i * inner[2]], pb[off[3] + i * inner[3]]);
      });
    });
  });
  return out;
}

bool has_non_finite(const Tensor& x) {
  if (!x.defined() || !x.is_floating_point()) return false;
  const Tensor c = contiguous(x);
  return visit_float_dtype(c.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* p = c.raw_ptr<T>();
    for (int64_t i = 0; i < c.numel(); ++i)
      if (!std::isfinite(p[i])) return true;
    return false;
  });
}

}  // namespace tg::raw
