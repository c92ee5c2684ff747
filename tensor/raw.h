// tg::raw: the no-grad forward computations behind every tensor op.
//
// These functions validate their arguments (throwing tg::Error with the op's
// name and the shapes/dtypes involved), allocate the result, and run the SIMD
// kernels over it with parallel_for above a work threshold. They never record
// anything on the autograd tape: the differentiable ops in autograd/ call them
// and add the backward. Views here only compute new shape/stride metadata.
#pragma once
#include <vector>

#include "tensor/kernels/elementwise.h"
#include "tensor/tensor.h"

namespace tg::raw {

using kernels::BinaryOp;
using kernels::UnaryOp;

// ---- views ----
Tensor as_strided(const Tensor& x, const Shape& shape, const Shape& strides, int64_t offset);
Tensor view(const Tensor& x, const Shape& shape);     // throws when not viewable
// src lies in dst's storage with another layout (x.add_(x.t()), x.copy_(x.t()),
// overlapping slices): an in-place op must read it from a copy.
inline bool overlaps_differently(const Tensor& dst, const Tensor& src) {
  return src.impl()->storage == dst.impl()->storage && !(src.strides() == dst.strides() && src.offset() == dst.offset());
}
Tensor reshape(const Tensor& x, const Shape& shape);  // view when possible, else copy
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
Tensor permute(const Tensor& x, const Shape& dims);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step);
Tensor select(const Tensor& x, int64_t dim, int64_t index);
Tensor expand(const Tensor& x, const Shape& shape);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Shape infer_shape(const Shape& shape, int64_t numel, const char* op);  // resolves one -1

// ---- copies ----
Tensor contiguous(const Tensor& x);
Tensor clone(const Tensor& x);
Tensor to(const Tensor& x, DType dtype);
void copy_(const Tensor& dst, const Tensor& src);  // src broadcast to dst, dtype converted
void fill_(const Tensor& dst, double value);

// ---- elementwise ----
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b, const char* name);
Tensor binary(BinaryOp op, const Tensor& a, double s, bool scalar_first, const char* name);
void binary_(BinaryOp op, const Tensor& dst, const Tensor& src, const char* name);  // dst = dst op src
void binary_(BinaryOp op, const Tensor& dst, double s, const char* name);
Tensor unary(UnaryOp op, const Tensor& x, const char* name, double p0 = 0, double p1 = 0);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// ReLU's backward in one pass, dx = dy ⊙ [y > 0]: the bits of
// binary(Mul, dy, unary(Step, y)). With colsum, *colsum also receives dx
// summed over every dim but the last (a bias gradient: the bits of
// sum(dx.reshape({R, C}), {0}), as linear's backward sums it); up to 256 rows
// in the same pass, the threads taking blocks of columns, each with every row,
// as the GEMMs of a Linear layer cut them; more rows are summed afterwards.
Tensor relu_backward(const Tensor& dy, const Tensor& y, Tensor* colsum = nullptr);

// ---- reductions (dims normalized: sorted, unique, in range) ----
std::vector<int> normalize_dims(const std::vector<int64_t>& dims, int rank, const char* op);
Shape reduced_shape(const Shape& s, const std::vector<int>& dims, bool keepdim);
Tensor sum(const Tensor& x, const std::vector<int>& dims, bool keepdim);
Tensor amax(const Tensor& x, const std::vector<int>& dims, bool keepdim);
Tensor amin(const Tensor& x, const std::vector<int>& dims, bool keepdim);
// values and int64 indices of the max (or min) along one dim; first index on ties.
std::pair<Tensor, Tensor> max_dim(const Tensor& x, int dim, bool keepdim, bool is_max);
Tensor softmax(const Tensor& x, int dim, bool log);
// Its backward in one pass down the columns of [O, R, I] (for dims before the
// last; the autograd op uses it when no graph is being recorded):
// softmax dx = y * (dy - Σ_dim dy·y), log_softmax dx = dy - exp(y) * Σ_dim dy.
Tensor softmax_backward(const Tensor& dy, const Tensor& y, int dim, bool log);

// ---- linear algebra ----
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b, bool relu = false);

// ---- shape and indexing ----
Tensor cat(const std::vector<Tensor>& xs, int dim);
Tensor index_select(const Tensor& x, int dim, const Tensor& index);
Tensor gather(const Tensor& x, int dim, const Tensor& index);
Tensor scatter_add(const Tensor& x, int dim, const Tensor& index, const Tensor& src);
Tensor index_add(const Tensor& x, int dim, const Tensor& index, const Tensor& src);
Tensor one_hot(const Tensor& index, int64_t num_classes);

// True when any element is NaN or +-Inf (float tensors).
bool has_non_finite(const Tensor& x);

}  // namespace tg::raw
