// Views (metadata only: shape, strides, offset over the same storage) and copies.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "tensor/iter.h"
#include "tensor/kernels/copy.h"
#include "tensor/raw.h"

namespace tg::raw {

Tensor as_strided(const Tensor& x, const Shape& shape, const Shape& strides, int64_t offset) {
  return make_view(x, shape, strides, offset);
}

Shape infer_shape(const Shape& shape, int64_t numel, const char* op) {
  Shape out = shape;
  int infer = -1;
  int64_t known = 1;
  for (int d = 0; d < shape.size(); ++d) {
    if (shape[d] == -1) {
      TG_CHECK(infer < 0, op, ": only one dimension can be -1, got ", shape);
      infer = d;
    } else {
      TG_CHECK(shape[d] >= 0, op, ": invalid size ", shape[d], " in shape ", shape);
      TG_CHECK(!__builtin_mul_overflow(known, shape[d], &known), op, ": shape ", shape,
               " has too many elements (the count overflows int64)");
    }
  }
  if (infer >= 0) {
    TG_CHECK(known != 0 && numel % known == 0, op, ": shape ", shape, " is invalid for ", numel, " elements");
    out[infer] = numel / known;
  }
  check_sizes(out, op);
  TG_CHECK(out.numel() == numel, op, ": shape ", shape, " is invalid for input of size ", numel);
  return out;
}

// Strides for viewing x as `shape` without a copy, or false (PyTorch's computeStride).
static bool view_strides(const Tensor& x, const Shape& shape, Shape* out) {
  const Shape& os = x.shape();
  const Shape& ost = x.strides();
  out->resize(shape.size());
  if (x.numel() == 0 || os.size() == 0) {  // empty, or 0-d (one element): any shape of its numel
    *out = contiguous_strides(shape);
    return true;
  }
  int view_d = shape.size() - 1;
  int64_t chunk_base_stride = os.size() ? ost[os.size() - 1] : 1;
  int64_t tensor_numel = 1, view_numel = 1;
  for (int tensor_d = os.size() - 1; tensor_d >= 0; --tensor_d) {
    tensor_numel *= os[tensor_d];
    if (tensor_d == 0 || (os[tensor_d - 1] != 1 && ost[tensor_d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        (*out)[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (tensor_d > 0) {
        chunk_base_stride = ost[tensor_d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

Tensor view(const Tensor& x, const Shape& shape) {
  const Shape s = infer_shape(shape, x.numel(), "view");
  Shape st;
  TG_CHECK(view_strides(x, s, &st), "view: shape ", s, " is not compatible with the input's shape ", x.shape(),
           " and strides ", x.strides(), "; use reshape() (it copies)");
  return make_view(x, s, st, x.offset());
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  const Shape s = infer_shape(shape, x.numel(), "reshape");
  Shape st;
  if (view_strides(x, s, &st)) return make_view(x, s, st, x.offset());
  Tensor c = contiguous(x);
  return make_view(c, s, contiguous_strides(s), c.offset());
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  const int a = wrap_dim(d0, x.dim(), "transpose"), b = wrap_dim(d1, x.dim(), "transpose");
  if (x.dim() == 0) return make_view(x, x.shape(), x.strides(), x.offset());
  Shape s = x.shape(), st = x.strides();
  std::swap(s[a], s[b]);
  std::swap(st[a], st[b]);
  return make_view(x, s, st, x.offset());
}

Tensor permute(const Tensor& x, const Shape& dims) {
  TG_CHECK(dims.size() == x.dim(), "permute: got ", dims.size(), " dims ", dims, " for a tensor of rank ", x.dim());
  Shape s, st;
  bool seen[Shape::kMaxDims] = {};
  for (int i = 0; i < dims.size(); ++i) {
    const int d = wrap_dim(dims[i], x.dim(), "permute");
    TG_CHECK(!seen[d], "permute: dim ", d, " appears twice in ", dims);
    seen[d] = true;
    s.push_back(x.shape()[d]);
    st.push_back(x.strides()[d]);
  }
  return make_view(x, s, st, x.offset());
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  TG_CHECK(x.dim() > 0, "slice: cannot slice a 0-d tensor");
  const int d = wrap_dim(dim, x.dim(), "slice");
  TG_CHECK(step > 0, "slice: step must be positive, got ", step);
  const int64_t n = x.shape()[d];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::min(std::max<int64_t>(start, 0), n);
  end = std::min(std::max<int64_t>(end, start), n);
  Shape s = x.shape(), st = x.strides();
  s[d] = end > start ? (end - start - 1) / step + 1 : 0;  // (end - start + step - 1) overflowed for a huge step
  if (s[d] > 1) st[d] *= step;  // one element or none: the step never moves the pointer (nor overflows)
  return make_view(x, s, st, x.offset() + start * x.strides()[d]);
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  TG_CHECK(x.dim() > 0, "select: cannot index a 0-d tensor");
  const int d = wrap_dim(dim, x.dim(), "select");
  const int64_t n = x.shape()[d];
  TG_CHECK(index >= -n && index < n, "select: index ", index, " is out of range for dim ", d, " of size ", n,
           " (shape ", x.shape(), ")");
  if (index < 0) index += n;
  Shape s = x.shape(), st = x.strides();
  s.erase(d);
  st.erase(d);
  return make_view(x, s, st, x.offset() + index * x.strides()[d]);
}

Tensor expand(const Tensor& x, const Shape& shape) {
  TG_CHECK(shape.size() >= x.dim(), "expand: cannot expand shape ", x.shape(), " to fewer dims ", shape);
  Shape s, st;
  s.resize(shape.size());
  st.resize(shape.size());
  const int lead = shape.size() - x.dim();
  for (int i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      TG_CHECK(shape[i] >= 0, "expand: size ", shape[i], " is invalid for a new leading dim (shape ", shape, ")");
      s[i] = shape[i];
      st[i] = 0;
      continue;
    }
    const int64_t cur = x.shape()[i - lead];
    const int64_t want = shape[i] == -1 ? cur : shape[i];
    TG_CHECK(want >= 0, "expand: size ", shape[i], " is invalid (shape ", shape, ")");
    TG_CHECK(cur == want || cur == 1, "expand: shape ", x.shape(), " cannot expand to ", shape,
             " (dim ", i, ": ", cur, " vs ", want, ")");
    s[i] = want;
    st[i] = cur == want ? x.strides()[i - lead] : 0;
  }
  check_sizes(s, "expand");
  return make_view(x, s, st, x.offset());
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  const int d = wrap_dim(dim, x.dim(), "squeeze");
  if (x.dim() == 0 || x.shape()[d] != 1) return make_view(x, x.shape(), x.strides(), x.offset());
  Shape s = x.shape(), st = x.strides();
  s.erase(d);
  st.erase(d);
  return make_view(x, s, st, x.offset());
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  const int d = wrap_dim(dim, x.dim() + 1, "unsqueeze");
  Shape s = x.shape(), st = x.strides();
  const int64_t stride = d < x.dim() ? x.strides()[d] * x.shape()[d] : 1;
  s.insert(d, 1);
  st.insert(d, stride);
  return make_view(x, s, st, x.offset());
}

// ---------------------------------------------------------------- copies
// A transposed copy (the output walks one dim with stride 1, the source
// another: x.t().contiguous(), an NCHW -> NHWC permute, y.t().copy_(x)) done
// row by row along the output reads or writes a new cache line per element
// and thrashes the cache once a row's lines outgrow it (4-7 ns per element at
// 1024x1024 against 0.6 at 1000x1000: at power-of-two strides all of a row's
// lines fall in one L1 set). Such copies go in kTile x kTile tiles of the two
// dims instead, eight tile rows at a time (copy_tile): 0.25-0.4 ns at both.
namespace {

constexpr int64_t kTile = 64;

// The dim b to tile against the row dim a = L.ndim - 1 (operands 0: out,
// 1: in; element sizes esize), or -1 to copy row by row. Tiled when one operand
// walks the row with |stride| <= 1 and the other (x) with a stride of at least
// a cache line (64 bytes), and x has a dim with a smaller nonzero |stride| (b:
// the smallest, x's stride-1 dim in a transpose). tg's views never make
// negative strides, but make_view can; only their size matters here.
int tile_dim(const detail::Loop& L, const int64_t esize[2]) {
  if (L.ndim < 2) return -1;
  for (int d = 0; d < L.ndim; ++d)
    if (L.shape[d] == 0) return -1;  // empty: nothing to copy
  const int a = L.ndim - 1;
  const int64_t da = std::abs(L.strides[0][a]), sa = std::abs(L.strides[1][a]);
  int x;
  if (da == 1 && sa >= 64 / esize[1]) x = 1;
  else if (sa <= 1 && da >= 64 / esize[0]) x = 0;
  else return -1;
  int b = -1;
  int64_t best = std::abs(L.strides[x][a]);
  for (int d = 0; d < a; ++d) {
    const int64_t st = std::abs(L.strides[x][d]);
    if (st != 0 && st < best) best = st, b = d;
  }
  return b;
}

// d[i * dr + j * dc] = s[i * sr + j * sc] for i < rows, j < cols: one tile;
// j walks the output's dense dim (dc = 1 unless a view makes it otherwise), i
// the source's (|sr| <= 1 in a transpose). Eight rows per pass over the
// columns: a pass reads eight neighbouring source elements from each of the
// `cols` source lines it touches, so a line is fetched once or twice per tile
// rather than 8-16 times (in a power-of-two transpose those lines share one
// L1 set and are evicted between passes), and the eight output rows it
// writes still fit in that set's ways (sixteen did not: 2.5 ns per element
// at 1024x1024, against 0.3 for eight and 1.2-1.8 for one row per pass).
template <bool kUnitCol, class D, class S>
void copy_tile(D* d, const S* s, int64_t rows, int64_t cols, int64_t dr, int64_t dc, int64_t sr, int64_t sc) {
  if constexpr (kUnitCol) dc = 1;
  int64_t i = 0;
  for (; i + 8 <= rows; i += 8) {
    D* d0 = d + i * dr;
    const S* s0 = s + i * sr;
    for (int64_t j = 0; j < cols; ++j) {
      D* p = d0 + j * dc;
      const S* q = s0 + j * sc;
      for (int u = 0; u < 8; ++u) p[u * dr] = static_cast<D>(q[u * sr]);
    }
  }
  for (; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) d[i * dr + j * dc] = static_cast<D>(s[i * sr + j * sc]);
}

// The copy of L's operands (0: D* out, 1: const S* in) in tiles of dims
// a = L.ndim - 1 and b, every other dim an outer loop; parallel over (outer
// index, block of tile rows) as for_each_row is over rows.
template <class D, class S>
void copy_tiled(const detail::Loop& L, int b, D* pd, const S* ps) {
  const int a = L.ndim - 1;
  int64_t oshape[Shape::kMaxDims], ostride[2][Shape::kMaxDims];
  int no = 0;
  int64_t outer = 1;
  for (int d = 0; d < a; ++d) {
    if (d == b) continue;
    oshape[no] = L.shape[d];
    ostride[0][no] = L.strides[0][d];
    ostride[1][no] = L.strides[1][d];
    outer *= L.shape[d];
    ++no;
  }
  // Tile columns: the dim along which the output is dense; rows: the other.
  const bool out_dense_a = std::abs(L.strides[0][a]) == 1;
  const int r = out_dense_a ? b : a, c = out_dense_a ? a : b;
  const int64_t nr = L.shape[r], nc = L.shape[c];
  const int64_t dr = L.strides[0][r], dc = L.strides[0][c], sr = L.strides[1][r], sc = L.strides[1][c];
  const int64_t blocks = (nr + kTile - 1) / kTile;
  const int64_t grain = std::max<int64_t>(1, 32768 / (kTile * nc));
  auto body = [&](int64_t w0, int64_t w1) {
    for (int64_t w = w0; w < w1; ++w) {
      int64_t o = w / blocks;
      const int64_t r0 = (w % blocks) * kTile, rn = std::min(kTile, nr - r0);
      int64_t od = r0 * dr, os = r0 * sr;
      for (int k = no - 1; k >= 0; --k) {
        const int64_t idx = o % oshape[k];
        o /= oshape[k];
        od += idx * ostride[0][k];
        os += idx * ostride[1][k];
      }
      for (int64_t c0 = 0; c0 < nc; c0 += kTile) {
        D* d = pd + od + c0 * dc;
        const S* q = ps + os + c0 * sc;
        const int64_t cn = std::min(kTile, nc - c0);
        if (dc == 1) copy_tile<true>(d, q, rn, cn, dr, dc, sr, sc);
        else copy_tile<false>(d, q, rn, cn, dr, dc, sr, sc);
      }
    }
  };
  detail::parallel_for_as<decltype(body)>(0, outer * blocks, grain, body);
}

// A source broadcast along the row (stride 0: [N, 1] expanded to [N, M]) is a
// fill per row; one broadcast along an outer dim ([1, M] to [N, M]) the same
// row copied again and again. With a unit-stride target these, and any rows
// shorter than kShortRow (for_each_row's bookkeeping per row costs more than
// such a row), go through a loop over the other dims that hands a block of
// rows to one call: kernels::fill_rows for the fills; for one row repeated
// into a contiguous block, that row once and then the filled prefix copied
// after itself, doubling up to kRepeatChunk elements (kept in L1) and chunk
// by chunk after that; a copy per row otherwise.
constexpr int64_t kShortRow = 64, kRepeatChunk = 2048;

template <class D, class S>
bool copy_row_blocks(const detail::Loop& L, D* pd, const S* ps) {
  const int a = L.ndim - 1;
  if (L.ndim < 2 || L.strides[0][a] != 1) return false;
  const int64_t n = L.shape[a], si = L.strides[1][a];
  if (!(si == 0 || (si == 1 && (n < kShortRow || L.strides[1][a - 1] == 0)))) return false;
  if (n == 0) return true;  // empty: nothing to copy
  detail::Loop O = L;  // the rows as the elements of a loop over the other dims
  O.ndim = a;
  const int64_t cap = std::max<int64_t>(n, kRepeatChunk / n * n);
  detail::for_each_row(
      O,
      [&](const int64_t* off, int64_t m, const int64_t* inner) {
        D* d = pd + off[0];
        const S* q = ps + off[1];
        if (si == 0) {
          if constexpr (std::is_same_v<D, S>) {
            kernels::fill_rows(d, m, inner[0], n, q, inner[1]);
          } else {
            for (int64_t j = 0; j < m; ++j) {
              const D v = static_cast<D>(q[j * inner[1]]);
              kernels::fill_rows(d + j * inner[0], 1, 0, n, &v, 0);
            }
          }
        } else if (inner[1] == 0 && inner[0] == n) {
          // d[j * n + i] = q[i]: the row, then [0, k) copied to [done, done + k), done and k multiples of n
          for (int64_t i = 0; i < n; ++i) d[i] = static_cast<D>(q[i]);
          for (int64_t done = n, total = m * n; done < total;) {
            const int64_t k = std::min({done, cap, total - done});
            std::memcpy(d + done, d, size_t(k) * sizeof(D));
            done += k;
          }
        } else {
          for (int64_t j = 0; j < m; ++j) {
            D* dj = d + j * inner[0];
            const S* qj = q + j * inner[1];
            if constexpr (std::is_same_v<D, S>) std::memcpy(dj, qj, size_t(n) * sizeof(D));
            else for (int64_t i = 0; i < n; ++i) dj[i] = static_cast<D>(qj[i]);
          }
        }
      },
      std::max<int64_t>(1, 32768 / n));
  return true;
}

}  // namespace

void copy_(const Tensor& dst, const Tensor& src) {
  TG_CHECK(dst.defined() && src.defined(), "copy_: undefined tensor");
  check_writable(dst.shape(), dst.strides(), "copy_");
  Tensor s = src.shape() == dst.shape() ? src : expand(src, dst.shape());
  // as binary_ (this wrote rows it then read, or memcpy'd overlapping ranges);
  // the same layout is a copy onto itself
  if (s.impl()->storage == dst.impl()->storage) {
    if (!overlaps_differently(dst, s)) return;
    s = expand(clone(src), dst.shape());
  }
  const Shape* strides[2] = {&dst.strides(), &s.strides()};
  const detail::Loop L = detail::make_loop(dst.shape(), strides, 2);
  visit_dtype(dst.dtype(), [&](auto zd) {
    using D = decltype(zd);
    visit_dtype(s.dtype(), [&](auto zs) {
      using S = decltype(zs);
      D* pd = dst.raw_ptr<D>();
      const S* ps = s.raw_ptr<S>();
      const int64_t esize[2] = {int64_t(sizeof(D)), int64_t(sizeof(S))};
      if (const int b = tile_dim(L, esize); b >= 0) {
        copy_tiled(L, b, pd, ps);
        return;
      }
      if (copy_row_blocks(L, pd, ps)) return;
      detail::for_each_row(L, [&](const int64_t* off, int64_t n, const int64_t* inner) {
        D* d = pd + off[0];
        const S* q = ps + off[1];
        if (inner[0] == 1) {
          if (inner[1] == 0) {  // one row (a 0-d source expanded to 1-D): a fill
            const D v = static_cast<D>(*q);
            kernels::fill_rows(d, 1, 0, n, &v, 0);
          } else if (inner[1] == 1) {
            if constexpr (std::is_same_v<D, S>) std::memcpy(d, q, size_t(n) * sizeof(D));
            else for (int64_t i = 0; i < n; ++i) d[i] = static_cast<D>(q[i]);
          } else {
            for (int64_t i = 0; i < n; ++i) d[i] = static_cast<D>(q[i * inner[1]]);
          }
          return;
        }
        for (int64_t i = 0; i < n; ++i) d[i * inner[0]] = static_cast<D>(q[i * inner[1]]);
      });
    });
  });
}

void fill_(const Tensor& dst, double value) {
  // As PyTorch: a value the dtype cannot hold is an error (int64 from NaN or
  // 1e30 gave INT64_MIN, an undefined cast); 2.5 into int64 truncates.
  const bool fits = dst.dtype() == DType::Int64   ? value >= -0x1p63 && value < 0x1p63
                    : dst.dtype() == DType::Float32 ? !std::isfinite(value) || std::fabs(value) <= FLT_MAX
                                                    : true;
  TG_CHECK(fits, "fill: the value ", value, " cannot be converted to ", dst.dtype(), " without overflow");
  const Shape* strides[1] = {&dst.strides()};
  const detail::Loop L = detail::make_loop(dst.shape(), strides, 1);
  visit_dtype(dst.dtype(), [&](auto z) {
    using T = decltype(z);
    T* p = dst.raw_ptr<T>();
    const T v = static_cast<T>(value);
    detail::for_each_row(L, [&](const int64_t* off, int64_t n, const int64_t* inner) {
      for (int64_t i = 0; i < n; ++i) p[off[0] + i * inner[0]] = v;
    });
  });
}

Tensor contiguous(const Tensor& x) {
  if (x.is_contiguous()) return x;
  Tensor out = empty(x.shape(), {.dtype = x.dtype()});
  copy_(out, x);
  return out;
}

Tensor clone(const Tensor& x) {
  Tensor out = empty(x.shape(), {.dtype = x.dtype()});
  copy_(out, x);
  return out;
}

Tensor to(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  Tensor out = empty(x.shape(), {.dtype = dtype});
  copy_(out, x);
  return out;
}

}  // namespace tg::raw
