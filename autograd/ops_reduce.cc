// Differentiable reductions, softmax/log_softmax and sum_to (the backward of
// every broadcast). Composite ops (mean, var, logsumexp) are written with the
// primitives, so their gradients come for free.
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

namespace {
// Shape of a reduction's result with keepdim = true (for broadcasting dy back).
Shape keep_shape(const Shape& s, const std::vector<int>& dims) { return raw::reduced_shape(s, dims, true); }
}  // namespace

// y = Σ_dims x      dx = expand(dy, x.shape)
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  const std::vector<int> dims = raw::normalize_dims(dims_in, x.dim(), "sum");
  return record("sum", raw::sum(x, dims, keepdim), {x}, [dims](BackwardCtx& c) {
    const Shape& xs = c.in_shape(0);
    c.accumulate(0, expand(reshape(c.dy, keep_shape(xs, dims)), xs));
  }, kSaveNone);
}
Tensor sum(const Tensor& x) { return sum(x, {}, false); }

// y = Σ_dims x / n
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  const std::vector<int> dims = raw::normalize_dims(dims_in, x.dim(), "mean");
  TG_CHECK(x.is_floating_point(), "mean: expected a floating-point tensor, got ", x.dtype());
  int64_t n = 1;
  for (int d : dims) n *= x.shape()[d];
  return div(sum(x, dims_in, keepdim), double(n));
}
Tensor mean(const Tensor& x) { return mean(x, {}, false); }

// y = Σ (x - mean)² / (n - correction)
Tensor var(const Tensor& x, const std::vector<int64_t>& dims_in, int64_t correction, bool keepdim) {
  const std::vector<int> dims = raw::normalize_dims(dims_in, x.dim(), "var");
  TG_CHECK(x.is_floating_point(), "var: expected a floating-point tensor, got ", x.dtype());
  int64_t n = 1;
  for (int d : dims) n *= x.shape()[d];
  const Tensor d = sub(x, mean(x, dims_in, true));
  return div(sum(mul(d, d), dims_in, keepdim), double(std::max<int64_t>(n - correction, 0)));
}

// y = max_dims x    dx = dy at the maxima, split evenly among ties (as PyTorch's amax)
// max(x) / min(x) over all elements: a NaN result sends dy to the NaN positions,
// split evenly (as PyTorch's max; its amax gives NaN everywhere, as here).
static Tensor extreme(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim, bool is_max,
                      bool nan_to_nans = false) {
  const char* name = nan_to_nans ? (is_max ? "max" : "min") : is_max ? "amax" : "amin";
  TG_CHECK(x.defined(), name, ": undefined tensor");
  TG_CHECK(!nan_to_nans || x.numel() > 0, name, ": cannot reduce an empty tensor (shape ", x.shape(),
           ") over all elements; reduce over a dim with amax / amin instead");
  const std::vector<int> dims = raw::normalize_dims(dims_in, x.dim(), name);
  Tensor y = is_max ? raw::amax(x, dims, keepdim) : raw::amin(x, dims, keepdim);
  return record(name, y, {x}, [dims, nan_to_nans](BackwardCtx& c) {
    const Shape& xs = c.in_shape(0);
    const Tensor yk = expand(reshape(c.out().detach(), keep_shape(xs, dims)), xs);
    const Tensor xd = c.in(0).detach();
    Tensor mask = eq(xd, yk);
    if (nan_to_nans) mask = add(mask, mul(ne(xd, xd), ne(yk, yk)));  // x != x: NaN
    const Tensor count = raw::sum(mask, dims, true);
    c.accumulate(0, mul(expand(reshape(c.dy, keep_shape(xs, dims)), xs), div(mask, count)));
  }, kSaveInputs | kSaveOutput);
}
Tensor amax(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) { return extreme(x, dims, keepdim, true); }
Tensor amin(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) { return extreme(x, dims, keepdim, false); }
Tensor max(const Tensor& x) { return extreme(x, {}, false, true, true); }
Tensor min(const Tensor& x) { return extreme(x, {}, false, false, true); }

// values = max along dim; dx = dy scattered to the argmax positions
static ValuesIndices extreme_dim(const Tensor& x, int64_t dim_in, bool keepdim, bool is_max) {
  const char* name = is_max ? "max" : "min";
  const int dim = wrap_dim(dim_in, x.dim(), name);
  auto [values, indices] = raw::max_dim(x, dim, keepdim, is_max);
  values = record(name, values, {x}, [dim, keepdim](BackwardCtx& c) {
    const Tensor idx = c.extra(0);
    const Shape& xs = c.in_shape(0);
    if (xs.size() == 0) return c.accumulate(0, c.dy);
    const Tensor ik = keepdim ? idx : raw::unsqueeze(idx, dim);
    const Tensor dk = keepdim ? c.dy : c.dy.unsqueeze(dim);
    c.accumulate(0, scatter_add(zeros(xs, {.dtype = c.dy.dtype()}), dim, ik, dk));
  }, kSaveNone, {indices});
  return {values, indices};
}
ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim) { return extreme_dim(x, dim, keepdim, true); }
ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim) { return extreme_dim(x, dim, keepdim, false); }
// (The empty-dim check names argmax/argmin; raw::max_dim would report "max".)
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  const int64_t d = wrap_dim(dim, x.dim(), "argmax");
  TG_CHECK(x.dim() == 0 || x.size(d) > 0, "argmax: dim ", d, " has size 0 (shape ", x.shape(), "); no maximum to pick");
  return raw::max_dim(x, d, keepdim, true).second;
}
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) {
  const int64_t d = wrap_dim(dim, x.dim(), "argmin");
  TG_CHECK(x.dim() == 0 || x.size(d) > 0, "argmin: dim ", d, " has size 0 (shape ", x.shape(), "); no minimum to pick");
  return raw::max_dim(x, d, keepdim, false).second;
}

// y = m + log Σ exp(x - m), m = max (a constant: it cancels in the gradient)
Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  TG_CHECK(x.defined(), "logsumexp: undefined tensor");
  TG_CHECK(x.is_floating_point(), "logsumexp: expected a floating-point tensor, got ", x.dtype());
  const std::vector<int> dims = raw::normalize_dims(dims_in, x.dim(), "logsumexp");
  // An empty reduction is log 0 = -inf (amax has no maximum to give).
  for (int d : dims)
    if (x.size(d) == 0) return add(sum(x, dims_in, keepdim), -INFINITY);
  Tensor m = raw::amax(x, dims, true);
  // Infinite maxima would make x - m NaN; shift by 0 there (as PyTorch does):
  // log Σ exp(x) is then -inf (all -inf) or inf. (m * [|m| < inf] was inf * 0 = NaN.)
  const Tensor finite = raw::binary(raw::BinaryOp::Lt, raw::unary(raw::UnaryOp::Abs, m, "logsumexp"), INFINITY, false, "logsumexp");
  m = raw::where(finite, m, zeros({}, {.dtype = x.dtype()}));
  Tensor y = add(log(sum(exp(sub(x, m)), dims_in, true)), m);
  return keepdim ? y : reshape(y, raw::reduced_shape(x.shape(), dims, false));
}

// Whether softmax's backward over dim runs as one raw pass down the columns
// (raw::softmax_backward): dim before the last with I = Π sizes after it > 1,
// and no graph being recorded (create_graph needs the differentiable ops).
// The last-dim backward keeps the recorded ops below.
namespace {
bool direct_softmax_backward(const Shape& s, int dim) {
  if (is_grad_enabled()) return false;
  int64_t I = 1;
  for (int d = dim + 1; d < s.size(); ++d) I *= s[d];
  return I > 1;
}
}  // namespace

// y = softmax(x)    dx = y * (dy - Σ dy·y)
Tensor softmax(const Tensor& x, int64_t dim_in) {
  const int dim = wrap_dim(dim_in, x.dim(), "softmax");
  return record("softmax", raw::softmax(x, dim, false), {x}, [dim](BackwardCtx& c) {
    const Tensor y = c.out();
    if (direct_softmax_backward(y.shape(), dim)) return c.accumulate(0, raw::softmax_backward(c.dy, y, dim, false));
    c.accumulate(0, mul(y, sub(c.dy, sum(mul(c.dy, y), {dim}, true))));
  }, kSaveOutput);
}

// y = x - logsumexp(x)    dx = dy - exp(y) * Σ dy
Tensor log_softmax(const Tensor& x, int64_t dim_in) {
  const int dim = wrap_dim(dim_in, x.dim(), "log_softmax");
  return record("log_softmax", raw::softmax(x, dim, true), {x}, [dim](BackwardCtx& c) {
    const Tensor y = c.out();
    if (direct_softmax_backward(y.shape(), dim)) return c.accumulate(0, raw::softmax_backward(c.dy, y, dim, true));
    c.accumulate(0, sub(c.dy, mul(exp(y), sum(c.dy, {dim}, true))));
  }, kSaveOutput);
}

// Sums x down to `shape` (inverse of broadcasting). Composite: sum + reshape.
Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  const int lead = x.dim() - shape.size();
  TG_CHECK(lead >= 0, "sum_to: cannot sum shape ", x.shape(), " to the larger rank shape ", shape);
  std::vector<int64_t> dims;
  for (int d = 0; d < x.dim(); ++d) {
    if (d < lead) dims.push_back(d);
    else if (shape[d - lead] == 1 && x.shape()[d] != 1) dims.push_back(d);
    else TG_CHECK(shape[d - lead] == x.shape()[d], "sum_to: shape ", x.shape(), " does not broadcast from ", shape);
  }
  if (dims.empty()) return reshape(x, shape);
  return reshape(sum(x, dims, true), shape);
}

}  // namespace tg
