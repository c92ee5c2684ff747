// Reductions (sum, amax/amin, max/min with indices) and softmax.
//
// A contiguous x reduced over a block of dims before the last is [O, R, I]:
// sum, amax/amin, max/min with indices and softmax walk its R rows of I contiguous elements
// (vectorized over I) instead of transposing R innermost.
//
// Determinism: a reduction never splits one output element's terms across
// threads except for the full reduction, which sums fixed 16K-element chunks
// and combines the partial sums in chunk order. So every result is the same
// bits for 1 or 2 threads.
#include <algorithm>
#include <bit>
#include <cmath>
#include <vector>

#include "tensor/raw.h"
#include "tensor/parallel.h"

namespace tg::raw {

std::vector<int> normalize_dims(const std::vector<int64_t>& dims, int rank, const char* op) {
  std::vector<int> out;
  if (dims.empty()) {
    for (int d = 0; d < rank; ++d) out.push_back(d);
    return out;
  }
  for (int64_t d : dims) out.push_back(wrap_dim(d, rank, op));
  std::sort(out.begin(), out.end());
  for (size_t i = 1; i < out.size(); ++i)
    TG_CHECK(out[i] != out[i - 1], op, ": dim ", out[i], " appears twice in the reduction dims");
  if (rank == 0) out.clear();
  return out;
}

Shape reduced_shape(const Shape& s, const std::vector<int>& dims, bool keepdim) {
  Shape out;
  size_t k = 0;
  for (int d = 0; d < s.size(); ++d) {
    const bool red = k < dims.size() && dims[k] == d;
    if (red) ++k;
    if (!red) out.push_back(s[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

namespace {

constexpr int64_t kChunk = kReduceChunk;

// Sum of a contiguous span: past kChunk elements, fixed chunks summed in
// order, as full_sum does (the same bits; a row of 2^24 was one kernel call,
// 4 vectors of running sums: -2.5e-3 relative error for 0.1f).
template <class T>
T span_sum(const T* p, int64_t n) {
  if constexpr (std::is_same_v<T, int64_t>) {
    uint64_t s = 0;  // wraps like PyTorch's int64 sum (signed overflow is UB)
    for (int64_t i = 0; i < n; ++i) s += uint64_t(p[i]);
    return int64_t(s);
  } else {
    if (n <= kChunk) return kernels::sum(p, n);
    T s = 0;
    for (int64_t lo = 0; lo < n; lo += kChunk) s += kernels::sum(p + lo, std::min(kChunk, n - lo));
    return s;
  }
}

// Sum of a contiguous span in fixed chunks combined in order.
template <class T>
T full_sum(const T* p, int64_t n) {
  return chunked_sum<T>(n, [p](int64_t lo, int64_t hi) { return span_sum(p + lo, hi - lo); });
}

// Splits x's dims into kept (outer) and reduced (inner) and returns a
// contiguous [O, R] layout, possibly copying.
Tensor rows_layout(const Tensor& x, const std::vector<int>& dims, int64_t* O, int64_t* R) {
  Shape perm;
  *O = 1;
  *R = 1;
  size_t k = 0;
  for (int d = 0; d < x.dim(); ++d) {
    if (k < dims.size() && dims[k] == d) { ++k; continue; }
    perm.push_back(d);
    *O *= x.shape()[d];
  }
  for (int d : dims) {
    perm.push_back(d);
    *R *= x.shape()[d];
  }
  return contiguous(permute(x, perm));
}

template <class T, class RowFn>
Tensor reduce_rows(const Tensor& x, const std::vector<int>& dims, bool keepdim, RowFn row) {
  int64_t O, R;
  const Tensor xc = rows_layout(x, dims, &O, &R);
  Tensor out = empty(reduced_shape(x.shape(), dims, keepdim), {.dtype = x.dtype()});
  const T* px = xc.raw_ptr<T>();
  T* po = out.raw_ptr<T>();
  if (O == 1) {
    po[0] = row(px, R, true);
  } else {
    detail::parallel_for_as<RowFn>(0, O, std::max<int64_t>(1, 32768 / std::max<int64_t>(R, 1)),
                                   [&](int64_t o0, int64_t o1) {
                                     for (int64_t o = o0; o < o1; ++o) po[o] = row(px + o * R, R, false);
                                   });
  }
  return out;
}

// dst[i] = Σ_r src[r * ld + i] for i < w, r < R (dst starts at 0), rows added
// in order. Floats: more than kRowBlock rows are summed a block at a time and
// the block sums combined pairwise (a binary counter of partial sums), so the
// error grows with log R, not R (20,000,000 ones summed row after row gave
// 16,777,216). The order depends on R only: the same bits for any thread count.
template <class T>
void sum_rows(const T* src, int64_t ld, int64_t R, T* dst, int64_t w) {
  auto add_row = [w](const T* x, T* acc) {
    if constexpr (std::is_same_v<T, int64_t>) {
      for (int64_t i = 0; i < w; ++i) acc[i] = int64_t(uint64_t(acc[i]) + uint64_t(x[i]));  // wraps
    } else {
      kernels::accumulate(x, acc, w);
    }
  };
  constexpr int64_t kRowBlock = 256;
  if (std::is_same_v<T, int64_t> || R <= kRowBlock) {
    for (int64_t r = 0; r < R; ++r) add_row(src + r * ld, dst);
    return;
  }
  const int64_t blocks = (R + kRowBlock - 1) / kRowBlock;
  const int levels = std::bit_width(uint64_t(blocks)) + 1;
  thread_local std::vector<T> scratch;
  scratch.resize(size_t((levels + 1) * w));
  T* cur = scratch.data() + levels * w;  // the block being summed
  uint64_t held = 0;                     // bit k: level k holds a partial sum of 2^k blocks
  for (int64_t b = 0; b < blocks; ++b) {
    std::fill(cur, cur + w, T(0));
    for (int64_t r = b * kRowBlock; r < std::min(R, (b + 1) * kRowBlock); ++r) add_row(src + r * ld, cur);
    int k = 0;
    for (; held >> k & 1; ++k) add_row(scratch.data() + k * w, cur);  // carry: merge equal-sized sums
    held = (held & ~((uint64_t(1) << k) - 1)) | uint64_t(1) << k;
    std::copy(cur, cur + w, scratch.data() + k * w);
  }
  for (int k = 0; k < levels; ++k)
    if (held >> k & 1) add_row(scratch.data() + k * w, dst);
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int>& dims, bool keepdim) {
  TG_CHECK(x.defined(), "sum: undefined tensor");
  return visit_dtype(x.dtype(), [&](auto z) {
    using T = decltype(z);
    // Fast path: x contiguous and the reduced dims one block [O, R, I] with I > 1:
    // add rows of length I in order (vectorized over I), no transpose copy.
    if (x.is_contiguous() && !dims.empty() && dims.back() < x.dim() - 1 &&
        dims.back() - dims.front() + 1 == int(dims.size())) {
      int64_t O = 1, R = 1, I = 1;
      for (int d = 0; d < x.dim(); ++d) {
        if (d < dims.front()) O *= x.shape()[d];
        else if (d <= dims.back()) R *= x.shape()[d];
        else I *= x.shape()[d];
      }
      Tensor out = zeros(reduced_shape(x.shape(), dims, keepdim), {.dtype = x.dtype()});
      const T* px = x.raw_ptr<T>();
      T* po = out.raw_ptr<T>();
      const int64_t ichunk = 4096;
      const int64_t nic = (I + ichunk - 1) / ichunk;
      parallel_for(0, O * nic, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, R * std::min(I, ichunk))),
                   [&](int64_t t0, int64_t t1) {
                     for (int64_t t = t0; t < t1; ++t) {
                       const int64_t o = t / nic, i0 = (t % nic) * ichunk, i1 = std::min(I, i0 + ichunk);
                       sum_rows(px + o * R * I + i0, I, R, po + o * I + i0, i1 - i0);
                     }
                   });
      return out;
    }
    return reduce_rows<T>(x, dims, keepdim, [](const T* p, int64_t n, bool whole) {
      return whole ? full_sum(p, n) : span_sum(p, n);
    });
  });
}

// Whether dims (sorted) are one block of x's dims that ends before the last
// one; then the contiguous x is [O, R, I] with R the block's size and I the
// product of the dims after it (the dims the reduction keeps innermost).
// x as [O, R, I] around its dims [first, last]: O the product of the dims
// before, R of the block, I of the dims after (1 when last is the last dim).
static void block_sizes(const Tensor& x, int first, int last, int64_t* O, int64_t* R, int64_t* I) {
  *O = *R = *I = 1;
  for (int d = 0; d < x.dim(); ++d) {
    if (d < first) *O *= x.shape()[d];
    else if (d <= last) *R *= x.shape()[d];
    else *I *= x.shape()[d];
  }
}
static bool middle_block(const Tensor& x, const std::vector<int>& dims, int64_t* O, int64_t* R, int64_t* I) {
  if (dims.empty() || dims.back() >= x.dim() - 1 || dims.back() - dims.front() + 1 != int(dims.size())) return false;
  block_sizes(x, dims.front(), dims.back(), O, R, I);
  return true;
}

// Column blocks for the [O, R, I] paths: tasks are (o, a block of kColBlock
// columns), at least ~16K elements each. Columns are independent, so the split
// changes no bits.
constexpr int64_t kColBlock = 256;
template <class F>
static void for_col_blocks(int64_t O, int64_t R, int64_t I, F&& fn) {
  const int64_t nb = (I + kColBlock - 1) / kColBlock;
  parallel_for(0, O * nb, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, R * std::min(I, kColBlock))),
               [&](int64_t t0, int64_t t1) {
                 for (int64_t t = t0; t < t1; ++t) {
                   const int64_t o = t / nb, i0 = (t % nb) * kColBlock;
                   fn(o, i0, std::min(I, i0 + kColBlock) - i0);
                 }
               });
}

static Tensor extreme(const Tensor& x, const std::vector<int>& dims, bool keepdim, bool is_max, const char* op) {
  TG_CHECK(x.defined(), op, ": undefined tensor");
  for (int d : dims)
    TG_CHECK(x.shape()[d] > 0, op, ": cannot reduce over dim ", d, " of size 0 (shape ", x.shape(), ")");
  if (dims.empty()) TG_CHECK(x.numel() > 0, op, ": cannot reduce an empty tensor");
  return visit_dtype(x.dtype(), [&](auto z) {
    using T = decltype(z);
    // Fast path: x contiguous and the reduced dims a block [O, R, I], I > 1:
    // extremes down the columns (vectorized over I), no transpose copy.
    int64_t O, R, I;
    if (x.is_contiguous() && middle_block(x, dims, &O, &R, &I) && I > 1) {
      Tensor out = empty(reduced_shape(x.shape(), dims, keepdim), {.dtype = x.dtype()});
      const T* px = x.raw_ptr<T>();
      T* po = out.raw_ptr<T>();
      for_col_blocks(O, R, I, [&](int64_t o, int64_t i0, int64_t w) {
        const T* src = px + o * R * I + i0;
        T* dst = po + o * I + i0;
        if constexpr (std::is_same_v<T, int64_t>) {
          std::copy(src, src + w, dst);
          for (int64_t r = 1; r < R; ++r)
            for (int64_t i = 0; i < w; ++i) dst[i] = is_max ? std::max(dst[i], src[r * I + i]) : std::min(dst[i], src[r * I + i]);
        } else if (is_max) {
          kernels::max_cols(src, dst, R, I, w);
        } else {
          kernels::min_cols(src, dst, R, I, w);
        }
      });
      return out;
    }
    return reduce_rows<T>(x, dims, keepdim, [is_max](const T* p, int64_t n, bool) {
      if constexpr (std::is_same_v<T, int64_t>) {
        T b = p[0];
        for (int64_t i = 1; i < n; ++i) b = is_max ? std::max(b, p[i]) : std::min(b, p[i]);
        return b;
      } else {
        return is_max ? kernels::max(p, n) : kernels::min(p, n);
      }
    });
  });
}

Tensor amax(const Tensor& x, const std::vector<int>& dims, bool keepdim) { return extreme(x, dims, keepdim, true, "amax"); }
Tensor amin(const Tensor& x, const std::vector<int>& dims, bool keepdim) { return extreme(x, dims, keepdim, false, "amin"); }

std::pair<Tensor, Tensor> max_dim(const Tensor& x, int dim, bool keepdim, bool is_max) {
  const char* op = is_max ? "max" : "min";
  TG_CHECK(x.defined(), op, ": undefined tensor");
  const int d = x.dim() == 0 ? 0 : dim;
  std::vector<int> dims;
  if (x.dim() > 0) dims.push_back(d);
  if (x.dim() > 0) TG_CHECK(x.shape()[d] > 0, op, ": cannot reduce over dim ", d, " of size 0 (shape ", x.shape(), ")");
  const Shape rs = reduced_shape(x.shape(), dims, keepdim);
  Tensor values = empty(rs, {.dtype = x.dtype()});
  Tensor indices = empty(rs, {.dtype = kInt64});
  // dim before the last (I > 1): down the columns of each [R, I] block of the
  // contiguous x as [O, R, I], the row scan's rule column by column (the
  // transposed copy to [O * I, R] rows made dim 0 of [256,1000] 11x slower).
  int64_t O, R, I;
  if (x.dim() > 0) block_sizes(x, d, d, &O, &R, &I);
  if (x.dim() > 0 && I > 1 && R < (int64_t(1) << 31)) {
    const Tensor xc = contiguous(x);
    visit_dtype(x.dtype(), [&](auto z) {
      using T = decltype(z);
      const T* px = xc.raw_ptr<T>();
      T* pv = values.raw_ptr<T>();
      int64_t* pi = indices.raw_ptr<int64_t>();
      for_col_blocks(O, R, I, [&](int64_t o, int64_t i0, int64_t w) {
        const T* src = px + o * R * I + i0;
        T* val = pv + o * I + i0;
        int64_t* idx = pi + o * I + i0;
        if constexpr (std::is_same_v<T, int64_t>) {
          std::copy(src, src + w, val);
          std::fill(idx, idx + w, int64_t(0));
          for (int64_t r = 1; r < R; ++r)
            for (int64_t i = 0; i < w; ++i) {
              const T v = src[r * I + i];
              if (is_max ? v > val[i] : v < val[i]) {
                val[i] = v;
                idx[i] = r;
              }
            }
        } else if (is_max) {
          kernels::argmax_cols(src, val, idx, R, I, w);
        } else {
          kernels::argmin_cols(src, val, idx, R, I, w);
        }
      });
    });
    return {values, indices};
  }
  const Tensor xc = rows_layout(x, dims, &O, &R);
  visit_dtype(x.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* px = xc.raw_ptr<T>();
    T* pv = values.raw_ptr<T>();
    int64_t* pi = indices.raw_ptr<int64_t>();
    parallel_for(0, O, std::max<int64_t>(1, 32768 / std::max<int64_t>(R, 1)), [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        const T* p = px + o * R;
        int64_t best = 0;
        for (int64_t r = 1; r < R; ++r) {
          if (p[best] != p[best]) break;  // NaN wins, like PyTorch
          if (p[r] != p[r] || (is_max ? p[r] > p[best] : p[r] < p[best])) best = r;
        }
        pv[o] = p[best];
        pi[o] = best;
      }
    });
  });
  return {values, indices};
}

// Softmax over dim of x viewed as [O, R, I] (R = size(dim), I = the product of
// the dims after it). I == 1 (dim last, or only size-1 dims after it): rows of
// R, one row kernel each. I > 1: down the columns of each [R, I] block
// (kernels::softmax_cols), no transposes; a non-contiguous x is copied once.
Tensor softmax(const Tensor& x, int dim, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  TG_CHECK(x.defined() && x.is_floating_point(), op, ": expected a floating-point tensor");
  if (x.dim() == 0) return log ? zeros_like(x) : ones_like(x);
  const Tensor xc = contiguous(x);
  Tensor out = empty(x.shape(), {.dtype = x.dtype()});
  if (x.numel() == 0) return out;
  int64_t O, R, I;
  block_sizes(x, dim, dim, &O, &R, &I);
  visit_float_dtype(x.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* px = xc.raw_ptr<T>();
    T* po = out.raw_ptr<T>();
    if (I == 1) {
      parallel_for(0, O, std::max<int64_t>(1, 16384 / std::max<int64_t>(R, 1)), [&](int64_t o0, int64_t o1) {
        for (int64_t o = o0; o < o1; ++o) {
          if (log) kernels::log_softmax_row(px + o * R, po + o * R, R);
          else kernels::softmax_row(px + o * R, po + o * R, R);
        }
      });
      return;
    }
    for_col_blocks(O, R, I, [&](int64_t o, int64_t i0, int64_t w) {
      const int64_t off = o * R * I + i0;
      if (log) kernels::log_softmax_cols(px + off, po + off, R, I, w);
      else kernels::softmax_cols(px + off, po + off, R, I, w);
    });
  });
  return out;
}

Tensor softmax_backward(const Tensor& dy_in, const Tensor& y_in, int dim, bool log) {
  const char* op = log ? "log_softmax_backward" : "softmax_backward";
  TG_CHECK(dy_in.defined() && y_in.defined() && y_in.is_floating_point() && dy_in.dtype() == y_in.dtype(), op,
           ": expected floating-point tensors of one dtype");
  TG_CHECK(dy_in.shape() == y_in.shape() && dim >= 0 && dim < y_in.dim(), op, ": dy has shape ", dy_in.shape(),
           ", y has ", y_in.shape(), ", dim ", dim);
  const Tensor dy = contiguous(dy_in), y = contiguous(y_in);  // dy is often expanded (the backward of a sum)
  Tensor dx = empty(y.shape(), {.dtype = y.dtype()});
  if (y.numel() == 0) return dx;
  int64_t O, R, I;
  block_sizes(y, dim, dim, &O, &R, &I);
  visit_float_dtype(y.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* pg = dy.raw_ptr<T>();
    const T* py = y.raw_ptr<T>();
    T* px = dx.raw_ptr<T>();
    for_col_blocks(O, R, I, [&](int64_t o, int64_t i0, int64_t w) {
      const int64_t off = o * R * I + i0;
      if (log) kernels::log_softmax_backward_cols(pg + off, py + off, px + off, R, I, w);
      else kernels::softmax_backward_cols(pg + off, py + off, px + off, R, I, w);
    });
  });
  return dx;
}

}  // namespace tg::raw
