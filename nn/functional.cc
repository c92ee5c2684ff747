// The nn functional ops: convolution and pooling on the tensor/conv.h kernels,
// dropout, normalization, embedding and the losses. Each op's math sits in a
// comment above it, with its backward next to its forward (README "Design rules").
#include "nn/functional.h"

#include <cmath>
#include <vector>

#include "autograd/node.h"
#include "tensor/conv.h"
#include "tensor/kernels/elementwise.h"
#include "tensor/kernels/loss.h"
#include "tensor/parallel.h"
#include "tensor/raw.h"

namespace tg::nn {

std::ostream& operator<<(std::ostream& os, const Size2& s) { return os << "(" << s.h << ", " << s.w << ")"; }

namespace functional {

using autograd::BackwardCtx;
using autograd::kSaveInputs;
using autograd::kSaveNone;
using autograd::kSaveOutput;
using autograd::record;

namespace {

void check_float(const Tensor& t, const char* op, const char* what) {
  TG_CHECK(t.defined(), op, ": ", what, " is undefined");
  TG_CHECK(t.is_floating_point(), op, ": ", what, " must be float32 or float64, got ", t.dtype());
}

Shape per_channel_shape(int rank, int64_t C) {  // [1, C, 1, ...]
  Shape s;
  for (int d = 0; d < rank; ++d) s.push_back(d == 1 ? C : 1);
  return s;
}

Tensor vec_tensor(const std::vector<double>& v, DType dt) { return tensor(v, {int64_t(v.size())}).to(dt); }

Tensor reduce(const Tensor& l, Reduction r) {
  switch (r) {
    case Reduction::None: return l;
    case Reduction::Sum: return sum(l);
    default: return mean(l);
  }
}

// ---- convolution: three recorded ops that differentiate into each other ----
//   y  = conv(x, w)           (Y = conv2d_forward)
//   dx = conv_dx(dy, w)       (the adjoint of conv in x: a transposed convolution)
//   dw = conv_dw(x, dy)       (the adjoint of conv in w)
// <conv(x, w), dy> = <x, conv_dx(dy, w)> = <w, conv_dw(x, dy)> gives every
// derivative: d conv_dx / d dy ← conv(g, w), d conv_dx / d w ← conv_dw(g, dy),
// d conv_dw / d x ← conv_dx(dy, g), d conv_dw / d dy ← conv(x, g).
Tensor conv_raw(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dGeometry& g, bool relu = false);
Tensor conv_dx(const Tensor& dy, const Tensor& w, const Conv2dGeometry& g);
Tensor conv_dw(const Tensor& x, const Tensor& dy, const Conv2dGeometry& g);
Tensor conv_dw_raw(const Tensor& x, const Tensor& dy, const Conv2dGeometry& g, Tensor* db);

Conv2dGeometry with_batch(Conv2dGeometry g, int64_t n) {
  g.N = n;
  return g;
}

// dx = conv_dx(dy, w)   dw = conv_dw(x, dy)   db = Σ_{n,oh,ow} dy   (dy: the
// gradient w.r.t. the convolution's output, before any fused ReLU)
void conv_backward(BackwardCtx& c, const Tensor& dy, const Conv2dGeometry& g, bool has_bias) {
  if (c.needs(0)) c.accumulate(0, conv_dx(dy, c.in(1), g));
  if (!c.create_graph && has_bias && c.needs(1) && c.needs(2)) {
    // First order: dw and db in one pass over dy, image chunk by image chunk
    // (with create_graph, conv_dw and sum below are recorded).
    Tensor db;
    c.accumulate(1, conv_dw_raw(c.in(0), dy, with_batch(g, c.in(0).size(0)), &db));
    c.accumulate(2, db);
    return;
  }
  if (c.needs(1)) c.accumulate(1, conv_dw(c.in(0), dy, g));
  if (has_bias && c.needs(2)) c.accumulate(2, sum(dy, {0, 2, 3}));
}

// y = conv(x, w) + b, or relu of it (one pass, one tape node):
//   dz = dy ⊙ [y > 0]  (relu's backward: the step is a constant of the graph), then conv_backward(dz)
Tensor conv_raw(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dGeometry& g, bool relu) {
  const Tensor xc = x.contiguous(), wc = w.contiguous(), bc = b.defined() ? b.contiguous() : Tensor();
  Tensor y = empty({g.N, g.OC, g.OH(), g.OW()}, {.dtype = x.dtype()});
  visit_float_dtype(x.dtype(), [&](auto t) {
    using T = decltype(t);
    conv2d_forward<T>(g, xc.raw_ptr<T>(), wc.raw_ptr<T>(), bc.defined() ? bc.raw_ptr<T>() : nullptr,
                      y.raw_ptr<T>(), relu);
  });
  const bool has_bias = b.defined();
  if (relu) {
    auto backward = [g, has_bias](BackwardCtx& c) { conv_backward(c, relu_grad(c.dy, c.out()), g, has_bias); };
    if (has_bias) return record("conv2d_relu", y, {x, w, b}, backward, kSaveInputs | kSaveOutput);
    return record("conv2d_relu", y, {x, w}, backward, kSaveInputs | kSaveOutput);
  }
  auto backward = [g, has_bias](BackwardCtx& c) { conv_backward(c, c.dy, g, has_bias); };
  if (has_bias) return record("conv2d", y, {x, w, b}, backward);
  return record("conv2d", y, {x, w}, backward);
}

// dx = conv_dx(dy, w): [N, OC, OH, OW] x [OC, C/g, KH, KW] -> [N, C, H, W]
Tensor conv_dx(const Tensor& dy, const Tensor& w, const Conv2dGeometry& g0) {
  const Conv2dGeometry g = with_batch(g0, dy.size(0));
  const Tensor dyc = dy.contiguous(), wc = w.contiguous();
  Tensor dx = empty({g.N, g.C, g.H, g.W}, {.dtype = dy.dtype()});
  visit_float_dtype(dy.dtype(), [&](auto t) {
    using T = decltype(t);
    conv2d_backward<T>(g, nullptr, wc.raw_ptr<T>(), dyc.raw_ptr<T>(), dx.raw_ptr<T>(), nullptr, nullptr);
  });
  return record("conv2d_backward_input", dx, {dy, w}, [g](BackwardCtx& c) {
    if (c.needs(0)) c.accumulate(0, conv_raw(c.dy, c.in(1), Tensor(), g));
    if (c.needs(1)) c.accumulate(1, conv_dw(c.dy, c.in(0), g));
  });
}

// dw (and db = Σ_{n,oh,ow} dy in the same pass when db is given), not
// recorded: the first-order fast path and the body of conv_dw.
Tensor conv_dw_raw(const Tensor& x, const Tensor& dy, const Conv2dGeometry& g, Tensor* db) {
  const Tensor xc = x.contiguous(), dyc = dy.contiguous();
  Tensor dw = empty({g.OC, g.C / g.groups, g.KH, g.KW}, {.dtype = x.dtype()});
  if (db) *db = empty({g.OC}, {.dtype = x.dtype()});
  visit_float_dtype(x.dtype(), [&](auto t) {
    using T = decltype(t);
    conv2d_backward<T>(g, xc.raw_ptr<T>(), nullptr, dyc.raw_ptr<T>(), nullptr, dw.raw_ptr<T>(),
                       db ? db->raw_ptr<T>() : nullptr);
  });
  return dw;
}

// dw = conv_dw(x, dy): [N, C, H, W] x [N, OC, OH, OW] -> [OC, C/g, KH, KW]
Tensor conv_dw(const Tensor& x, const Tensor& dy, const Conv2dGeometry& g0) {
  const Conv2dGeometry g = with_batch(g0, x.size(0));
  return record("conv2d_backward_weight", conv_dw_raw(x, dy, g, nullptr), {x, dy}, [g](BackwardCtx& c) {
    if (c.needs(0)) c.accumulate(0, conv_dx(c.in(1), c.dy, g));
    if (c.needs(1)) c.accumulate(1, conv_raw(c.in(0), c.dy, Tensor(), g));
  });
}

Pool2dGeometry pool_geometry(const Tensor& x, Size2 k, Size2 s, Size2 p, bool ceil_mode, const char* op) {
  check_float(x, op, "input");
  TG_CHECK(x.dim() == 4, op, ": expected a 4-D input [N, C, H, W], got shape ", x.shape());
  TG_CHECK(k.h > 0 && k.w > 0, op, ": kernel must be positive, got ", k);
  if (s.h == 0 && s.w == 0) s = k;
  TG_CHECK(s.h > 0 && s.w > 0, op, ": stride must be positive, got ", s);
  TG_CHECK(p.h >= 0 && p.w >= 0, op, ": padding must be non-negative, got ", p);
  TG_CHECK(2 * p.h <= k.h && 2 * p.w <= k.w, op, ": padding ", p, " must be at most half the kernel ", k);
  Pool2dGeometry g{x.size(0), x.size(1), x.size(2), x.size(3), k.h, k.w, s.h, s.w, p.h, p.w, ceil_mode, true};
  TG_CHECK(g.OH() > 0 && g.OW() > 0, op, ": input of shape ", x.shape(), " is too small for kernel ", k,
           " with padding ", p, " (output would be ", g.OH(), "x", g.OW(), ")");
  return g;
}

// The adjoint pair of average pooling: avg_pool (forward) and avg_unpool (its backward).
Tensor avg_pool_raw(const Tensor& x, const Pool2dGeometry& g);
Tensor avg_unpool(const Tensor& dy, const Pool2dGeometry& g0);

// y = mean of each window      dx = avg_unpool(dy)
Tensor avg_pool_raw(const Tensor& x, const Pool2dGeometry& g0) {
  Pool2dGeometry g = g0;
  g.N = x.size(0);
  const Tensor xc = x.contiguous();
  Tensor y = empty({g.N, g.C, g.OH(), g.OW()}, {.dtype = x.dtype()});
  visit_float_dtype(x.dtype(), [&](auto t) {
    using T = decltype(t);
    avg_pool2d_forward<T>(g, xc.raw_ptr<T>(), y.raw_ptr<T>());
  });
  return record("avg_pool2d", y, {x}, [g](BackwardCtx& c) { c.accumulate(0, avg_unpool(c.dy, g)); }, kSaveNone);
}

// dx = avg_unpool(dy) (linear in dy)      d dy = avg_pool(g)
Tensor avg_unpool(const Tensor& dy, const Pool2dGeometry& g0) {
  Pool2dGeometry g = g0;
  g.N = dy.size(0);
  const Tensor dyc = dy.contiguous();
  Tensor dx = empty({g.N, g.C, g.H, g.W}, {.dtype = dy.dtype()});
  visit_float_dtype(dy.dtype(), [&](auto t) {
    using T = decltype(t);
    avg_pool2d_backward<T>(g, dyc.raw_ptr<T>(), dx.raw_ptr<T>());
  });
  return record("avg_pool2d_backward", dx, {dy}, [g](BackwardCtx& c) { c.accumulate(0, avg_pool_raw(c.dy, g)); },
                kSaveNone);
}

}  // namespace

// ---------------------------------------------------------------------------
// conv2d
// x: [N, C, H, W]  w: [OC, C/groups, KH, KW]  b: [OC]  ->  y: [N, OC, OH, OW]
// y[n,o] = b[o] + Σ_{c in group(o), kh, kw} w[o, c, kh, kw] · x[n, c, oh·s - p + kh·d, ow·s - p + kw·d]
namespace {
Conv2dGeometry conv_geometry(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dFuncOptions& o) {
  check_float(x, "conv2d", "input");
  check_float(w, "conv2d", "weight");
  TG_CHECK(x.dim() == 4, "conv2d: expected a 4-D input [N, C, H, W], got shape ", x.shape());
  TG_CHECK(w.dim() == 4, "conv2d: expected a 4-D weight [OC, C/groups, KH, KW], got shape ", w.shape());
  TG_CHECK(x.dtype() == w.dtype(), "conv2d: input is ", x.dtype(), " but weight is ", w.dtype());
  TG_CHECK(o.groups > 0, "conv2d: groups must be positive, got ", o.groups);
  TG_CHECK(o.stride.h > 0 && o.stride.w > 0, "conv2d: stride must be positive, got ", o.stride);
  TG_CHECK(o.padding.h >= 0 && o.padding.w >= 0, "conv2d: padding must be non-negative, got ", o.padding);
  TG_CHECK(o.dilation.h > 0 && o.dilation.w > 0, "conv2d: dilation must be positive, got ", o.dilation);
  const int64_t OC = w.size(0);
  TG_CHECK(OC % o.groups == 0, "conv2d: weight has ", OC, " output channels, not divisible by groups = ", o.groups);
  TG_CHECK(x.size(1) == w.size(1) * o.groups, "conv2d: input has ", x.size(1), " channels, but weight ", w.shape(),
           " with groups = ", o.groups, " expects ", w.size(1) * o.groups);
  if (b.defined()) {
    TG_CHECK(b.dim() == 1 && b.size(0) == OC, "conv2d: bias must have shape [", OC, "], got ", b.shape());
    TG_CHECK(b.dtype() == x.dtype(), "conv2d: bias is ", b.dtype(), " but input is ", x.dtype());
  }
  Conv2dGeometry g{x.size(0), x.size(1), x.size(2), x.size(3), OC, w.size(2), w.size(3)};
  g.stride_h = o.stride.h;
  g.stride_w = o.stride.w;
  g.pad_h = o.padding.h;
  g.pad_w = o.padding.w;
  g.dil_h = o.dilation.h;
  g.dil_w = o.dilation.w;
  g.groups = o.groups;
  TG_CHECK(g.OH() > 0 && g.OW() > 0, "conv2d: input of shape ", x.shape(), " is too small for kernel ",
           Size2(g.KH, g.KW), " with padding ", o.padding, " and dilation ", o.dilation, " (output would be ",
           g.OH(), "x", g.OW(), ")");
  return g;
}
}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dFuncOptions& o) {
  return conv_raw(x, w, b, conv_geometry(x, w, b, o));
}

// relu(conv2d(x, w, b)) with the ReLU in the convolution's output pass: one
// tape node, the same values and gradients (nn::Sequential's Conv2d + ReLU).
Tensor conv2d_relu(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dFuncOptions& o) {
  return conv_raw(x, w, b, conv_geometry(x, w, b, o), /*relu=*/true);
}

// ---------------------------------------------------------------------------
// max_pool2d
// y[n,c,oh,ow] = max over the window; argmax remembers where
// dx = 0, then dx[argmax] += dy (first order: the kernel; with create_graph the
// same scatter written as scatter_add, which is differentiable in dy)
Tensor max_pool2d(const Tensor& x, const MaxPool2dOptions& o) {
  const Pool2dGeometry g = pool_geometry(x, o.kernel, o.stride, o.padding, o.ceil_mode, "max_pool2d");
  const Tensor xc = x.contiguous();
  Tensor y = empty({g.N, g.C, g.OH(), g.OW()}, {.dtype = x.dtype()});
  // The indices are only for the backward: none when nothing will be recorded.
  const bool indices = is_grad_enabled() && x.requires_grad();
  Tensor argmax = indices ? empty({g.N, g.C, g.OH(), g.OW()}, {.dtype = kInt64}) : Tensor();
  visit_float_dtype(x.dtype(), [&](auto t) {
    using T = decltype(t);
    max_pool2d_forward<T>(g, xc.raw_ptr<T>(), y.raw_ptr<T>(), indices ? argmax.raw_ptr<int64_t>() : nullptr);
  });
  if (!indices) return y;
  return record("max_pool2d", y, {x}, [g, argmax](BackwardCtx& c) {
    if (c.create_graph) {
      const int64_t planes = g.N * g.C, out = g.OH() * g.OW();
      Tensor dx = scatter_add(zeros({planes, g.H * g.W}, {.dtype = c.dy.dtype()}), 1,
                              argmax.reshape({planes, out}), c.dy.reshape({planes, out}));
      c.accumulate(0, dx.reshape({g.N, g.C, g.H, g.W}));
      return;
    }
    const Tensor dyc = c.dy.contiguous();
    Tensor dx = empty({g.N, g.C, g.H, g.W}, {.dtype = c.dy.dtype()});
    visit_float_dtype(dyc.dtype(), [&](auto t) {
      using T = decltype(t);
      max_pool2d_backward<T>(g, dyc.raw_ptr<T>(), argmax.raw_ptr<int64_t>(), dx.raw_ptr<T>());
    });
    c.accumulate(0, dx);
  }, kSaveNone);
}

// ---------------------------------------------------------------------------
// avg_pool2d
// y = Σ_window x / divisor   dx[window] += dy / divisor
Tensor avg_pool2d(const Tensor& x, const AvgPool2dOptions& o) {
  Pool2dGeometry g = pool_geometry(x, o.kernel, o.stride, o.padding, o.ceil_mode, "avg_pool2d");
  g.count_include_pad = o.count_include_pad;
  return avg_pool_raw(x, g);
}

// ---------------------------------------------------------------------------
// dropout
// mask ~ Bernoulli(1 - p) / (1 - p)   y = x · mask   dx = dy · mask
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  TG_CHECK(p >= 0 && p <= 1, "dropout: p must be in [0, 1], got ", p);
  if (!training || p == 0) return x;
  check_float(x, "dropout", "input");
  if (p == 1) return mul(x, zeros_like(x));
  Tensor mask = bernoulli(x.shape(), 1.0 - p, gen, {.dtype = x.dtype()});
  raw::binary_(raw::BinaryOp::Mul, mask, 1.0 / (1.0 - p), "dropout");
  return mul(x, mask);
}

// ---------------------------------------------------------------------------
// batch_norm in eval mode, with constant running statistics (one pass, one tape node)
// x: [N, C, *]   scale = weight / sqrt(running_var + eps)   shift = bias - running_mean · scale
// y = x · scale[c] + shift[c]       (PyTorch's CPU eval kernel)
// dx = dy · scale[c]   dweight = Σ_{N,*} dy · x̂,  x̂ = (x - running_mean) / sqrt(running_var + eps)
// dbias = Σ_{N,*} dy
namespace {
Tensor batch_norm_eval(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                       const Tensor& bias, double eps, const Shape& cs, const std::vector<int64_t>& dims) {
  const int64_t N = x.size(0), C = x.size(1), inner = C > 0 ? x.numel() / std::max<int64_t>(N * C, 1) : 0;
  // per-channel constants in double, rounded once to the input's dtype
  const std::vector<double> mu = running_mean.to_vector<double>(), var = running_var.to_vector<double>();
  const std::vector<double> w = weight.defined() ? weight.to_vector<double>() : std::vector<double>();
  const std::vector<double> b = bias.defined() ? bias.to_vector<double>() : std::vector<double>();
  std::vector<double> inv(static_cast<size_t>(C)), sc(static_cast<size_t>(C)), sh(static_cast<size_t>(C));
  for (size_t c = 0; c < size_t(C); ++c) {
    inv[c] = 1.0 / std::sqrt(var[c] + eps);
    sc[c] = (w.empty() ? 1.0 : w[c]) * inv[c];
    sh[c] = (b.empty() ? 0.0 : b[c]) - mu[c] * sc[c];
  }
  const DType dt = x.dtype();
  const Tensor scale = vec_tensor(sc, dt), shift = vec_tensor(sh, dt);
  const Tensor xc = x.contiguous();
  Tensor y = empty(x.shape(), {.dtype = dt});
  // y = x · scale + shift over [N, C · inner], image (row) by image
  auto affine = [N, C, inner](const Tensor& src, const Tensor& a, const Tensor& sft, Tensor& dst) {
    visit_float_dtype(src.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* sp = src.raw_ptr<T>();
      const T* ap = a.raw_ptr<T>();
      const T* bp = sft.defined() ? sft.raw_ptr<T>() : nullptr;
      T* dp = dst.raw_ptr<T>();
      const int64_t row = C * inner;
      parallel_for(0, N, std::max<int64_t>(1, 32768 / std::max<int64_t>(row, 1)), [&](int64_t n0, int64_t n1) {
        for (int64_t n = n0; n < n1; ++n) kernels::channel_affine(sp + n * row, ap, bp, dp + n * row, C, inner);
      });
    });
  };
  if (y.numel() > 0) affine(xc, scale, shift, y);
  const bool save_inputs = weight.defined() && weight.requires_grad();
  // only dweight (and create_graph's recorded dx through the weight) needs them
  const Tensor mean_t = save_inputs ? vec_tensor(mu, dt) : Tensor(), inv_t = save_inputs ? vec_tensor(inv, dt) : Tensor();
  auto backward = [scale, mean_t, inv_t, cs, dims, affine](BackwardCtx& c) {
    if (c.needs(0)) {
      if (c.create_graph) {
        // recorded: differentiable in dy (and in weight when it requires grad)
        const Tensor s = c.needs(1) ? c.in(1) * inv_t : scale;
        c.accumulate(0, c.dy * s.reshape(cs));
      } else {
        const Tensor dyc = c.dy.contiguous();
        Tensor dx = empty(dyc.shape(), {.dtype = dyc.dtype()});
        if (dx.numel() > 0) affine(dyc, scale, Tensor(), dx);
        c.accumulate(0, dx);
      }
    }
    if (c.needs(1)) c.accumulate(1, sum(c.dy * ((c.in(0) - mean_t.reshape(cs)) * inv_t.reshape(cs)), dims));
    if (c.needs(2)) c.accumulate(2, sum(c.dy, dims));
  };
  return record("batch_norm_eval", y, {x, weight, bias}, backward, save_inputs ? kSaveInputs : kSaveNone);
}
}  // namespace

// ---------------------------------------------------------------------------
// batch_norm (composite)
// training: μ = mean_{N,*} x   σ² = mean_{N,*} (x - μ)²   x̂ = (x - μ) / sqrt(σ² + eps)
//           running_mean ← (1-m) running_mean + m μ;  running_var ← (1-m) running_var + m σ² n/(n-1)
// eval:     x̂ = (x - running_mean) / sqrt(running_var + eps)
// y = x̂ · weight + bias  (per channel)
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  check_float(x, "batch_norm", "input");
  TG_CHECK(x.dim() >= 2, "batch_norm: expected an input [N, C] or [N, C, *], got shape ", x.shape());
  const int64_t C = x.size(1);
  for (const Tensor* t : {&running_mean, &running_var, &weight, &bias})
    if (t->defined()) {
      TG_CHECK(t->dim() == 1 && t->size(0) == C, "batch_norm: per-channel tensors must have shape [", C,
               "] for an input with ", C, " channels, got ", t->shape());
      // before the running statistics change (a failed forward left them updated)
      TG_CHECK(t->dtype() == x.dtype(), "batch_norm: the input is ", x.dtype(), " but the weights / running statistics are ",
               t->dtype(), " (convert the module with .to(", x.dtype(), "))");
    }
  TG_CHECK(running_mean.defined() == running_var.defined(),
           "batch_norm: running_mean and running_var must both be given or both be undefined");
  const Shape cs = per_channel_shape(x.dim(), C);
  std::vector<int64_t> dims;
  for (int d = 0; d < x.dim(); ++d)
    if (d != 1) dims.push_back(d);
  // eval with running statistics that are constants (as buffers are): one pass
  if (!training && running_mean.defined() && !running_mean.requires_grad() && !running_var.requires_grad())
    return batch_norm_eval(x, running_mean, running_var, weight, bias, eps, cs, dims);
  Tensor xhat;
  if (training || !running_mean.defined()) {
    const int64_t n = x.numel() / std::max<int64_t>(C, 1);
    // an empty batch gives an empty output and leaves the running statistics alone (as PyTorch)
    TG_CHECK(n != 1, "batch_norm: expected more than 1 value per channel when training, got input shape ",
             x.shape());
    const Tensor mu = mean(x, dims, true);
    const Tensor xc = x - mu;
    const Tensor var_b = mean(square(xc), dims, true);
    xhat = xc * rsqrt(var_b + eps);
    if (training && running_mean.defined() && n > 0) {
      NoGradGuard ng;
      const Tensor m = mu.detach().reshape({C}), v = var_b.detach().reshape({C}) * (double(n) / double(n - 1));
      Tensor rm = running_mean, rv = running_var;
      rm.mul_(1.0 - momentum).add_(m.to(rm.dtype()), momentum);
      rv.mul_(1.0 - momentum).add_(v.to(rv.dtype()), momentum);
    }
  } else {
    xhat = (x - running_mean.reshape(cs)) * rsqrt(running_var.reshape(cs) + eps);
  }
  if (weight.defined()) xhat = xhat * weight.reshape(cs);
  if (bias.defined()) xhat = xhat + bias.reshape(cs);
  return xhat;
}

// ---------------------------------------------------------------------------
// layer_norm (composite): over the trailing dims D
// x̂ = (x - mean_D x) / sqrt(var_D x + eps)   (biased)   y = x̂ · weight + bias
Tensor layer_norm(const Tensor& x, const Shape& ns, const Tensor& weight, const Tensor& bias, double eps) {
  check_float(x, "layer_norm", "input");
  const int k = ns.size();
  TG_CHECK(k >= 1, "layer_norm: normalized_shape must not be empty");
  bool ok = x.dim() >= k;
  for (int i = 0; ok && i < k; ++i) ok = x.size(x.dim() - k + i) == ns[i];
  TG_CHECK(ok, "layer_norm: input of shape ", x.shape(), " does not end with normalized_shape ", ns);
  for (const Tensor* t : {&weight, &bias})
    if (t->defined()) {
      TG_CHECK(t->shape() == ns, "layer_norm: weight/bias must have shape ", ns, ", got ", t->shape());
      TG_CHECK(t->dtype() == x.dtype(), "layer_norm: the input is ", x.dtype(), " but weight/bias are ", t->dtype(),
               " (convert the module with .to(", x.dtype(), "))");
    }
  std::vector<int64_t> dims;
  for (int d = x.dim() - k; d < x.dim(); ++d) dims.push_back(d);
  const Tensor xc = x - mean(x, dims, true);
  Tensor y = xc * rsqrt(mean(square(xc), dims, true) + eps);
  if (weight.defined()) y = y * weight;
  if (bias.defined()) y = y + bias;
  return y;
}

// ---------------------------------------------------------------------------
// embedding
// y[i..., :] = weight[indices[i...], :]    dweight[k] = Σ_{i: indices[i] = k} dy[i]  (index_select's backward)
Tensor embedding(const Tensor& indices, const Tensor& weight) {
  TG_CHECK(indices.defined() && indices.dtype() == kInt64, "embedding: indices must be int64");
  check_float(weight, "embedding", "weight");
  TG_CHECK(weight.dim() == 2, "embedding: weight must be [num_embeddings, dim], got ", weight.shape());
  const Tensor flat = indices.contiguous().reshape({-1});
  const int64_t num = weight.size(0);
  const int64_t* p = flat.raw_ptr<int64_t>();
  for (int64_t i = 0; i < flat.numel(); ++i)
    TG_CHECK(p[i] >= 0 && p[i] < num, "embedding: index ", p[i], " at position ", i, " is out of range for ", num,
             " embeddings");
  Shape out = indices.shape();
  out.push_back(weight.size(1));
  return index_select(weight, 0, flat).reshape(out);
}

// ---------------------------------------------------------------------------
// losses
namespace {

// Per-sample target weights w_i = weight[t_i] (1 without weights), 0 where ignored;
// checks the targets. Returns the safe (ignored -> 0) targets too.
struct Targets {
  std::vector<int64_t> safe;
  std::vector<double> w;  // per sample
  std::vector<char> ignored;
  double total = 0;       // Σ w_i
};
Targets read_targets(const Tensor& target, int64_t N, int64_t C, const Tensor& weight, int64_t ignore_index,
                     const char* op) {
  TG_CHECK(target.defined() && target.dtype() == kInt64, op, ": target must be int64 class indices, got ",
           target.defined() ? dtype_name(target.dtype()) : "undefined");
  TG_CHECK(target.dim() == 1 && target.size(0) == N, op, ": expected target of shape [", N, "], got ",
           target.shape());
  std::vector<double> cw;
  if (weight.defined()) {
    TG_CHECK(weight.dim() == 1 && weight.size(0) == C, op, ": weight must have shape [", C, "], got ",
             weight.shape());
    cw = weight.to_vector<double>();
  }
  Targets t;
  const std::vector<int64_t> tv = target.to_vector<int64_t>();
  t.safe.resize(size_t(N));
  t.w.resize(size_t(N));
  t.ignored.assign(size_t(N), 0);
  for (int64_t i = 0; i < N; ++i) {
    const int64_t ti = tv[size_t(i)];
    if (ti == ignore_index) {
      t.safe[size_t(i)] = 0;
      t.w[size_t(i)] = 0;
      t.ignored[size_t(i)] = 1;
      continue;
    }
    TG_CHECK(ti >= 0 && ti < C, op, ": target ", ti, " at index ", i, " is out of range for ", C, " classes");
    t.safe[size_t(i)] = ti;
    t.w[size_t(i)] = cw.empty() ? 1.0 : cw[size_t(ti)];
    t.total += t.w[size_t(i)];
  }
  return t;
}

// mean: Σ l / total. Every target ignored: the loss is NaN, as PyTorch's, but
// its gradient 0, not dy / 0 · 0 = NaN (l is 0 on every row). (Zero class
// weights on kept targets keep the NaN gradient, as PyTorch.)
Tensor reduce_weighted(const Tensor& l, Reduction r, const Targets& t) {
  const bool all_ignored = std::find(t.ignored.begin(), t.ignored.end(), 0) == t.ignored.end();
  switch (r) {
    case Reduction::None: return l;
    case Reduction::Sum: return sum(l);
    default: return all_ignored ? add(mul(sum(l), 0.0), NAN) : div(sum(l), t.total);
  }
}

}  // namespace

// Rows of at least this many classes take the SIMD path (kernels/loss.h: the
// exps in T lanes, summed in double lanes); shorter rows keep the scalar loop
// and its bits (MNIST's 10 classes: the published loss figures). Measured at
// one thread, 65,536 logits: SIMD is 1.5x faster at 16 classes, 2.6x at 32,
// 5x at 128, 8x at 256 (forward).
constexpr int64_t kCrossEntropyVectorClasses = 32;

// A scalar row (C < kCrossEntropyVectorClasses): m = max x, e = exp(x - m),
// returns Σ e in double. Its own function: inlined into cross_entropy, m and
// the sum lived on the stack (1.5x slower at 16 classes).
template <class T>
[[gnu::noinline]] double scalar_exp_sum(const T* xr, T* e, int64_t C, T* m_out) {
  T m = xr[0];
  for (int64_t c = 1; c < C; ++c) m = std::max(m, xr[c]);
  // Σ exp in double: a serial float sum lost 5.6e-5 relative over 100,000 near-zero logits
  double s = 0;
  for (int64_t c = 0; c < C; ++c) s += double(e[c] = std::exp(xr[c] - m));
  *m_out = m;
  return s;
}

// cross_entropy (fused), logits x: [N, C], targets t: [N]
//   logp = x - logsumexp(x)   P = softmax(x)
//   l_i = -Σ_c a_ic logp_ic,   a_ic = (1-ε) w[t_i] [c = t_i] + (ε/C) w_c   (a_i = 0 when t_i is ignored)
//   dx_i = g_i (S_i P_i - a_i),  S_i = Σ_c a_ic,  g = dl
//   mean: Σ l_i / Σ_{i not ignored} w[t_i]
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& o) {
  const char* op = "cross_entropy";
  check_float(logits, op, "input");
  TG_CHECK(logits.dim() == 2, op, ": expected logits [N, C], got shape ", logits.shape());
  TG_CHECK(o.label_smoothing >= 0 && o.label_smoothing <= 1, op, ": label_smoothing must be in [0, 1], got ",
           o.label_smoothing);
  const int64_t N = logits.size(0), C = logits.size(1);
  TG_CHECK(C > 0, op, ": logits have no classes");
  const Targets tv = read_targets(target, N, C, o.weight, o.ignore_index, op);
  const double eps = o.label_smoothing;
  const bool weighted = o.weight.defined();
  const bool vec = C >= kCrossEntropyVectorClasses;
  // class weights, dense for the scalar rows; empty (all 1) for unweighted SIMD
  // rows (a [32000] vector of ones, allocated and captured per call, was 5/6 of
  // the forward time at [16, 32000])
  std::vector<double> cw;
  if (weighted) cw = o.weight.to_vector<double>();
  else if (!vec) cw.assign(size_t(C), 1.0);

  const Tensor x = logits.contiguous();
  // P is only for the first-order backward: none when nothing will be recorded.
  const bool keep_p = is_grad_enabled() && logits.requires_grad();
  Tensor P = keep_p ? empty({N, C}, {.dtype = x.dtype()}) : Tensor();
  Tensor loss = empty({N}, {.dtype = x.dtype()});
  visit_float_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.raw_ptr<T>();
    T* pp = keep_p ? P.raw_ptr<T>() : nullptr;
    T* lp = loss.raw_ptr<T>();
    parallel_for(0, N, std::max<int64_t>(1, 4096 / C), [&](int64_t i0, int64_t i1) {
      T scratch[kCrossEntropyVectorClasses];  // the scalar rows' exps when P is not kept
      for (int64_t i = i0; i < i1; ++i) {
        const T* xr = xp + i * C;
        T* pr = pp ? pp + i * C : nullptr;
        T m;
        double s = 0;
        if (vec) {
          // SIMD: max, then the exps in T summed in double lanes (kernels/loss.h)
          m = kernels::max(xr, C);
          s = kernels::exp_sum_row(xr, m, pr, C);
        } else {
          s = scalar_exp_sum(xr, pr ? pr : scratch, C, &m);
        }
        // (m - x) + log s, as PyTorch's log_softmax: m + log s first lost
        // log 2 next to 1e8 (cross_entropy([1e8, 1e8], 0) was 0)
        const T inv = T(1.0 / s), ls = T(std::log(s));
        if (pr) {
          if (vec) kernels::scale(pr, inv, pr, C);
          else
            for (int64_t c = 0; c < C; ++c) pr[c] *= inv;
        }
        const double wi = tv.w[size_t(i)];
        // an ignored row is 0, whatever its logits (0 * (m - x + ls) was NaN for a -inf or NaN logit)
        double l = 0;
        if (!tv.ignored[size_t(i)]) {
          l = (1 - eps) * wi * double((m - xr[tv.safe[size_t(i)]]) + ls);
          if (eps > 0) {
            double sm = 0;
            if (vec) sm = kernels::smooth_sum_row(xr, m, ls, weighted ? cw.data() : nullptr, C);
            else
              for (int64_t c = 0; c < C; ++c) sm += cw[size_t(c)] * double((m - xr[c]) + ls);
            l += eps / double(C) * sm;
          }
        }
        lp[i] = T(l);
      }
    });
  });
  auto backward = [tv, cw, eps, C, N, P, weighted](BackwardCtx& c) {
    // a_i as a dense constant when the backward must be differentiable.
    if (c.create_graph) {
      std::vector<double> a(size_t(N * C), 0.0), S(size_t(N), 0.0);
      for (int64_t i = 0; i < N; ++i) {
        if (tv.ignored[size_t(i)]) continue;
        for (int64_t k = 0; k < C; ++k) a[size_t(i * C + k)] = eps / double(C) * (cw.empty() ? 1.0 : cw[size_t(k)]);
        a[size_t(i * C + tv.safe[size_t(i)])] += (1 - eps) * tv.w[size_t(i)];
        for (int64_t k = 0; k < C; ++k) S[size_t(i)] += a[size_t(i * C + k)];
      }
      const DType dt = c.dy.dtype();
      const Tensor A = tensor(a, {N, C}).to(dt), Sv = tensor(S, {N, 1}).to(dt);
      const Tensor Pg = softmax(c.in(0), 1);
      Tensor dx = c.dy.reshape({N, 1}) * (Sv * Pg - A);
      // ignored rows are 0, as on the first-order path (0 * P was NaN for a -inf or NaN logit)
      if (std::find(tv.ignored.begin(), tv.ignored.end(), char(1)) != tv.ignored.end()) {
        std::vector<double> keep(static_cast<size_t>(N));
        for (int64_t i = 0; i < N; ++i) keep[size_t(i)] = tv.ignored[size_t(i)] ? 0.0 : 1.0;
        dx = where(tensor(keep, {N, 1}), dx, zeros({}, {.dtype = dt}));
      }
      c.accumulate(0, dx);
      return;
    }
    const Tensor dy = c.dy.contiguous();
    Tensor dx = empty({N, C}, {.dtype = P.dtype()});
    visit_float_dtype(P.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* pp = P.raw_ptr<T>();
      const T* gp = dy.raw_ptr<T>();
      T* dp = dx.raw_ptr<T>();
      double cw_sum = cw.empty() ? double(C) : 0.0;
      for (double v : cw) cw_sum += v;
      parallel_for(0, N, std::max<int64_t>(1, 4096 / C), [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          T* dr = dp + i * C;
          const double wi = tv.w[size_t(i)];
          if (tv.ignored[size_t(i)]) {
            std::fill(dr, dr + C, T(0));
            continue;
          }
          const T* pr = pp + i * C;
          const double g = double(gp[i]);
          const double smooth = eps / double(C);
          const double S = (1 - eps) * wi + smooth * cw_sum;
          if (C >= kCrossEntropyVectorClasses)
            kernels::xent_backward_row(pr, weighted ? cw.data() : nullptr, dr, g, S, smooth, C);
          else
            for (int64_t k = 0; k < C; ++k) dr[k] = T(g * (S * double(pr[k]) - smooth * cw[size_t(k)]));
          dr[tv.safe[size_t(i)]] -= T(g * (1 - eps) * wi);
        }
      });
    });
    c.accumulate(0, dx);
  };
  Tensor l = record("cross_entropy", loss, {logits}, backward);
  return reduce_weighted(l, o.reduction, tv);
}

// nll_loss: l_i = -w[t_i] · logp[i, t_i] (0 when ignored); mean divides by Σ w[t_i]
// (ignored rows are selected away, not multiplied by 0: a -inf logp made 0 · inf = NaN)
Tensor nll_loss(const Tensor& logp, const Tensor& target, const NllLossOptions& o) {
  check_float(logp, "nll_loss", "input");
  TG_CHECK(logp.dim() == 2, "nll_loss: expected input [N, C], got shape ", logp.shape());
  const int64_t N = logp.size(0), C = logp.size(1);
  const Targets tv = read_targets(target, N, C, o.weight, o.ignore_index, "nll_loss");
  const Tensor idx = tensor(tv.safe, {N, 1});
  const Tensor picked = gather(logp, 1, idx).reshape({N});
  std::vector<double> kept(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) kept[size_t(i)] = tv.ignored[size_t(i)] ? 0.0 : 1.0;
  const Tensor zero = zeros({}, {.dtype = logp.dtype()});
  const Tensor l = where(vec_tensor(kept, logp.dtype()), neg(picked * vec_tensor(tv.w, logp.dtype())), zero);
  return reduce_weighted(l, o.reduction, tv);
}

namespace {
void check_pair(const Tensor& input, const Tensor& target, const char* op) {
  check_float(input, op, "input");
  check_float(target, op, "target");
  TG_CHECK(input.shape() == target.shape(), op, ": input shape ", input.shape(), " and target shape ",
           target.shape(), " differ");
  TG_CHECK(input.dtype() == target.dtype(), op, ": input dtype ", input.dtype(), " and target dtype ",
           target.dtype(), " differ; convert one with .to()");
}
}  // namespace

// mse: l = (x - t)²
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction r) {
  check_pair(input, target, "mse_loss");
  return reduce(square(input - target), r);
}
// l1: l = |x - t|
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction r) {
  check_pair(input, target, "l1_loss");
  return reduce(abs(input - target), r);
}
// smooth_l1 (fused: one pass forward, one backward), d = x - t:
//   l = 0.5 d² / β if |d| < β else |d| - 0.5 β      (β = 0: l = |d|)
//   dx = g · (d / β if |d| < β else sign(d))   dt = -dx     (sign(0) = 0)
//   g = dl (none), dL (sum), dL / n (mean)
// The loss and its sums have the bits of the composite
// where(|d| < β, square(d) · (0.5/β), |d| - 0.5β) and sum / mean of it.
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction r, double beta) {
  check_pair(input, target, "smooth_l1_loss");
  TG_CHECK(beta >= 0, "smooth_l1_loss: beta must be non-negative, got ", beta);
  const Tensor xc = input.contiguous(), tc = target.contiguous();
  const int64_t n = xc.numel();
  const DType dt = xc.dtype();
  Tensor l = r == Reduction::None ? empty(xc.shape(), {.dtype = dt}) : empty({}, {.dtype = dt});
  visit_float_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = xc.raw_ptr<T>();
    const T* tp = tc.raw_ptr<T>();
    if (r == Reduction::None) {
      T* lp = l.raw_ptr<T>();
      parallel_for(0, n, 32768, [&](int64_t i0, int64_t i1) {
        kernels::smooth_l1_forward(xp + i0, tp + i0, lp + i0, i1 - i0, beta);
      });
      return;
    }
    // Σ l in sum(l)'s order: fixed chunks summed in T, combined in chunk order
    const T total = chunked_sum<T>(n, [&](int64_t lo, int64_t hi) {
      return kernels::smooth_l1_forward(xp + lo, tp + lo, nullptr, hi - lo, beta);
    });
    l.raw_ptr<T>()[0] = r == Reduction::Sum ? total : total / T(double(n));
  });
  auto backward = [beta, r, n](BackwardCtx& c) {
    const Tensor x = c.in(0), t = c.in(1);
    if (c.create_graph) {
      // recorded: differentiable in dy, x and t (d/β inside; sign(d) has zero gradient)
      const Tensor d = x - t;
      // NaN where d is NaN, as the first-order kernel (sign(NaN) is 0)
      const Tensor dl = where(ne(d, d), d, beta == 0 ? sign(d) : where(lt(abs(d).detach(), beta), d / beta, sign(d)));
      const Tensor g = r == Reduction::Mean ? c.dy / double(n) : c.dy;
      const Tensor dx = g * dl;
      if (c.needs(0)) c.accumulate(0, dx);
      if (c.needs(1)) c.accumulate(1, neg(dx));
      return;
    }
    const Tensor xc = x.contiguous(), tc = t.contiguous();
    const Tensor dy = r == Reduction::None ? c.dy.contiguous() : c.dy;
    const DType dt = xc.dtype();
    Tensor dx = empty(xc.shape(), {.dtype = dt});
    Tensor dtg = c.needs(1) ? empty(xc.shape(), {.dtype = dt}) : Tensor();
    visit_float_dtype(dt, [&](auto tag) {
      using T = decltype(tag);
      const T* xp = xc.raw_ptr<T>();
      const T* tp = tc.raw_ptr<T>();
      const T* gp = r == Reduction::None ? dy.raw_ptr<T>() : nullptr;
      // mean: dy / n, as mean's backward (div by the scalar n)
      const T g0 = r == Reduction::None ? T(0) : r == Reduction::Sum ? dy.item<T>() : T(dy.item<T>() / T(double(n)));
      T* dxp = dx.raw_ptr<T>();
      T* dtp = dtg.defined() ? dtg.raw_ptr<T>() : nullptr;
      parallel_for(0, n, 32768, [&](int64_t i0, int64_t i1) {
        kernels::smooth_l1_backward(xp + i0, tp + i0, gp ? gp + i0 : nullptr, g0, dxp + i0, dtp ? dtp + i0 : nullptr,
                                    i1 - i0, beta);
      });
    });
    if (c.needs(0)) c.accumulate(0, dx);
    if (c.needs(1)) c.accumulate(1, dtg);
  };
  return record("smooth_l1_loss", l, {input, target}, backward);
}
// huber: l = 0.5 d² if |d| < δ else δ (|d| - 0.5 δ)
Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction r, double delta) {
  check_pair(input, target, "huber_loss");
  TG_CHECK(delta > 0, "huber_loss: delta must be positive, got ", delta);
  const Tensor d = input - target, ad = abs(d);
  return reduce(where(lt(ad.detach(), delta), square(d) * 0.5, (ad - 0.5 * delta) * delta), r);
}

namespace {
// A loss's weight / pos_weight must broadcast to the input's shape without
// enlarging it (PyTorch writes the loss into the input's shape): a [3, 1]
// weight on a [2] input made a [3, 2] loss, its sum 3x too large.
void check_broadcasts_to(const Tensor& w, const Shape& shape, const char* op, const char* what) {
  TG_CHECK(broadcasts_to(w.shape(), shape), op, ": ", what, " of shape ", w.shape(), " does not broadcast to the input's shape ", shape);
}
// softplus(-x) = log(1 + exp(-x)), stable: m = max(-x, 0), log(exp(-m) + exp(-x - m)) + m (PyTorch's formula)
Tensor softplus_neg(const Tensor& x) {
  const Tensor m = clamp_min(neg(x), 0.0);
  return log(exp(neg(m)) + exp(neg(x) - m)) + m;
}
}  // namespace

// bce_with_logits (stable): lw = 1 + (pw - 1) t      (pw = 1 without pos_weight)
//   l = (1 - t) x + lw softplus(-x),  times weight if given
//   dx = dl · (lw σ(x) - pw t)
//   dt = dl · (-x + (pw - 1) softplus(-x))     (PyTorch's log(1 - σ(x)) - pw log σ(x))
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const BCEWithLogitsOptions& o) {
  const char* op = "binary_cross_entropy_with_logits";
  check_pair(input, target, op);
  Tensor pw;  // pos_weight as a constant of the input's dtype, or undefined
  if (o.pos_weight.defined()) {
    TG_CHECK(o.pos_weight.is_floating_point(), op, ": pos_weight must be float");
    check_broadcasts_to(o.pos_weight, input.shape(), op, "pos_weight");
    pw = o.pos_weight.detach().to(input.dtype());
  }
  if (o.weight.defined()) check_broadcasts_to(o.weight, input.shape(), op, "weight");
  Tensor l;
  {
    NoGradGuard ng;
    const Tensor x = input.detach(), t = target.detach();
    const Tensor sp = softplus_neg(x);
    l = (rsub(t, 1.0) * x) + (pw.defined() ? ((pw - 1.0) * t + 1.0) * sp : sp);
  }
  l = record(op, l, {input, target}, [pw](BackwardCtx& c) {
    const Tensor x = c.in(0), t = c.in(1);
    if (c.needs(0)) {
      const Tensor s = sigmoid(x);
      c.accumulate(0, c.dy * (pw.defined() ? ((pw - 1.0) * t + 1.0) * s - pw * t : s - t));
    }
    if (c.needs(1)) c.accumulate(1, c.dy * (pw.defined() ? (pw - 1.0) * softplus_neg(x) - x : neg(x)));
  });
  if (o.weight.defined()) l = l * o.weight.detach().to(l.dtype());
  return reduce(l, o.reduction);
}

// bce: l = -w (t · max(log p, -100) + (1 - t) · max(log(1 - p), -100))
//   dp = dl · w (p - t) / max(p (1 - p), 1e-12)      (PyTorch's; the gradient of
//   the clamped logs was 0 · 1/0 = NaN at p = 0 or 1, even for a right answer)
//   dt = dl · w (log(1 - p) - log p)                   (PyTorch's, unclamped)
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const BCEOptions& o) {
  const char* op = "binary_cross_entropy";
  check_pair(input, target, op);
  if (o.weight.defined()) check_broadcasts_to(o.weight, input.shape(), op, "weight");
  {
    const std::vector<double> v = input.to_vector<double>();
    for (size_t i = 0; i < v.size(); ++i)
      TG_CHECK(v[i] >= 0 && v[i] <= 1, op, ": input must be probabilities in [0, 1]; element ", i, " is ", v[i]);
  }
  Tensor l;
  {
    NoGradGuard ng;
    const Tensor p = input.detach(), t = target.detach();
    l = neg(t * clamp_min(log(p), -100.0) + rsub(t, 1.0) * clamp_min(log(rsub(p, 1.0)), -100.0));
  }
  l = record(op, l, {input, target}, [](BackwardCtx& c) {
    const Tensor p = c.in(0), t = c.in(1);
    if (c.needs(0)) c.accumulate(0, c.dy * (p - t) / clamp_min(p * rsub(p, 1.0), 1e-12));
    if (c.needs(1)) c.accumulate(1, c.dy * (log(rsub(p, 1.0)) - log(p)));
  });
  // a float64 weight on a float32 input is converted (as PyTorch and bce_with_logits)
  if (o.weight.defined()) l = l * o.weight.to(l.dtype());
  return reduce(l, o.reduction);
}

}  // namespace functional
}  // namespace tg::nn
