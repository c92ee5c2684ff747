// Differentiable views, matmul/linear, concatenation and indexing.
// A view's backward maps dy back to the input's shape: reshape ↔ reshape,
// transpose ↔ transpose, expand ↔ sum_to, slice ↔ slice_scatter (zeros with
// dy written into the slice), gather ↔ scatter_add, index_select ↔ index_add.
#include <numeric>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/raw.h"

namespace tg {

using autograd::BackwardCtx;
using autograd::kSaveInputs;
using autograd::kSaveNone;
using autograd::kSaveOutput;
using autograd::record;
using raw::UnaryOp;

// ---------------------------------------------------------------- views
// y = x.reshape(s)   dx = dy.reshape(x.shape)
Tensor reshape(const Tensor& x, const Shape& shape) {
  return record("reshape", raw::reshape(x, shape), {x}, [](BackwardCtx& c) {
    c.accumulate(0, reshape(c.dy, c.in_shape(0)));
  }, kSaveNone);
}
Tensor Tensor::reshape(const Shape& s) const { return tg::reshape(*this, s); }
Tensor Tensor::view(const Shape& s) const {
  return record("view", raw::view(*this, s), {*this}, [](BackwardCtx& c) {
    c.accumulate(0, tg::reshape(c.dy, c.in_shape(0)));
  }, kSaveNone);
}
Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) {  // the dims still have to exist (0 or -1), as PyTorch
    wrap_dim(start_dim, 0, "flatten");
    wrap_dim(end_dim, 0, "flatten");
    return reshape({1});
  }
  const int s = wrap_dim(start_dim, dim(), "flatten"), e = wrap_dim(end_dim, dim(), "flatten");
  TG_CHECK(s <= e, "flatten: start_dim ", start_dim, " comes after end_dim ", end_dim);
  Shape out;
  for (int d = 0; d < s; ++d) out.push_back(shape()[d]);
  int64_t p = 1;
  for (int d = s; d <= e; ++d) p *= shape()[d];
  out.push_back(p);
  for (int d = e + 1; d < dim(); ++d) out.push_back(shape()[d]);
  return reshape(out);
}
Tensor Tensor::squeeze(int64_t d) const {
  return tg::reshape(*this, raw::squeeze(*this, d).shape());
}
Tensor Tensor::squeeze() const {
  Shape s;
  for (int d = 0; d < dim(); ++d)
    if (shape()[d] != 1) s.push_back(shape()[d]);
  return tg::reshape(*this, s);
}
Tensor Tensor::unsqueeze(int64_t d) const {
  return tg::reshape(*this, raw::unsqueeze(*this, d).shape());
}

// y = xᵀ(d0, d1)   dx = dyᵀ(d0, d1)
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  return record("transpose", raw::transpose(x, d0, d1), {x}, [d0, d1](BackwardCtx& c) {
    c.accumulate(0, transpose(c.dy, d0, d1));
  }, kSaveNone);
}
Tensor Tensor::transpose(int64_t d0, int64_t d1) const { return tg::transpose(*this, d0, d1); }
Tensor Tensor::t() const {
  TG_CHECK(dim() <= 2, "t: expected a tensor with at most 2 dims, got shape ", shape());
  return dim() < 2 ? *this : tg::transpose(*this, 0, 1);
}

// y = x.permute(p)   dx = dy.permute(p⁻¹)
Tensor permute(const Tensor& x, const Shape& dims) {
  Tensor y = raw::permute(x, dims);
  Shape inv;
  inv.resize(dims.size());
  for (int i = 0; i < dims.size(); ++i) inv[wrap_dim(dims[i], x.dim(), "permute")] = i;
  return record("permute", y, {x}, [inv](BackwardCtx& c) { c.accumulate(0, permute(c.dy, inv)); }, kSaveNone);
}
Tensor Tensor::permute(const Shape& dims) const { return tg::permute(*this, dims); }

// y = x.expand(s)   dx = sum_to(dy, x.shape)
Tensor expand(const Tensor& x, const Shape& shape) {
  return record("expand", raw::expand(x, shape), {x}, [](BackwardCtx& c) {
    c.accumulate(0, sum_to(c.dy, c.in_shape(0)));
  }, kSaveNone);
}
Tensor Tensor::expand(const Shape& s) const { return tg::expand(*this, s); }

// zeros of `shape` with src written into slice(dim, start, end, step): the backward of slice.
static Tensor slice_scatter(const Tensor& src, const Shape& shape, int dim, int64_t start, int64_t end, int64_t step) {
  Tensor out = zeros(shape, {.dtype = src.dtype()});
  raw::copy_(raw::slice(out, dim, start, end, step), src);
  return record("slice_scatter", out, {src}, [dim, start, end, step](BackwardCtx& c) {
    c.accumulate(0, c.dy.slice(dim, start, end, step));
  }, kSaveNone);
}

// y = x[start:end:step] along dim   dx = slice_scatter(dy)
Tensor Tensor::slice(int64_t dim_in, int64_t start, int64_t end, int64_t step) const {
  const int d = wrap_dim(dim_in, dim(), "slice");
  Tensor y = raw::slice(*this, d, start, end, step);
  // Normalized bounds for the backward, as raw::slice computes them (not from
  // the change of offset: a stride-0, expanded dim has none whatever the start).
  const int64_t n = shape()[d];
  const int64_t s0 = std::min(std::max<int64_t>(start < 0 ? start + n : start, 0), n);
  const int64_t len = y.shape()[d];
  const int64_t s1 = len > 0 ? s0 + (len - 1) * step + 1 : s0;  // len * step overflowed for a huge step
  return record("slice", y, {*this}, [d, s0, s1, step](BackwardCtx& c) {
    c.accumulate(0, slice_scatter(c.dy, c.in_shape(0), d, s0, std::min(s1, c.in_shape(0)[d]), step));
  }, kSaveNone);
}
// A negative start counts from the end, as PyTorch.
Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  TG_CHECK(dim() > 0, "narrow: cannot narrow a 0-d tensor");
  const int dd = wrap_dim(d, dim(), "narrow");
  const int64_t n = shape()[dd];
  TG_CHECK(start >= -n && start <= n, "narrow: start ", start, " is out of range for dim ", dd, " of size ", n);
  if (start < 0) start += n;
  TG_CHECK(length >= 0 && length <= n - start, "narrow: start (", start, ") + length (", length,
           ") exceeds dim ", dd, " of size ", n);  // start + length could overflow
  return slice(dd, start, start + length, 1);
}
// y = x[index] along dim   dx = slice_scatter(unsqueeze(dy))
Tensor Tensor::select(int64_t dim_in, int64_t index) const {
  TG_CHECK(dim() > 0, "select: cannot index a 0-d tensor");
  const int d = wrap_dim(dim_in, dim(), "select");
  Tensor y = raw::select(*this, d, index);
  const int64_t i = index < 0 ? index + shape()[d] : index;
  return record("select", y, {*this}, [d, i](BackwardCtx& c) {
    c.accumulate(0, slice_scatter(c.dy.unsqueeze(d), c.in_shape(0), d, i, i + 1, 1));
  }, kSaveNone);
}

// y = contiguous copy of x (or x itself)   dx = dy
Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return record("contiguous", raw::contiguous(*this), {*this}, [](BackwardCtx& c) { c.accumulate(0, c.dy); }, kSaveNone);
}
Tensor Tensor::clone() const {
  return record("clone", raw::clone(*this), {*this}, [](BackwardCtx& c) { c.accumulate(0, c.dy); }, kSaveNone);
}
// y = x converted to dtype   dx = dy converted back
Tensor Tensor::to(DType t) const {
  if (t == dtype()) return *this;
  return record("to", raw::to(*this, t), {*this}, [](BackwardCtx& c) {
    c.accumulate(0, c.dy.to(c.in_dtype(0)));
  }, kSaveNone);
}

// ---------------------------------------------------------------- linear algebra
// y = a · b    da = sum_to(dy · bᵀ, a)   db = sum_to(aᵀ · dy, b)   (1-D operands as rows/columns)
Tensor matmul(const Tensor& a, const Tensor& b) {
  return record("matmul", raw::matmul(a, b), {a, b}, [](BackwardCtx& c) {
    Tensor A = c.in(0), B = c.in(1), dy = c.dy;
    const bool a1 = A.dim() == 1, b1 = B.dim() == 1;
    if (a1) A = A.unsqueeze(0);
    if (b1) B = B.unsqueeze(1);
    if (a1 && b1) dy = dy.reshape({1, 1});
    else if (a1) dy = dy.unsqueeze(-2);
    else if (b1) dy = dy.unsqueeze(-1);
    if (c.needs(0)) {
      Tensor da = sum_to(matmul(dy, transpose(B, -1, -2)), A.shape());
      c.accumulate(0, a1 ? da.reshape(c.in_shape(0)) : da);
    }
    if (c.needs(1)) {
      Tensor db = sum_to(matmul(transpose(A, -1, -2), dy), B.shape());
      c.accumulate(1, b1 ? db.reshape(c.in_shape(1)) : db);
    }
  });
}
Tensor Tensor::matmul(const Tensor& o) const { return tg::matmul(*this, o); }

namespace {
// The input gradients of y = x · wᵀ + b given dy (x2, dy2: leading dims flattened):
// dx = dy · w    dw = dy2ᵀ · x2    db = Σ_rows dy
// (db: Σ_rows dy already formed by the caller, or undefined)
void linear_backward(BackwardCtx& c, const Tensor& dy, const Tensor& db = Tensor()) {
  const int64_t In = c.in_shape(1)[1], Out = c.in_shape(1)[0];
  // the rows counted, not inferred: reshape(dy, {-1, 0}) cannot infer them
  int64_t rows = 1;
  for (int d = 0; d + 1 < c.in_shape(0).size(); ++d) rows *= c.in_shape(0)[d];
  const Tensor dy2 = reshape(dy, {rows, Out});
  if (c.needs(0)) c.accumulate(0, reshape(matmul(dy2, c.in(1)), c.in_shape(0)));
  if (c.needs(1)) c.accumulate(1, matmul(transpose(dy2, 0, 1), reshape(c.in(0), {rows, In})));
  if (c.needs(2)) c.accumulate(2, db.defined() ? db : sum(dy2, {0}, false));
}
}  // namespace

// x: [..., In]  w: [Out, In]  b: [Out]  ->  y: [..., Out]
// y = x · wᵀ + b    dx, dw, db: linear_backward(dy)
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  return record("linear", raw::linear(x, w, b), {x, w, b}, [](BackwardCtx& c) { linear_backward(c, c.dy); });
}

// y = relu(x · wᵀ + b)   (the GEMM adds the bias and takes the ReLU in its epilogue)
// dz = dy ⊙ [y > 0]  (relu's backward: the step is a constant of the graph)
// dx, dw, db: linear_backward(dz)
Tensor linear_relu(const Tensor& x, const Tensor& w, const Tensor& b) {
  return record("linear_relu", raw::linear(x, w, b, /*relu=*/true), {x, w, b}, [](BackwardCtx& c) {
    if (!is_grad_enabled()) {
      // First order: dz and db = Σ_rows dz in one pass, the threads cutting
      // dz by columns as the forward GEMM cut y and the dw GEMM cuts dz, so
      // each half stays on one core (same bits as below).
      Tensor db;
      const Tensor dz = raw::relu_backward(c.dy, c.out(), &db);
      return linear_backward(c, dz, db);
    }
    linear_backward(c, relu_grad(c.dy, c.out()));
  }, kSaveInputs | kSaveOutput);
}

// ---------------------------------------------------------------- concatenation
// y = cat(xs, dim)   dx_i = dy.narrow(dim, offset_i, size_i)
Tensor cat(const std::vector<Tensor>& xs, int64_t dim_in) {
  TG_CHECK(!xs.empty(), "cat: expected a non-empty list of tensors");
  for (size_t i = 0; i < xs.size(); ++i) {
    TG_CHECK(xs[i].defined(), "cat: tensor ", i, " is undefined");
    TG_CHECK(xs[i].dim() > 0, "cat: tensor ", i, " is 0-d and cannot be concatenated (unsqueeze it, or use stack)");
  }
  const int dim = wrap_dim(dim_in, xs[0].dim(), "cat");
  Tensor y = raw::cat(xs, dim);
  // One node with N inputs.
  if (!is_grad_enabled()) return y;
  bool any = false;
  for (const Tensor& x : xs) any = any || x.requires_grad();
  if (!any) return y;
  std::vector<int64_t> sizes;
  for (const Tensor& x : xs) sizes.push_back(x.shape()[dim]);
  Tensor out = y;
  auto fn = [sizes, dim](BackwardCtx& c) {
    int64_t at = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (c.needs(int(i))) c.accumulate(int(i), c.dy.narrow(dim, at, sizes[i]));
      at += sizes[i];
    }
  };
  return autograd::record_node("cat", out, xs.data(), xs.size(), fn, kSaveNone, nullptr, 0);
}

Tensor stack(const std::vector<Tensor>& xs, int64_t dim) {
  TG_CHECK(!xs.empty(), "stack: expected a non-empty list of tensors");
  const int d = wrap_dim(dim, xs[0].dim() + 1, "stack");
  std::vector<Tensor> u;
  for (size_t i = 0; i < xs.size(); ++i) {
    TG_CHECK(xs[i].shape() == xs[0].shape(), "stack: tensor ", i, " has shape ", xs[i].shape(), ", tensor 0 has ",
             xs[0].shape());
    u.push_back(xs[i].unsqueeze(d));
  }
  return cat(u, d);
}

// ---------------------------------------------------------------- indexing
// y = x.index_select(dim, idx)   dx = index_add(zeros, dim, idx, dy)
Tensor index_select(const Tensor& x, int64_t dim_in, const Tensor& index) {
  const int dim = wrap_dim(dim_in, x.dim(), "index_select");
  return record("index_select", raw::index_select(x, dim, index), {x}, [dim](BackwardCtx& c) {
    c.accumulate(0, index_add(zeros(c.in_shape(0), {.dtype = c.dy.dtype()}), dim, c.extra(0), c.dy));
  }, kSaveNone, {index});
}
// y = x.gather(dim, idx)   dx = scatter_add(zeros, dim, idx, dy)
Tensor gather(const Tensor& x, int64_t dim_in, const Tensor& index) {
  const int dim = wrap_dim(dim_in, x.dim(), "gather");
  return record("gather", raw::gather(x, dim, index), {x}, [dim](BackwardCtx& c) {
    c.accumulate(0, scatter_add(zeros(c.in_shape(0), {.dtype = c.dy.dtype()}), dim, c.extra(0), c.dy));
  }, kSaveNone, {index});
}
// y = x + scatter(src)   dx = dy   dsrc = gather(dy, dim, idx)
Tensor scatter_add(const Tensor& x, int64_t dim_in, const Tensor& index, const Tensor& src) {
  const int dim = wrap_dim(dim_in, x.dim(), "scatter_add");
  return record("scatter_add", raw::scatter_add(x, dim, index, src), {x, src}, [dim](BackwardCtx& c) {
    if (c.needs(0)) c.accumulate(0, c.dy);
    if (c.needs(1)) c.accumulate(1, gather(c.dy, dim, c.extra(0)));
  }, kSaveNone, {index});
}
// y = x + index-added src   dx = dy   dsrc = index_select(dy, dim, idx)
Tensor index_add(const Tensor& x, int64_t dim_in, const Tensor& index, const Tensor& src) {
  const int dim = wrap_dim(dim_in, x.dim(), "index_add");
  return record("index_add", raw::index_add(x, dim, index, src), {x, src}, [dim](BackwardCtx& c) {
    if (c.needs(0)) c.accumulate(0, c.dy);
    if (c.needs(1)) c.accumulate(1, index_select(c.dy, dim, c.extra(0)));
  }, kSaveNone, {index});
}
Tensor one_hot(const Tensor& index, int64_t num_classes) { return raw::one_hot(index, num_classes); }

}  // namespace tg
