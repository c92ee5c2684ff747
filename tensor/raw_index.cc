// cat, index_select, gather, scatter_add, index_add and one_hot, with bounds
// checks that name the op, the bad index and the valid range.
#include <cstring>

#include "tensor/raw.h"

namespace tg::raw {
namespace {

void check_index_tensor(const Tensor& index, const char* op) {
  TG_CHECK(index.defined(), op, ": undefined index tensor");
  TG_CHECK(index.dtype() == kInt64, op, ": index must be int64, got ", index.dtype());
}

void check_in_range(int64_t i, int64_t n, const char* op, int dim) {
  TG_CHECK(i >= 0 && i < n, op, ": index ", i, " is out of range for dim ", dim, " of size ", n);
}

}  // namespace

Tensor cat(const std::vector<Tensor>& xs, int dim) {
  TG_CHECK(!xs.empty(), "cat: expected a non-empty list of tensors");
  const Tensor& f = xs[0];
  Shape s = f.shape();
  int64_t total = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    TG_CHECK(x.dtype() == f.dtype(), "cat: tensor ", i, " has dtype ", x.dtype(), ", tensor 0 has ", f.dtype());
    TG_CHECK(x.dim() == f.dim(), "cat: tensor ", i, " has shape ", x.shape(), ", tensor 0 has ", f.shape());
    for (int d = 0; d < f.dim(); ++d)
      TG_CHECK(d == dim || x.shape()[d] == f.shape()[d], "cat: tensor ", i, " has shape ", x.shape(),
               " which differs from ", f.shape(), " outside dim ", dim);
    total += x.shape()[dim];
  }
  s[dim] = total;
  Tensor out = empty(s, {.dtype = f.dtype()});
  int64_t at = 0;
  for (const Tensor& x : xs) {
    copy_(slice(out, dim, at, at + x.shape()[dim], 1), x);
    at += x.shape()[dim];
  }
  return out;
}

Tensor index_select(const Tensor& x, int dim, const Tensor& index) {
  check_index_tensor(index, "index_select");
  TG_CHECK(index.dim() <= 1, "index_select: index must be 0-D or 1-D, got shape ", index.shape());
  TG_CHECK(x.dim() > 0, "index_select: cannot index a 0-d tensor");
  const Tensor idx = contiguous(index);
  const int64_t n = idx.numel();
  const int64_t* pi = idx.raw_ptr<int64_t>();
  const int64_t size = x.shape()[dim];
  for (int64_t i = 0; i < n; ++i) check_in_range(pi[i], size, "index_select", dim);
  Shape s = x.shape();
  s[dim] = n;
  Tensor out = empty(s, {.dtype = x.dtype()});
  for (int64_t i = 0; i < n; ++i) copy_(select(out, dim, i), select(x, dim, pi[i]));
  return out;
}

// Shared walk for gather/scatter_add: visits every index element with the
// flat offsets of the corresponding x / out position.
template <class F>
static void walk_index(const Tensor& index, int dim, const Shape& xstrides, F&& f) {
  const Tensor idx = contiguous(index);
  const int64_t* pi = idx.raw_ptr<int64_t>();
  const Shape& is = idx.shape();
  const int nd = is.size();
  int64_t pos[Shape::kMaxDims] = {};
  for (int64_t e = 0; e < idx.numel(); ++e) {
    int64_t base = 0;  // offset in x excluding dim
    for (int d = 0; d < nd; ++d)
      if (d != dim) base += pos[d] * xstrides[d];
    f(e, pi[e], base, pos);
    for (int d = nd - 1; d >= 0; --d) {
      if (++pos[d] < is[d]) break;
      pos[d] = 0;
    }
  }
}

Tensor gather(const Tensor& x, int dim, const Tensor& index) {
  check_index_tensor(index, "gather");
  if (x.dim() == 0 && index.dim() == 0)  // a 0-d tensor is a 1-element vector here (as PyTorch)
    return reshape(gather(reshape(x, {1}), 0, reshape(index, {1})), {});
  TG_CHECK(index.dim() == x.dim(), "gather: index has ", index.dim(), " dims, input has ", x.dim(), " (shapes ",
           index.shape(), " and ", x.shape(), ")");
  for (int d = 0; d < x.dim(); ++d)
    TG_CHECK(d == dim || index.shape()[d] <= x.shape()[d], "gather: index shape ", index.shape(),
             " exceeds input shape ", x.shape(), " at dim ", d);
  Tensor out = empty(index.shape(), {.dtype = x.dtype()});
  visit_dtype(x.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* px = x.raw_ptr<T>();
    T* po = out.raw_ptr<T>();
    const int64_t size = x.shape()[dim];
    walk_index(index, dim, x.strides(), [&](int64_t e, int64_t i, int64_t base, const int64_t*) {
      check_in_range(i, size, "gather", dim);
      po[e] = px[base + i * x.strides()[dim]];
    });
  });
  return out;
}

Tensor scatter_add(const Tensor& x, int dim, const Tensor& index, const Tensor& src) {
  check_index_tensor(index, "scatter_add");
  TG_CHECK(index.shape() == src.shape(), "scatter_add: index shape ", index.shape(), " differs from src shape ", src.shape());
  TG_CHECK(index.dim() == x.dim(), "scatter_add: index has ", index.dim(), " dims, input has ", x.dim());
  if (x.dim() == 0)  // a 0-d tensor is a 1-element vector here (as PyTorch)
    return reshape(scatter_add(reshape(x, {1}), 0, reshape(index, {1}), reshape(src, {1})), {});
  // as gather: outside dim the index may not reach past x (it wrote past the output)
  for (int d = 0; d < x.dim(); ++d)
    TG_CHECK(d == dim || index.shape()[d] <= x.shape()[d], "scatter_add: index shape ", index.shape(),
             " exceeds input shape ", x.shape(), " at dim ", d);
  TG_CHECK(src.dtype() == x.dtype(), "scatter_add: src dtype ", src.dtype(), " differs from input dtype ", x.dtype());
  Tensor out = clone(x);
  const Tensor s = contiguous(src);
  visit_dtype(x.dtype(), [&](auto z) {
    using T = decltype(z);
    T* po = out.raw_ptr<T>();
    const T* ps = s.raw_ptr<T>();
    const int64_t size = x.shape()[dim];
    walk_index(index, dim, out.strides(), [&](int64_t e, int64_t i, int64_t base, const int64_t*) {
      check_in_range(i, size, "scatter_add", dim);
      po[base + i * out.strides()[dim]] += ps[e];
    });
  });
  return out;
}

Tensor index_add(const Tensor& x, int dim, const Tensor& index, const Tensor& src) {
  check_index_tensor(index, "index_add");
  TG_CHECK(index.dim() <= 1, "index_add: index must be 1-D, got shape ", index.shape());
  TG_CHECK(x.dim() > 0, "index_add: cannot index a 0-d tensor");
  const Tensor idx = contiguous(index);
  TG_CHECK(src.defined(), "index_add: src is undefined");
  bool match = src.dim() == x.dim() && src.shape()[dim] == idx.numel();
  for (int d = 0; match && d < x.dim(); ++d) match = d == dim || src.shape()[d] == x.shape()[d];
  TG_CHECK(match, "index_add: src shape ", src.shape(), " does not match ", idx.numel(), " indices along dim ", dim,
           " of input ", x.shape(), " (every other dim must equal the input's)");
  Tensor out = clone(x);
  const int64_t* pi = idx.raw_ptr<int64_t>();
  for (int64_t i = 0; i < idx.numel(); ++i) {
    check_in_range(pi[i], x.shape()[dim], "index_add", dim);
    binary_(BinaryOp::Add, select(out, dim, pi[i]), select(src, dim, i), "index_add");
  }
  return out;
}

Tensor one_hot(const Tensor& index, int64_t num_classes) {
  check_index_tensor(index, "one_hot");
  TG_CHECK(num_classes > 0, "one_hot: num_classes must be positive, got ", num_classes);
  const Tensor idx = contiguous(index);
  Shape s = idx.shape();
  s.push_back(num_classes);
  Tensor out = zeros(s, {.dtype = kInt64});
  const int64_t* pi = idx.raw_ptr<int64_t>();
  int64_t* po = out.raw_ptr<int64_t>();
  for (int64_t i = 0; i < idx.numel(); ++i) {
    TG_CHECK(pi[i] >= 0 && pi[i] < num_classes, "one_hot: class ", pi[i], " at position ", i, " is out of range [0, ",
             num_classes, ")");
    po[i * num_classes + pi[i]] = 1;
  }
  return out;
}

}  // namespace tg::raw
