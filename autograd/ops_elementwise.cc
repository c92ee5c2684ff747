// Differentiable elementwise ops: forward (tensor/raw.h) and backward side by
// side, each under its math. Broadcast gradients go through sum_to.
#include <cmath>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/raw.h"

namespace tg {

using autograd::BackwardCtx;
using autograd::kSaveInputs;
using autograd::kSaveNone;
using autograd::kSaveOutput;
using autograd::record;
using raw::BinaryOp;
using raw::UnaryOp;

// ---------------------------------------------------------------- binary
// y = a + b        da = sum_to(dy, a)   db = sum_to(dy, b)
Tensor add(const Tensor& a, const Tensor& b) {
  return record("add", raw::binary(BinaryOp::Add, a, b, "add"), {a, b}, [](BackwardCtx& c) {
    if (c.needs(0)) c.accumulate(0, sum_to(c.dy, c.in_shape(0)));
    if (c.needs(1)) c.accumulate(1, sum_to(c.dy, c.in_shape(1)));
  }, kSaveNone);
}

// y = a - b        da = sum_to(dy, a)   db = -sum_to(dy, b)
Tensor sub(const Tensor& a, const Tensor& b) {
  return record("sub", raw::binary(BinaryOp::Sub, a, b, "sub"), {a, b}, [](BackwardCtx& c) {
    if (c.needs(0)) c.accumulate(0, sum_to(c.dy, c.in_shape(0)));
    if (c.needs(1)) c.accumulate(1, neg(sum_to(c.dy, c.in_shape(1))));
  }, kSaveNone);
}

// y = a * b        da = sum_to(dy * b, a)   db = sum_to(dy * a, b)
Tensor mul(const Tensor& a, const Tensor& b) {
  return record("mul", raw::binary(BinaryOp::Mul, a, b, "mul"), {a, b}, [](BackwardCtx& c) {
    if (c.needs(0)) c.accumulate(0, sum_to(mul(c.dy, c.in(1)), c.in_shape(0)));
    if (c.needs(1)) c.accumulate(1, sum_to(mul(c.dy, c.in(0)), c.in_shape(1)));
  });
}

// y = a / b        da = sum_to(dy / b, a)   db = sum_to(-dy * (a / b) / b, b)
// ((a / b) / b, as PyTorch: a / b² overflowed or underflowed at |b| = 1e20 or 1e-25)
Tensor div(const Tensor& a, const Tensor& b) {
  return record("div", raw::binary(BinaryOp::Div, a, b, "div"), {a, b}, [](BackwardCtx& c) {
    const Tensor b = c.in(1);
    if (c.needs(0)) c.accumulate(0, sum_to(div(c.dy, b), c.in_shape(0)));
    if (c.needs(1)) c.accumulate(1, sum_to(neg(mul(c.dy, div(div(c.in(0), b), b))), c.in_shape(1)));
  });
}

// y = a ^ b        da = sum_to(dy * b * a^(b-1), a)   db = sum_to(dy * y * log(a), b)
// (da = 0 where b == 0, as PyTorch: b * a^(b-1) is 0 * inf = NaN at a = 0)
Tensor pow(const Tensor& a, const Tensor& b) {
  return record("pow", raw::binary(BinaryOp::Pow, a, b, "pow"), {a, b}, [](BackwardCtx& c) {
    const Tensor a = c.in(0), b = c.in(1);
    if (c.needs(0)) {
      const Tensor z = zeros({}, {.dtype = c.dy.dtype()});
      c.accumulate(0, sum_to(mul(c.dy, where(eq(b.detach(), 0.0), z, mul(b, pow(a, sub(b, 1.0))))), c.in_shape(0)));
    }
    if (c.needs(1)) c.accumulate(1, sum_to(mul(c.dy, mul(pow(a, b), log(a))), c.in_shape(1)));
  });
}

// y = max(a, b)    the gradient goes to the larger input; ties split it evenly;
// a NaN (which y propagates) passes the whole gradient to both (as PyTorch):
//   da = [a < b] ? 0 : [a == b] ? dy/2 : dy    db = [a > b] ? 0 : [a == b] ? dy/2 : dy
// (min: < and > swapped). Selected, not multiplied by a 0/1 weight: an
// infinite dy at the smaller input gave inf * 0 = NaN.
static Tensor extreme2(const Tensor& a, const Tensor& b, bool is_max) {
  const char* name = is_max ? "maximum" : "minimum";
  return record(name, raw::binary(is_max ? BinaryOp::Max : BinaryOp::Min, a, b, name), {a, b}, [is_max](BackwardCtx& c) {
    const Tensor a = c.in(0).detach(), b = c.in(1).detach();
    const Tensor z = zeros({}, {.dtype = c.dy.dtype()});
    const Tensor tie = where(eq(a, b), mul(c.dy, 0.5), c.dy);
    if (c.needs(0)) c.accumulate(0, sum_to(where(is_max ? lt(a, b) : gt(a, b), z, tie), c.in_shape(0)));
    if (c.needs(1)) c.accumulate(1, sum_to(where(is_max ? gt(a, b) : lt(a, b), z, tie), c.in_shape(1)));
  });
}
Tensor maximum(const Tensor& a, const Tensor& b) { return extreme2(a, b, true); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extreme2(a, b, false); }

// ---------------------------------------------------------------- with a scalar
// y = a + s   da = dy
Tensor add(const Tensor& a, double s) {
  return record("add_scalar", raw::binary(BinaryOp::Add, a, s, false, "add"), {a},
                [](BackwardCtx& c) { c.accumulate(0, c.dy); }, kSaveNone);
}
// y = a - s   da = dy
Tensor sub(const Tensor& a, double s) {
  return record("sub_scalar", raw::binary(BinaryOp::Sub, a, s, false, "sub"), {a},
                [](BackwardCtx& c) { c.accumulate(0, c.dy); }, kSaveNone);
}
// y = a * s   da = dy * s
Tensor mul(const Tensor& a, double s) {
  return record("mul_scalar", raw::binary(BinaryOp::Mul, a, s, false, "mul"), {a},
                [s](BackwardCtx& c) { c.accumulate(0, mul(c.dy, s)); }, kSaveNone);
}
// y = a / s   da = dy / s
Tensor div(const Tensor& a, double s) {
  return record("div_scalar", raw::binary(BinaryOp::Div, a, s, false, "div"), {a},
                [s](BackwardCtx& c) { c.accumulate(0, div(c.dy, s)); }, kSaveNone);
}
// y = a ^ p   da = dy * p * a^(p-1)   (p = 0: da = 0, not 0 * 0^-1 = NaN at a = 0)
Tensor pow(const Tensor& a, double p) {
  return record("pow_scalar", raw::unary(UnaryOp::PowScalar, a, "pow", p), {a}, [p](BackwardCtx& c) {
    if (p == 0.0) c.accumulate(0, mul(c.dy, 0.0));
    else c.accumulate(0, p == 2.0 ? mul(c.dy, mul(c.in(0), 2.0)) : mul(c.dy, mul(pow(c.in(0), p - 1.0), p)));
  });
}
// y = s - a   da = -dy
Tensor rsub(const Tensor& a, double s) {
  return record("rsub_scalar", raw::binary(BinaryOp::Sub, a, s, true, "rsub"), {a},
                [](BackwardCtx& c) { c.accumulate(0, neg(c.dy)); }, kSaveNone);
}
// y = s / a   da = -dy * (s / a) / a   (not s / a²: a² overflows for |a| > 1.8e19 in
// float32 where s / a² is a plain number, as div's db)
Tensor rdiv(const Tensor& a, double s) {
  return record("rdiv_scalar", raw::binary(BinaryOp::Div, a, s, true, "rdiv"), {a}, [s](BackwardCtx& c) {
    const Tensor a = c.in(0);
    c.accumulate(0, neg(mul(c.dy, div(rdiv(a, s), a))));
  });
}

// ---------------------------------------------------------------- comparisons (no gradient)
Tensor eq(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::Eq, a, b, "eq"); }
Tensor ne(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::Ne, a, b, "ne"); }
Tensor lt(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::Lt, a, b, "lt"); }
Tensor le(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::Le, a, b, "le"); }
Tensor gt(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::Gt, a, b, "gt"); }
Tensor ge(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::Ge, a, b, "ge"); }
Tensor eq(const Tensor& a, double s) { return raw::binary(BinaryOp::Eq, a, s, false, "eq"); }
Tensor ne(const Tensor& a, double s) { return raw::binary(BinaryOp::Ne, a, s, false, "ne"); }
Tensor lt(const Tensor& a, double s) { return raw::binary(BinaryOp::Lt, a, s, false, "lt"); }
Tensor le(const Tensor& a, double s) { return raw::binary(BinaryOp::Le, a, s, false, "le"); }
Tensor gt(const Tensor& a, double s) { return raw::binary(BinaryOp::Gt, a, s, false, "gt"); }
Tensor ge(const Tensor& a, double s) { return raw::binary(BinaryOp::Ge, a, s, false, "ge"); }

// y = cond ? a : b     da = sum_to(cond ? dy : 0, a)   db = sum_to(cond ? 0 : dy, b)
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  return record("where", raw::where(cond, a, b), {a, b}, [](BackwardCtx& c) {
    const Tensor cond = c.extra(0);
    const Tensor z = zeros({}, {.dtype = c.dy.dtype()});
    if (c.needs(0)) c.accumulate(0, sum_to(where(cond, c.dy, z), c.in_shape(0)));
    if (c.needs(1)) c.accumulate(1, sum_to(where(cond, z, c.dy), c.in_shape(1)));
  }, kSaveNone, {cond});
}

// ---------------------------------------------------------------- unary
// y = -x   dx = -dy
Tensor neg(const Tensor& x) {
  return record("neg", raw::unary(UnaryOp::Neg, x, "neg"), {x}, [](BackwardCtx& c) { c.accumulate(0, neg(c.dy)); },
                kSaveNone);
}
// y = exp(x)   dx = dy * y
Tensor exp(const Tensor& x) {
  return record("exp", raw::unary(UnaryOp::Exp, x, "exp"), {x}, [](BackwardCtx& c) { c.accumulate(0, mul(c.dy, c.out())); },
                kSaveOutput);
}
// y = log(x)   dx = dy / x
Tensor log(const Tensor& x) {
  return record("log", raw::unary(UnaryOp::Log, x, "log"), {x}, [](BackwardCtx& c) { c.accumulate(0, div(c.dy, c.in(0))); });
}
// y = sqrt(x)   dx = dy / (2 y)
Tensor sqrt(const Tensor& x) {
  return record("sqrt", raw::unary(UnaryOp::Sqrt, x, "sqrt"), {x},
                [](BackwardCtx& c) { c.accumulate(0, div(c.dy, mul(c.out(), 2.0))); }, kSaveOutput);
}
// y = x^(-1/2)   dx = -dy * y³ / 2
Tensor rsqrt(const Tensor& x) {
  return record("rsqrt", raw::unary(UnaryOp::Rsqrt, x, "rsqrt"), {x}, [](BackwardCtx& c) {
    const Tensor y = c.out();
    c.accumulate(0, mul(mul(c.dy, mul(y, mul(y, y))), -0.5));
  }, kSaveOutput);
}
// y = |x|   dx = dy * sign(x)
Tensor abs(const Tensor& x) {
  return record("abs", raw::unary(UnaryOp::Abs, x, "abs"), {x}, [](BackwardCtx& c) { c.accumulate(0, mul(c.dy, sign(c.in(0)))); });
}
Tensor sign(const Tensor& x) { return raw::unary(UnaryOp::Sign, x, "sign"); }
// y = x²   dx = 2 x dy
Tensor square(const Tensor& x) {
  return record("square", raw::unary(UnaryOp::Square, x, "square"), {x},
                [](BackwardCtx& c) { c.accumulate(0, mul(c.dy, mul(c.in(0), 2.0))); });
}
// y = max(x, 0)   dx = dy * [x > 0]
Tensor relu(const Tensor& x) {
  return record("relu", raw::unary(UnaryOp::Relu, x, "relu"), {x},
                [](BackwardCtx& c) { c.accumulate(0, relu_grad(c.dy, c.out())); }, kSaveOutput);
}

// [y > 0] ? dy : 0: recorded as where(step(y), dy, 0) while a backward is
// being recorded (the step is a constant of the graph), else one raw pass with
// the same bits (raw::relu_backward). A select, not dy * step(y): an infinite
// or NaN dy where y <= 0 gave NaN (PyTorch's threshold_backward gives 0).
// The backward of relu, linear_relu, conv2d_relu.
Tensor relu_grad(const Tensor& dy, const Tensor& y) {
  if (!is_grad_enabled()) return raw::relu_backward(dy, y);
  return where(raw::unary(UnaryOp::Step, y, "relu"), dy, zeros({}, {.dtype = dy.dtype()}));
}
// y = x > 0 ? x : s x   dx = dy * (x > 0 ? 1 : s)
Tensor leaky_relu(const Tensor& x, double s) {
  return record("leaky_relu", raw::unary(UnaryOp::LeakyRelu, x, "leaky_relu", s), {x}, [s](BackwardCtx& c) {
    const Tensor step = raw::unary(UnaryOp::Step, c.in(0), "leaky_relu");
    c.accumulate(0, mul(c.dy, add(mul(step, 1.0 - s), s)));
  });
}
// y = 1 / (1 + e^-x)   dx = dy * y (1 - y)
Tensor sigmoid(const Tensor& x) {
  return record("sigmoid", raw::unary(UnaryOp::Sigmoid, x, "sigmoid"), {x}, [](BackwardCtx& c) {
    const Tensor y = c.out();
    c.accumulate(0, mul(c.dy, mul(y, rsub(y, 1.0))));
  }, kSaveOutput);
}
// y = tanh(x)   dx = dy (1 - y²)
Tensor tanh(const Tensor& x) {
  return record("tanh", raw::unary(UnaryOp::Tanh, x, "tanh"), {x}, [](BackwardCtx& c) {
    const Tensor y = c.out();
    c.accumulate(0, mul(c.dy, rsub(mul(y, y), 1.0)));
  }, kSaveOutput);
}
// y = erf(x)   dx = dy * 2/sqrt(pi) * exp(-x²)
Tensor erf(const Tensor& x) {
  return record("erf", raw::unary(UnaryOp::Erf, x, "erf"), {x}, [](BackwardCtx& c) {
    const Tensor x = c.in(0);
    c.accumulate(0, mul(c.dy, mul(exp(neg(mul(x, x))), 1.1283791670955126)));
  });
}
// exact:  y = x Φ(x)                      dx = dy (Φ(x) + x φ(x))
// tanh:   y = x/2 (1 + tanh(u)), u = k (x + 0.044715 x³), k = sqrt(2/pi)
//         dx = dy (1/2 (1 + t) + x/2 (1 - t²) k (1 + 3·0.044715 x²)),  t = tanh(u)
Tensor gelu(const Tensor& x, GeluApprox approximate) {
  const bool tanh_form = approximate == GeluApprox::Tanh;
  Tensor y = raw::unary(tanh_form ? UnaryOp::GeluTanh : UnaryOp::GeluErf, x, "gelu");
  return record("gelu", y, {x}, [tanh_form](BackwardCtx& c) {
    const Tensor x = c.in(0);
    if (tanh_form) {
      const double k = 0.7978845608028654;
      const Tensor t = tanh(mul(add(x, mul(mul(x, mul(x, x)), 0.044715)), k));
      const Tensor left = mul(add(t, 1.0), 0.5);
      const Tensor right = mul(mul(mul(x, 0.5), rsub(mul(t, t), 1.0)), mul(add(mul(mul(x, x), 3 * 0.044715), 1.0), k));
      c.accumulate(0, mul(c.dy, add(left, right)));
    } else {
      const Tensor cdf = mul(add(erf(mul(x, 0.7071067811865476)), 1.0), 0.5);
      const Tensor pdf = mul(exp(mul(mul(x, x), -0.5)), 0.3989422804014327);
      c.accumulate(0, mul(c.dy, add(cdf, mul(x, pdf))));
    }
  });
}
// y = min(max(x, lo), hi)   dx = [lo <= x <= hi] ? dy : 0 (a select: inf * 0 was NaN)
Tensor clamp(const Tensor& x, double lo, double hi) {
  TG_CHECK(!std::isnan(lo) && !std::isnan(hi), "clamp: a bound is NaN (lo ", lo, ", hi ", hi, ")");
  TG_CHECK(!(lo > hi), "clamp: lo ", lo, " is greater than hi ", hi);
  return record("clamp", raw::unary(UnaryOp::Clamp, x, "clamp", lo, hi), {x}, [lo, hi](BackwardCtx& c) {
    const Tensor x = c.in(0).detach();
    c.accumulate(0, where(mul(ge(x, lo), le(x, hi)), c.dy, zeros({}, {.dtype = c.dy.dtype()})));
  });
}
Tensor clamp_min(const Tensor& x, double lo) { return clamp(x, lo, INFINITY); }
Tensor clamp_max(const Tensor& x, double hi) { return clamp(x, -INFINITY, hi); }

}  // namespace tg
