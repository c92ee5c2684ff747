// cat, index_select, gather, scatter_add, index_add and one_hot, with bounds
// checks that name the op, the bad index and the valid range.
//
// Indices are range-checked before they are used, and the error names the
// first bad one in index order: index_select / index_add check all of them in
// one pass first; gather / scatter_add check each run along the last dim just
// before using it (in cache; the output is discarded when one fails, and no
// earlier run had a bad index). index_select / index_add view x as
// [outer, size, inner] and move whole inner blocks (memcpy, or an add loop the
// compiler vectorizes); gather / scatter_add walk the index with an odometer
// over all but the last dim and a tight loop along it. Every output element
// receives its additions in index order, so results are bit-identical to
// adding one index at a time. Single-threaded.
#include <cstring>
#include <type_traits>

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

[[noreturn]] void throw_first_out_of_range(const int64_t* pi, int64_t count, int64_t n, const char* op, int dim) {
  for (int64_t i = 0; i < count; ++i) check_in_range(pi[i], n, op, dim);
  ::tg::detail::throw_error(op, ": internal error: no index out of range");  // not reached
}

// Every pi[0..count) in [0, n), else the error for the first one that is not.
inline void check_all_in_range(const int64_t* pi, int64_t count, int64_t n, const char* op, int dim) {
  // i is outside [0, n) iff i < 0 or n - 1 - i < 0: OR the sign bits of both
  // over all indices (no branches, no 64-bit compares: vectorizes on SSE2)
  const uint64_t last = static_cast<uint64_t>(n) - 1;
  uint64_t bits = 0;
#pragma GCC unroll 4
  for (int64_t i = 0; i < count; ++i) {
    const uint64_t v = static_cast<uint64_t>(pi[i]);
    bits |= v | (last - v);
  }
  if (bits >> 63) [[unlikely]] throw_first_out_of_range(pi, count, n, op, dim);
}

// a + b as kernels::binary(Add) computes it: int64 wraps around.
template <class T>
inline T add_elem(T a, T b) {
  if constexpr (std::is_same_v<T, int64_t>) return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  else return a + b;
}

// d[k] += q[k] for k < n (two distinct buffers, so the loop vectorizes).
template <class T>
void add_row(T* __restrict d, const T* __restrict q, int64_t n) {
  for (int64_t k = 0; k < n; ++k) d[k] = add_elem(d[k], q[k]);
}

// Dims [d0, d1) of a strided tensor with size-1 dims dropped and dims that are
// contiguous with their successor merged: the same elements, in the same
// row-major order, as at most kMaxDims (size, stride) pairs.
struct Dims {
  int n = 0;
  int64_t size[Shape::kMaxDims];
  int64_t stride[Shape::kMaxDims];
  int64_t numel = 1;
};

Dims merge_dims(const Shape& shape, const Shape& strides, int d0, int d1) {
  Dims m;
  for (int d = d0; d < d1; ++d) {
    m.numel *= shape[d];
    if (shape[d] == 1) continue;
    if (m.n > 0 && m.stride[m.n - 1] == strides[d] * shape[d]) {
      m.size[m.n - 1] *= shape[d];
      m.stride[m.n - 1] = strides[d];
    } else {
      m.size[m.n] = shape[d];
      m.stride[m.n] = strides[d];
      ++m.n;
    }
  }
  return m;
}

// f(offset) for every position of m in row-major order (m.numel > 0).
template <class F>
void for_each_offset(const Dims& m, F&& f) {
  if (m.n == 0) return f(int64_t{0});
  int64_t pos[Shape::kMaxDims] = {};
  int64_t off = 0;
  for (;;) {
    f(off);
    int d = m.n - 1;
    for (; d >= 0; --d) {
      off += m.stride[d];
      if (++pos[d] < m.size[d]) break;
      off -= pos[d] * m.stride[d];
      pos[d] = 0;
    }
    if (d < 0) return;
  }
}

// dst[0..m.numel) = the elements of m at src, in row-major order.
template <class T>
void copy_block(T* __restrict dst, const T* __restrict src, const Dims& m) {
  if (m.n == 0) {
    *dst = *src;
  } else if (m.n == 1 && m.stride[0] == 1) {
    std::memcpy(dst, src, size_t(m.numel) * sizeof(T));
  } else {
    // rows along the last merged dim; the dims before it by odometer
    Dims rows = m;
    const int64_t len = m.size[m.n - 1], st = m.stride[m.n - 1];
    --rows.n;
    for_each_offset(rows, [&](int64_t off) {
      const T* q = src + off;
      for (int64_t k = 0; k < len; ++k) dst[k] = q[k * st];
      dst += len;
    });
  }
}

// The walk of gather / scatter_add over a contiguous index of shape is (rank
// >= 1, numel > 0) against a tensor with strides xs: row(e, base) for each
// run of is.back() index elements starting at flat position e, where base is
// the offset of the run's first position in the tensor with dim's term left
// out (the row adds k * (last dim's stride, 0 if dim is last) + i * xs[dim]).
template <class F>
void for_each_index_row(const Shape& is, int dim, const Shape& xs, F&& row) {
  const int nd = is.size();
  int64_t st[Shape::kMaxDims];  // stride per dim, 0 for dim
  for (int d = 0; d < nd; ++d) st[d] = d == dim ? 0 : xs[d];
  const int64_t total = is.numel(), len = is[nd - 1];
  int64_t pos[Shape::kMaxDims] = {};
  int64_t base = 0;
  for (int64_t e = 0; e < total; e += len) {
    row(e, base);
    for (int d = nd - 2; d >= 0; --d) {
      base += st[d];
      if (++pos[d] < is[d]) break;
      base -= pos[d] * st[d];
      pos[d] = 0;
    }
  }
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

// x: [..., size, ...] at dim, index: [n]  ->  out: x's shape with n at dim
// out[o, i, r] = x[o, index[i], r]  (o over the dims before dim, r after)
Tensor index_select(const Tensor& x, int dim, const Tensor& index) {
  check_index_tensor(index, "index_select");
  TG_CHECK(index.dim() <= 1, "index_select: index must be 0-D or 1-D, got shape ", index.shape());
  TG_CHECK(x.dim() > 0, "index_select: cannot index a 0-d tensor");
  const Tensor idx = contiguous(index);
  const int64_t n = idx.numel();
  const int64_t* pi = idx.raw_ptr<int64_t>();
  const int64_t size = x.shape()[dim];
  check_all_in_range(pi, n, size, "index_select", dim);
  Shape s = x.shape();
  s[dim] = n;
  Tensor out = empty(s, {.dtype = x.dtype()});
  if (out.numel() == 0) return out;
  // x's strides as they are (no contiguous copy of a large x for a few indices)
  const Dims outer = merge_dims(x.shape(), x.strides(), 0, dim);
  const Dims inner = merge_dims(x.shape(), x.strides(), dim + 1, x.dim());
  const int64_t sd = x.strides()[dim];
  visit_dtype(x.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* px = x.raw_ptr<T>();
    T* po = out.raw_ptr<T>();
    const int64_t r = inner.numel;
    for_each_offset(outer, [&](int64_t xo) {
      const T* xb = px + xo;
      if (r == 1) {  // one element per index (dim is last, or only size-1 dims follow)
        #pragma GCC unroll 4
        for (int64_t i = 0; i < n; ++i) po[i] = xb[pi[i] * sd];
      } else {
        for (int64_t i = 0; i < n; ++i) copy_block(po + i * r, xb + pi[i] * sd, inner);
      }
      po += n * r;
    });
  });
  return out;
}

// x: [..., size, ...] at dim, index: x's rank, no larger outside dim  ->  out: index's shape
// out[p] = x[p with p[dim] replaced by index[p]]
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
  const Tensor idx = contiguous(index);
  const int64_t* pi = idx.raw_ptr<int64_t>();
  const int64_t size = x.shape()[dim];
  if (idx.numel() == 0) return out;
  const int last = x.dim() - 1;
  const int64_t len = idx.shape()[last];
  const int64_t sd = x.strides()[dim], sl = last == dim ? 0 : x.strides()[last];
  visit_dtype(x.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* px = x.raw_ptr<T>();
    T* po = out.raw_ptr<T>();
    for_each_index_row(idx.shape(), dim, x.strides(), [&](int64_t e, int64_t base) {
      const T* xb = px + base;
      const int64_t* ib = pi + e;
      check_all_in_range(ib, len, size, "gather", dim);
      T* ob = po + e;
      if (sl == 0 && sd == 1) {  // along a contiguous last dim
        #pragma GCC unroll 4
        for (int64_t k = 0; k < len; ++k) ob[k] = xb[ib[k]];
      } else if (sl == 1) {  // another dim, last dim contiguous
        #pragma GCC unroll 4
        for (int64_t k = 0; k < len; ++k) ob[k] = xb[k + ib[k] * sd];
      } else {
        #pragma GCC unroll 4
        for (int64_t k = 0; k < len; ++k) ob[k] = xb[k * sl + ib[k] * sd];
      }
    });
  });
  return out;
}

// out = x, then out[p with p[dim] replaced by index[p]] += src[p] for every
// position p of index, in row-major order of p
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
  const Tensor idx = contiguous(index);
  const int64_t* pi = idx.raw_ptr<int64_t>();
  const int64_t size = x.shape()[dim];
  if (idx.numel() == 0) return out;
  const int last = x.dim() - 1;
  const int64_t len = idx.shape()[last];
  const int64_t sd = out.strides()[dim], sl = last == dim ? 0 : out.strides()[last];
  visit_dtype(x.dtype(), [&](auto z) {
    using T = decltype(z);
    T* po = out.raw_ptr<T>();
    const T* ps = s.raw_ptr<T>();
    for_each_index_row(idx.shape(), dim, out.strides(), [&](int64_t e, int64_t base) {
      T* ob = po + base;
      const int64_t* ib = pi + e;
      check_all_in_range(ib, len, size, "scatter_add", dim);
      const T* sb = ps + e;
      // in k order: along the last dim two k may hit one element
      if (sl == 0) {
        #pragma GCC unroll 4
        for (int64_t k = 0; k < len; ++k) ob[ib[k] * sd] = add_elem(ob[ib[k] * sd], sb[k]);
      } else {
        #pragma GCC unroll 4
        for (int64_t k = 0; k < len; ++k) ob[k * sl + ib[k] * sd] = add_elem(ob[k * sl + ib[k] * sd], sb[k]);
      }
    });
  });
  return out;
}

// x: [..., size, ...] at dim, index: [n], src: x's shape with n at dim
// out = x, then for i = 0..n-1 in order: out[o, index[i], r] += src[o, i, r]
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
  const int64_t n = idx.numel();
  const int64_t* pi = idx.raw_ptr<int64_t>();
  const int64_t size = x.shape()[dim];
  // the errors of adding one index at a time: index 0's range, then the dtypes
  // (binary_ checked them at the first add, none without indices), then the rest
  if (n > 0) {
    check_in_range(pi[0], size, "index_add", dim);
    TG_CHECK(src.dtype() == x.dtype(), "index_add: dtypes ", x.dtype(), " and ", src.dtype(),
             " differ; convert one with .to(", x.dtype(), ")");
  }
  check_all_in_range(pi, n, size, "index_add", dim);
  Tensor out = clone(x);
  if (n == 0 || out.numel() == 0) return out;
  const Tensor s = contiguous(src);  // [outer, n, inner], as large as the work itself
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < dim; ++d) outer *= x.shape()[d];
  for (int d = dim + 1; d < x.dim(); ++d) inner *= x.shape()[d];
  visit_dtype(x.dtype(), [&](auto z) {
    using T = decltype(z);
    T* po = out.raw_ptr<T>();
    const T* ps = s.raw_ptr<T>();
    for (int64_t o = 0; o < outer; ++o) {
      T* ob = po + o * size * inner;
      const T* sb = ps + o * n * inner;
      if (inner == 1) {  // in i order: two i may hit one element
        for (int64_t i = 0; i < n; ++i) ob[pi[i]] = add_elem(ob[pi[i]], sb[i]);
      } else {
        for (int64_t i = 0; i < n; ++i) add_row(ob + pi[i] * inner, sb + i * inner, inner);
      }
    }
  });
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
