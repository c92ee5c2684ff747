// conv2d and max/avg pooling on NCHW pointers; see conv.h for the formulas.
// conv2d takes one of three routes (docs/gemm.md): output rows at least a
// vector wide with unit horizontal stride go straight from a padded copy of
// the image (kernels::row_axpy forward, kernels::row_dots for dw); few output
// positions per image put several images side by side in one forward GEMM;
// otherwise im2col + GEMM per image. Layout of the column matrix of one image
// and group:
//   col[(c * KH + kh) * KW + kw, oh * OW + ow] = x[c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw]
// so that y_g[OCg, P] = w_g[OCg, CKK] · col[CKK, P]   (P = OH*OW, CKK = C/groups*KH*KW)
//        dcol = w_gᵀ · dy_g   (col2im adds it back into dx)
//        dw_g += dy_g · colᵀ
// Threads: parallel_for over images (forward, dx) and over fixed chunks of
// images (dw, db: one partial sum per chunk, combined in chunk order).
#include "tensor/conv.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <numeric>
#include <type_traits>
#include <vector>

#include "tensor/error.h"
#include "tensor/gemm.h"
#include "tensor/kernels/conv.h"
#include "tensor/kernels/elementwise.h"
#include "tensor/kernels/pool.h"
#include "tensor/parallel.h"

namespace tg {
namespace {

template <class T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc, GemmEpilogue ep = {}) {
  if constexpr (sizeof(T) == 4)
    sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep);
  else
    dgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep);
}

// A per-thread buffer that only grows (slot 0: columns, 1: column grads,
// 2: the dw/db partial sums of one backward call, 3: max-pool window codes,
// 4: padded images, 6: row_dots offsets).
template <class T, int Slot>
T* scratch(size_t elems) {
  struct Buf {
    void* p = nullptr;
    size_t bytes = 0;
    ~Buf() { std::free(p); }
  };
  thread_local Buf b;
  const size_t need = std::max<size_t>(64, (elems * sizeof(T) + 63) / 64 * 64);
  if (need > b.bytes) {
    std::free(b.p);
    b.p = std::aligned_alloc(64, need);
    if (!b.p) throw std::bad_alloc();
    b.bytes = need;
  }
  return static_cast<T*>(b.p);
}

struct ConvDims {
  int64_t Cg, OCg, OH, OW, P, CKK;
  bool direct;  // 1x1, stride 1, no padding: col is x itself
};

ConvDims check_conv(const Conv2dGeometry& g, const char* op) {
  TG_CHECK(g.N >= 0 && g.C > 0 && g.H > 0 && g.W > 0 && g.OC > 0 && g.KH > 0 && g.KW > 0, op,
           ": expected positive sizes, got N=", g.N, " C=", g.C, " H=", g.H, " W=", g.W,
           " OC=", g.OC, " KH=", g.KH, " KW=", g.KW);
  TG_CHECK(g.stride_h > 0 && g.stride_w > 0 && g.dil_h > 0 && g.dil_w > 0 && g.pad_h >= 0 &&
               g.pad_w >= 0,
           op, ": expected stride > 0, dilation > 0, padding >= 0");
  TG_CHECK(g.groups > 0 && g.C % g.groups == 0 && g.OC % g.groups == 0, op, ": groups=", g.groups,
           " must divide C=", g.C, " and OC=", g.OC);
  ConvDims d;
  d.OH = g.OH();
  d.OW = g.OW();
  TG_CHECK(d.OH > 0 && d.OW > 0, op, ": kernel ", g.KH, "x", g.KW, " (dilation ", g.dil_h, "x",
           g.dil_w, ") is larger than the padded input ", g.H + 2 * g.pad_h, "x",
           g.W + 2 * g.pad_w);
  d.Cg = g.C / g.groups;
  d.OCg = g.OC / g.groups;
  d.P = d.OH * d.OW;
  d.CKK = d.Cg * g.KH * g.KW;
  d.direct = g.KH == 1 && g.KW == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 &&
             g.pad_w == 0;
  return d;
}

// Rows here are short (28 elements for LeNet): GCC would turn the copy and
// fill loops into memcpy/memset calls that cost more than the copies.
#define TG_NO_LIBC_LOOPS __attribute__((optimize("no-tree-loop-distribute-patterns")))

// The element loops for a horizontal stride > 1 when few taps overlap
// (use_phases false: a 1x1 or 2x2 kernel at stride 2): x: [Cg, H, W] of one
// image and group -> col [CKK, P], and dx += col2im(dcol).
// The output columns [lo, hi) whose input column o*s - p + k*dil lies in [0, n).
inline void valid_range(int64_t n, int64_t out, int64_t s, int64_t p, int64_t off, int64_t* lo,
                        int64_t* hi) {
  // need 0 <= o*s + (off - p) < n
  const int64_t base = off - p;
  int64_t a = base >= 0 ? 0 : (-base + s - 1) / s;
  int64_t b = n - base <= 0 ? 0 : (n - base + s - 1) / s;
  *lo = std::min(a, out);
  *hi = std::max(*lo, std::min(b, out));
}

template <class T>
TG_NO_LIBC_LOOPS void im2col(const Conv2dGeometry& g, const ConvDims& d, const T* x, T* col) {
  for (int64_t c = 0; c < d.Cg; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        T* row = col + ((c * g.KH + kh) * g.KW + kw) * d.P;
        int64_t w0, w1;
        valid_range(g.W, d.OW, g.stride_w, g.pad_w, kw * g.dil_w, &w0, &w1);
        for (int64_t oh = 0; oh < d.OH; ++oh) {
          T* out = row + oh * d.OW;
          const int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dil_h;
          if (ih < 0 || ih >= g.H) {
            for (int64_t ow = 0; ow < d.OW; ++ow) out[ow] = T(0);
            continue;
          }
          const T* in = x + (c * g.H + ih) * g.W - g.pad_w + kw * g.dil_w;
          for (int64_t ow = 0; ow < w0; ++ow) out[ow] = T(0);
          if (g.stride_w == 1) {
            for (int64_t ow = w0; ow < w1; ++ow) out[ow] = in[ow];
          } else {
            for (int64_t ow = w0; ow < w1; ++ow) out[ow] = in[ow * g.stride_w];
          }
          for (int64_t ow = w1; ow < d.OW; ++ow) out[ow] = T(0);
        }
      }
}

// dx: [Cg, H, W] += col2im(dcol [CKK, P]).
template <class T>
TG_NO_LIBC_LOOPS void col2im_add(const Conv2dGeometry& g, const ConvDims& d, const T* dcol, T* dx) {
  for (int64_t c = 0; c < d.Cg; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const T* row = dcol + ((c * g.KH + kh) * g.KW + kw) * d.P;
        int64_t w0, w1;
        valid_range(g.W, d.OW, g.stride_w, g.pad_w, kw * g.dil_w, &w0, &w1);
        for (int64_t oh = 0; oh < d.OH; ++oh) {
          const int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dil_h;
          if (ih < 0 || ih >= g.H) continue;
          const T* in = row + oh * d.OW;
          T* out = dx + (c * g.H + ih) * g.W - g.pad_w + kw * g.dil_w;
          if (g.stride_w == 1) {
            for (int64_t ow = w0; ow < w1; ++ow) out[ow] += in[ow];
          } else {
            for (int64_t ow = w0; ow < w1; ++ow) out[ow * g.stride_w] += in[ow];
          }
        }
      }
}

// Every row of col is OH spans of OW contiguous elements: of the zero-padded
// image with a horizontal stride of 1, of one stride phase of it otherwise
// (phase_image, when use_phases below). im2col copies them with whole vectors and col2im sums each
// image row from them in registers (tensor/kernels/conv.h), much faster than
// element loops for LeNet's 28- and 10-wide rows and a 7x7 stride-2 kernel's
// strided reads. Same values, same order of additions, so the same bits.
inline bool unit_stride_w(const Conv2dGeometry& g) { return g.stride_w == 1; }

// With a horizontal stride > 1, the phases (phase_image, col2im_taps) cost one
// strided pass over the image and one scalar store per dx element; the
// element loops one strided access per tap and output. Phases when the taps
// overlap, KH·KW / (sh·sw) > 1 reads per input element (3x3 and 7x7 kernels
// at stride 2: 2.25 and 12.25); the element loops otherwise (a 1x1 stride-2
// downsample: 0.25, where the phases measured 1.1x slower forward, 1.4x dx).
inline bool use_phases(const Conv2dGeometry& g) {
  return g.stride_w > 1 && g.KH * g.KW > g.stride_h * g.stride_w;
}

template <class T>
constexpr int64_t kSlack = kernels::kSpanSlackBytes / int64_t(sizeof(T));

// Elements of the col / dcol scratch: the matrix plus the span kernels' slack.
template <class T>
int64_t col_elems(const ConvDims& d) {
  return d.CKK * d.P + kSlack<T>;
}

// x: [Cg, H, W] -> xp: [Cg, H + 2 ph, W + 2 pw] with zero borders.
template <class T>
void pad_into(const Conv2dGeometry& g, const ConvDims& d, const T* x, T* xp) {
  const int64_t Hp = g.H + 2 * g.pad_h, Wp = g.W + 2 * g.pad_w;
  if (g.pad_h || g.pad_w) std::fill(xp, xp + d.Cg * Hp * Wp, T(0));
  for (int64_t c = 0; c < d.Cg; ++c)
    for (int64_t h = 0; h < g.H; ++h)
      std::copy(x + (c * g.H + h) * g.W, x + (c * g.H + h + 1) * g.W,
                xp + (c * Hp + h + g.pad_h) * Wp + g.pad_w);
}

// pad_into this thread's scratch, followed by kSlack zeros.
template <class T>
T* pad_image(const Conv2dGeometry& g, const ConvDims& d, const T* x) {
  const int64_t n = d.Cg * (g.H + 2 * g.pad_h) * (g.W + 2 * g.pad_w);
  T* xp = scratch<T, 4>(n + kSlack<T>);
  std::fill(xp + n, xp + n + kSlack<T>, T(0));
  pad_into(g, d, x, xp);
  return xp;
}

// The horizontal stride phases of x's zero-padded image xp [Cg, Hp, Wp], in
// this thread's scratch (slot 4), followed by kSlack zeros:
//   xq[((c * nph + r) * Hp + h) * Wq + m] = xp[c, h, r + m * sw]   (0 where r + m * sw >= Wp)
// for r < nph = min(sw, Wp), m < Wq = ceil(Wp / sw). The padded column
// ow * sw + kw * dw of col's row (c, kh, kw) is phase (kw * dw) % sw at
// m = (kw * dw) / sw + ow, so each of its OH spans is OW contiguous elements
// (kw * dw < Wp, so its phase is below nph). One strided pass over the image
// (rather than one per tap) and span copies for col. Phases and image rows
// no tap reads are left unwritten (the span copies' overrun may read them
// into col's slack or a place the next span overwrites).
struct Phases {
  int64_t nph, Hp, Wq;
};
inline Phases phases_of(const Conv2dGeometry& g) {
  const int64_t Wp = g.W + 2 * g.pad_w;
  return {std::min(g.stride_w, Wp), g.H + 2 * g.pad_h, (Wp + g.stride_w - 1) / g.stride_w};
}

// dst[i] = src[i * S] (S = stride when 0), i < n.
template <int64_t S, class T>
TG_NO_LIBC_LOOPS void gather_stride(const T* src, int64_t stride, int64_t n, T* dst) {
  const int64_t st = S ? S : stride;
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i * st];
}

template <class T>
TG_NO_LIBC_LOOPS T* phase_image(const Conv2dGeometry& g, const ConvDims& d, const T* x) {
  const Phases ph = phases_of(g);
  const int64_t sw = g.stride_w, plane = ph.Hp * ph.Wq, n = d.Cg * ph.nph * plane;
  T* xq = scratch<T, 4>(n + kSlack<T>);
  std::fill(xq + n, xq + n + kSlack<T>, T(0));
  // whether some tap reads phase r (a 1x1 kernel: only phase 0)
  const auto used = [&](int64_t r) {
    for (int64_t kw = 0; kw < g.KW; ++kw)
      if (kw * g.dil_w % sw == r) return true;
    return false;
  };
  // whether a tap reads padded row hp (a kernel shorter than its vertical stride skips rows)
  const auto row_read = [&](int64_t hp) {
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      const int64_t t = hp - kh * g.dil_h;
      if (t >= 0 && t % g.stride_h == 0 && t / g.stride_h < d.OH) return true;
    }
    return false;
  };
  for (int64_t c = 0; c < d.Cg; ++c)
    for (int64_t r = 0; r < ph.nph; ++r) {
      if (!used(r)) continue;
      T* q = xq + (c * ph.nph + r) * plane;
      // padded columns r + m * sw inside x: m in [m0, m1)
      const int64_t m0 = std::min(ph.Wq, r >= g.pad_w ? 0 : (g.pad_w - r + sw - 1) / sw);
      const int64_t m1 = std::max(m0, std::min(ph.Wq, (g.pad_w + g.W - r + sw - 1) / sw));
      std::fill(q, q + g.pad_h * ph.Wq, T(0));
      std::fill(q + (g.pad_h + g.H) * ph.Wq, q + plane, T(0));
      for (int64_t h = 0; h < g.H; ++h) {
        if (!row_read(g.pad_h + h)) continue;
        T* row = q + (g.pad_h + h) * ph.Wq;
        for (int64_t m = 0; m < m0; ++m) row[m] = T(0);
        if (m1 > m0) {
          const T* src = x + (c * g.H + h) * g.W + (r + m0 * sw - g.pad_w);
          switch (sw) {
            case 2: gather_stride<2>(src, sw, m1 - m0, row + m0); break;
            case 3: gather_stride<3>(src, sw, m1 - m0, row + m0); break;
            case 4: gather_stride<4>(src, sw, m1 - m0, row + m0); break;
            default: gather_stride<0>(src, sw, m1 - m0, row + m0);
          }
        }
        for (int64_t m = m1; m < ph.Wq; ++m) row[m] = T(0);
      }
    }
  return xq;
}

// x: [Cg, H, W] of one image and group -> col [CKK, P], rows ld apart (d.P
// for one image; wider when images sit side by side), by span copies from
// the padded image (unit horizontal stride) or its phases (phase_image;
// use_phases, else the element loops, which need ld == d.P).
template <class T>
void im2col_spans(const Conv2dGeometry& g, const ConvDims& d, const T* x, T* col, int64_t ld) {
  if (unit_stride_w(g)) {
    const int64_t Hp = g.H + 2 * g.pad_h, Wp = g.W + 2 * g.pad_w;
    const T* xp = pad_image(g, d, x);
    for (int64_t c = 0; c < d.Cg; ++c)
      for (int64_t kh = 0; kh < g.KH; ++kh)
        for (int64_t kw = 0; kw < g.KW; ++kw) {
          const int64_t row = (c * g.KH + kh) * g.KW + kw;
          kernels::copy_spans(xp + (c * Hp + kh * g.dil_h) * Wp + kw * g.dil_w, g.stride_h * Wp,
                              d.OH, d.OW, col + row * ld);
        }
    return;
  }
  if (!use_phases(g)) {
    assert(ld == d.P);  // images side by side only with unit stride (images_per_gemm)
    im2col(g, d, x, col);
    return;
  }
  const Phases ph = phases_of(g);
  const T* xq = phase_image(g, d, x);
  for (int64_t c = 0; c < d.Cg; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const int64_t row = (c * g.KH + kh) * g.KW + kw, r = kw * g.dil_w % g.stride_w,
                      m = kw * g.dil_w / g.stride_w;
        kernels::copy_spans(xq + ((c * ph.nph + r) * ph.Hp + kh * g.dil_h) * ph.Wq + m, g.stride_h * ph.Wq,
                            d.OH, d.OW, col + row * ld);
      }
}

// dx: [Cg, H, W] = col2im(dcol) (overwritten, not accumulated), each dx row
// summed in registers, in the (kh, kw) order of adding dcol's spans one by
// one into a zeroed image. dcol must have kSlack readable elements before it
// and after its last row. Unit horizontal stride: one kernels::col2im_plane
// per channel. Stride sw > 1 (use_phases; else the element loops, zeroed dx
// plus col2im_add): one kernels::col2im_taps per channel and phase
// r < sw of dx's padded columns (jp = r + m * sw): only the taps kw with
// kw * dw ≡ r (mod sw) reach it, kw = k0 + t * q (q = sw / gcd(sw, dw)), at
// ow = m - (kw * dw - r) / sw = m - e0 - t * dt (dt = dw / gcd(sw, dw)).
template <class T>
void col2im_planes(const Conv2dGeometry& g, const ConvDims& d, const T* dcol, T* dx) {
  const int64_t KK = g.KH * g.KW;
  if (unit_stride_w(g)) {
    for (int64_t c = 0; c < d.Cg; ++c)
      kernels::col2im_plane(dcol + c * KK * d.P, d.P, g.KH, g.KW, d.OH, d.OW, g.stride_h, g.dil_h, g.dil_w,
                            g.pad_h, g.pad_w, g.H, g.W, dx + c * g.H * g.W);
    return;
  }
  if (!use_phases(g)) {
    std::fill(dx, dx + d.Cg * g.H * g.W, T(0));
    col2im_add(g, d, dcol, dx);
    return;
  }
  const int64_t sw = g.stride_w, dw = g.dil_w, q = sw / std::gcd(sw, dw), dt = dw / std::gcd(sw, dw);
  for (int64_t r = 0; r < sw; ++r) {
    // dx columns j = r + m * sw - pw in [0, W): m in [m0, m1)
    const int64_t m0 = r >= g.pad_w ? 0 : (g.pad_w - r + sw - 1) / sw;
    const int64_t m1 = g.pad_w + g.W - r <= 0 ? 0 : (g.pad_w + g.W - r + sw - 1) / sw;
    if (m1 <= m0) continue;
    int64_t k0 = 0;  // the first tap of this phase (KW: none)
    while (k0 < g.KW && k0 < q && k0 * dw % sw != r) ++k0;
    if (k0 == q) k0 = g.KW;
    const int64_t nt = k0 < g.KW ? (g.KW - 1 - k0) / q + 1 : 0, e0 = k0 < g.KW ? (k0 * dw - r) / sw : 0;
    const kernels::Col2ImTaps p{.ld_kh = g.KW * d.P, .ld_t = q * d.P, .KH = g.KH, .NT = nt, .OH = d.OH,
                                .OW = d.OW, .sh = g.stride_h, .dh = g.dil_h, .pad_h = g.pad_h, .dt = dt,
                                .off0 = m0 - e0, .H = g.H, .W = m1 - m0, .out_row = g.W, .out_col = sw};
    const int64_t j0 = r + m0 * sw - g.pad_w;
    for (int64_t c = 0; c < d.Cg; ++c)
      kernels::col2im_taps(dcol + c * KK * d.P + std::min(k0, g.KW - 1) * d.P, p, dx + c * g.H * g.W + j0);
  }
}

// The forward by row_axpy and dw by row_dots, without im2col: worth it when a
// row of the output fills a vector (lanes past OW are wasted work).
template <class T>
bool use_row_kernels(const Conv2dGeometry& g, const ConvDims& d) {
  return unit_stride_w(g) && d.OW * int64_t(sizeof(T)) >= kernels::kSpanSlackBytes;
}

// Offsets of col's rows q = (c, kh, kw) in a padded image with rows Wp wide
// and channels Hp rows apart (the row kernels' b_off), in this thread's scratch.
inline const int64_t* window_offsets(const Conv2dGeometry& g, const ConvDims& d, int64_t Hp, int64_t Wp) {
  int64_t* off = scratch<int64_t, 6>(d.CKK);
  for (int64_t c = 0; c < d.Cg; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw)
        off[(c * g.KH + kh) * g.KW + kw] = (c * Hp + kh * g.dil_h) * Wp + kw * g.dil_w;
  return off;
}

// Images [n0, n1): pw[gr][OCg, CKK] = Σ_n dy_g,n · col_g,nᵀ, where col's row
// q = (c, kh, kw) at output row oh is the padded image's row oh·sh + kh·dh
// from column kw·dw on: row_dots of dy's rows against those windows.
template <class T>
void dw_row_dots(const Conv2dGeometry& g, const ConvDims& d, const T* x, const T* dy, int64_t n0, int64_t n1,
                 T* pw) {
  const int64_t Hp = g.H + 2 * g.pad_h, Wp = g.W + 2 * g.pad_w, img = d.Cg * Hp * Wp, nimg = n1 - n0;
  T* xp = scratch<T, 4>(nimg * img + kSlack<T>);
  const int64_t* off = window_offsets(g, d, Hp, Wp);
  // row_dots reads up to a vector past each row: past dy's last row only for
  // the batch's last image, which then comes from a copy with zeroed slack.
  const T* a = dy + n0 * g.OC * d.P;
  if (n1 == g.N) {
    T* copy = scratch<T, 1>(nimg * g.OC * d.P + kSlack<T>);
    std::copy(a, a + nimg * g.OC * d.P, copy);
    std::fill(copy + nimg * g.OC * d.P, copy + nimg * g.OC * d.P + kSlack<T>, T(0));
    a = copy;
  }
  std::fill(xp + nimg * img, xp + nimg * img + kSlack<T>, T(0));
  for (int64_t gr = 0; gr < g.groups; ++gr) {
    for (int64_t n = 0; n < nimg; ++n) pad_into(g, d, x + ((n0 + n) * g.C + gr * d.Cg) * g.H * g.W, xp + n * img);
    kernels::row_dots(a + gr * d.OCg * d.P, g.OC * d.P, d.P, d.OW, d.OCg, xp, off, img, g.stride_h * Wp, d.CKK,
                      nimg, d.OH, d.OW, pw + gr * d.OCg * d.CKK);
  }
}

// Images per chunk of the dw/db reduction: depends on N only.
inline int64_t reduction_chunk(int64_t N) { return std::max<int64_t>(1, (N + 7) / 8); }

}  // namespace

// Images side by side in one GEMM: with few output positions per image
// (LeNet's conv2: 100) a GEMM per image leaves most of its last column tile
// empty; nb images make N = nb·P columns (~1000). Same products and sums per
// element, so the same bits as one image at a time.
inline int64_t images_per_gemm(const Conv2dGeometry& g, const ConvDims& d) {
  if (d.direct || !unit_stride_w(g)) return 1;
  return std::clamp<int64_t>(1024 / d.P, 1, 16);
}

template <class T>
void conv2d_forward(const Conv2dGeometry& g, const T* x, const T* w, const T* bias, T* y, bool relu) {
  const ConvDims d = check_conv(g, "conv2d_forward");
  if (g.N == 0) return;
  if (use_row_kernels<T>(g, d)) {
    // Rows at least a vector wide (LeNet's conv1: 28): straight from the
    // padded image, kernels::row_axpy (no im2col, no GEMM packing, the bias
    // as the start of every sum).
    parallel_for(0, g.N, 1, [&](int64_t n0, int64_t n1) {
      const int64_t Hp = g.H + 2 * g.pad_h, Wp = g.W + 2 * g.pad_w;
      const int64_t* off = window_offsets(g, d, Hp, Wp);
      for (int64_t n = n0; n < n1; ++n)
        for (int64_t gr = 0; gr < g.groups; ++gr) {
          const T* xp = pad_image(g, d, x + (n * g.C + gr * d.Cg) * g.H * g.W);
          kernels::row_axpy(w + gr * d.OCg * d.CKK, d.CKK, bias ? bias + gr * d.OCg : nullptr, d.OCg, xp, off,
                            g.stride_h * Wp, d.CKK, d.OH, d.OW, y + (n * g.OC + gr * d.OCg) * d.P, d.P, d.OW,
                            relu);
        }
    });
    return;
  }
  const int64_t nb = images_per_gemm(g, d);
  if (nb > 1) {
    const int64_t ld = nb * d.P + kSlack<T>;  // col row stride (the span copies run over into the slack)
    parallel_for(0, g.N, nb, [&](int64_t n0, int64_t n1) {
      T* col = scratch<T, 0>(d.CKK * ld + kSlack<T>);
      T* out = scratch<T, 1>(d.OCg * nb * d.P);
      // this range's m images in nsets sets of at most nb, sizes differing by at
      // most one (32: 8 + 8 + 8 + 8, not 10 + 10 + 10 + 2; 64: 10 + 9 x 6)
      const int64_t m = n1 - n0, nsets = (m + nb - 1) / nb, base = m / nsets, rem = m % nsets;
      for (int64_t set = 0, c0 = n0; set < nsets; ++set) {
        const int64_t k = base + (set < rem ? 1 : 0);
        for (int64_t gr = 0; gr < g.groups; ++gr) {
          for (int64_t i = 0; i < k; ++i)
            im2col_spans(g, d, x + ((c0 + i) * g.C + gr * d.Cg) * g.H * g.W, col + i * d.P, ld);
          // out[OCg, k·P] = w_g[OCg, CKK] · col[CKK, k·P]
          gemm<T>(false, false, d.OCg, k * d.P, d.CKK, T(1), w + gr * d.OCg * d.CKK, d.CKK, col, ld, T(0), out,
                  k * d.P);
          for (int64_t i = 0; i < k; ++i)
            for (int64_t o = 0; o < d.OCg; ++o) {
              const T* src = out + o * k * d.P + i * d.P;
              T* dst = y + ((c0 + i) * g.OC + gr * d.OCg + o) * d.P;
              const T b = bias ? bias[gr * d.OCg + o] : T(0);
              if (relu)  // + bias, then relu's rule (adding a zero bias changes no result of it)
                for (int64_t p = 0; p < d.P; ++p) {
                  const T v = src[p] + b;
                  dst[p] = v > T(0) ? v : T(0);
                }
              else if (bias)
                for (int64_t p = 0; p < d.P; ++p) dst[p] = src[p] + b;
              else
                std::copy(src, src + d.P, dst);
            }
        }
        c0 += k;
      }
    });
    return;
  }
  parallel_for(0, g.N, 1, [&](int64_t n0, int64_t n1) {
    T* col = d.direct ? nullptr : scratch<T, 0>(col_elems<T>(d));
    for (int64_t n = n0; n < n1; ++n) {
      for (int64_t gr = 0; gr < g.groups; ++gr) {
        const T* xg = x + (n * g.C + gr * d.Cg) * g.H * g.W;
        T* yg = y + (n * g.OC + gr * d.OCg) * d.P;
        const T* cols = xg;
        if (!d.direct) {
          im2col_spans(g, d, xg, col, d.P);
          cols = col;
        }
        T beta = T(0);
        if (bias) {
          for (int64_t o = 0; o < d.OCg; ++o)
            std::fill(yg + o * d.P, yg + (o + 1) * d.P, bias[gr * d.OCg + o]);
          beta = T(1);
        }
        // y_g[OCg, P] = w_g[OCg, CKK] · col[CKK, P] (+ y_g holding the bias), relu in the epilogue
        gemm<T>(false, false, d.OCg, d.P, d.CKK, T(1), w + gr * d.OCg * d.CKK, d.CKK, cols, d.P,
                beta, yg, d.P, {nullptr, relu});
      }
    }
  });
}

template <class T>
void conv2d_backward(const Conv2dGeometry& g, const T* x, const T* w, const T* dy, T* dx, T* dw,
                     T* db) {
  const ConvDims d = check_conv(g, "conv2d_backward");
  const int64_t wsize = g.OC * d.CKK;
  if (g.N == 0) {
    if (dw) std::fill(dw, dw + wsize, T(0));
    if (db) std::fill(db, db + g.OC, T(0));
    return;
  }
  // dx = col2im(w_gᵀ · dy_g), image by image.
  if (dx) {
    parallel_for(0, g.N, 1, [&](int64_t n0, int64_t n1) {
      // dcol with kSlack zeros on either side (col2im_plane reads up to a vector around each span row)
      T* dcol = nullptr;
      if (!d.direct) {
        dcol = scratch<T, 1>(col_elems<T>(d) + kSlack<T>) + kSlack<T>;
        std::fill(dcol - kSlack<T>, dcol, T(0));
        std::fill(dcol + d.CKK * d.P, dcol + d.CKK * d.P + kSlack<T>, T(0));
      }
      for (int64_t n = n0; n < n1; ++n)
        for (int64_t gr = 0; gr < g.groups; ++gr) {
          const T* dyg = dy + (n * g.OC + gr * d.OCg) * d.P;
          T* dxg = dx + (n * g.C + gr * d.Cg) * g.H * g.W;
          const T* wg = w + gr * d.OCg * d.CKK;
          if (d.direct) {  // dx_g[Cg, HW] = w_gᵀ · dy_g
            gemm<T>(true, false, d.CKK, d.P, d.OCg, T(1), wg, d.CKK, dyg, d.P, T(0), dxg, d.P);
            continue;
          }
          gemm<T>(true, false, d.CKK, d.P, d.OCg, T(1), wg, d.CKK, dyg, d.P, T(0), dcol, d.P);
          col2im_planes(g, d, dcol, dxg);
        }
    });
  }
  if (!dw && !db) return;
  // dw = sum_n dy_n · col_nᵀ and db = sum_n,p dy: one partial per fixed chunk
  // of images, summed image by image inside it, chunks combined in order.
  // With fewer output channels than columns of col (LeNet: 6 < 25, 16 < 150)
  // the partials hold dw_gᵀ = col · dy_gᵀ instead: the GEMM then packs the
  // small dy_g rather than transposing all of col, and every product and sum
  // is the same (a·b = b·a), so the bits are too.
  // With a horizontal stride of 1 and rows at least half a vector wide
  // (LeNet's conv1: 28), dw comes straight from dy and the padded images as
  // dot products along the rows (kernels::row_dots), without im2col: one pass
  // over the chunk's images per block of 6 x 4 weights, each sum reduced once.
  const bool dot_dw = dw && use_row_kernels<T>(g, d);
  const bool dw_t = !dot_dw && d.OCg < d.CKK;
  const int64_t chunk = reduction_chunk(g.N), nchunks = (g.N + chunk - 1) / chunk;
  const int64_t stride = wsize + g.OC;
  // (the caller's thread keeps the partials buffer: no allocation after warm-up)
  T* partial = scratch<T, 2>(nchunks * stride);
  parallel_chunks(g.N, chunk, [&](int64_t ci, int64_t n0, int64_t n1) {
    T* pw = partial + ci * stride;
    T* pb = pw + wsize;
    if (dot_dw) dw_row_dots(g, d, x, dy, n0, n1, pw);
    T* col = d.direct || dot_dw ? nullptr : scratch<T, 0>(col_elems<T>(d));
    for (int64_t n = n0; n < n1; ++n) {
      const T beta = n == n0 ? T(0) : T(1);
      for (int64_t gr = 0; gr < g.groups; ++gr) {
        const T* dyg = dy + (n * g.OC + gr * d.OCg) * d.P;
        if (dw && !dot_dw) {
          const T* xg = x + (n * g.C + gr * d.Cg) * g.H * g.W;
          const T* cols = xg;
          if (!d.direct) {
            im2col_spans(g, d, xg, col, d.P);
            cols = col;
          }
          if (dw_t)  // dw_gᵀ[CKK, OCg] (+)= col[CKK, P] · dy_gᵀ
            gemm<T>(false, true, d.CKK, d.OCg, d.P, T(1), cols, d.P, dyg, d.P, beta,
                    pw + gr * d.OCg * d.CKK, d.OCg);
          else  // dw_g[OCg, CKK] (+)= dy_g[OCg, P] · colᵀ
            gemm<T>(false, true, d.OCg, d.CKK, d.P, T(1), dyg, d.P, cols, d.P, beta,
                    pw + gr * d.OCg * d.CKK, d.CKK);
        }
        if (db)
          for (int64_t o = 0; o < d.OCg; ++o) {
            const T s = kernels::sum(dyg + o * d.P, d.P);
            pb[gr * d.OCg + o] = (n == n0 ? T(0) : pb[gr * d.OCg + o]) + s;
          }
      }
    }
  });
  if (dw && !dw_t) {
    std::copy(partial, partial + wsize, dw);
    for (int64_t c = 1; c < nchunks; ++c) {
      const T* pw = partial + c * stride;
      for (int64_t i = 0; i < wsize; ++i) dw[i] += pw[i];
    }
  }
  if (dw && dw_t) {  // partials are [groups][CKK, OCg]: transpose while summing
    for (int64_t gr = 0; gr < g.groups; ++gr)
      for (int64_t o = 0; o < d.OCg; ++o)
        for (int64_t q = 0; q < d.CKK; ++q) {
          const int64_t src = gr * d.OCg * d.CKK + q * d.OCg + o;
          T v = partial[src];
          for (int64_t c = 1; c < nchunks; ++c) v += partial[c * stride + src];
          dw[(gr * d.OCg + o) * d.CKK + q] = v;
        }
  }
  if (db) {
    std::copy(partial + wsize, partial + stride, db);
    for (int64_t c = 1; c < nchunks; ++c) {
      const T* pb = partial + c * stride + wsize;
      for (int64_t i = 0; i < g.OC; ++i) db[i] += pb[i];
    }
  }
}

// ---------------------------------------------------------------------------
// Pooling: planes (n, c) are independent; threads go over planes.

namespace {
void check_pool(const Pool2dGeometry& g, const char* op) {
  TG_CHECK(g.N >= 0 && g.C > 0 && g.H > 0 && g.W > 0 && g.KH > 0 && g.KW > 0 && g.stride_h > 0 &&
               g.stride_w > 0,
           op, ": expected positive sizes and strides, got N=", g.N, " C=", g.C, " H=", g.H,
           " W=", g.W, " kernel ", g.KH, "x", g.KW, " stride ", g.stride_h, "x", g.stride_w);
  TG_CHECK(g.pad_h >= 0 && g.pad_w >= 0 && 2 * g.pad_h <= g.KH && 2 * g.pad_w <= g.KW, op,
           ": padding ", g.pad_h, "x", g.pad_w, " must be at most half the kernel ", g.KH, "x",
           g.KW);
  TG_CHECK(g.OH() > 0 && g.OW() > 0, op, ": kernel ", g.KH, "x", g.KW,
           " is larger than the padded input ", g.H + 2 * g.pad_h, "x", g.W + 2 * g.pad_w);
}

template <class F>
void for_planes(const Pool2dGeometry& g, F&& f) {
  const int64_t planes = g.N * g.C;
  const int64_t work = std::max<int64_t>(1, g.H * g.W);
  detail::parallel_for_as<F>(0, planes, std::max<int64_t>(1, 16384 / work), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) f(p);
  });
}
}  // namespace

template <class T>
void max_pool2d_forward(const Pool2dGeometry& g, const T* x, T* y, int64_t* argmax) {
  check_pool(g, "max_pool2d_forward");
  const int64_t OH = g.OH(), OW = g.OW();
  // The common case (LeNet's pools): 2x2 windows, stride 2, no padding, every
  // window inside the image. Branch-free selects, same result and tie/NaN rule
  // as the general loop below (first maximum wins; a NaN wins over numbers).
  const bool k2 = g.KH == 2 && g.KW == 2 && g.stride_h == 2 && g.stride_w == 2 && g.pad_h == 0 && g.pad_w == 0 &&
                  2 * OH <= g.H && 2 * OW <= g.W;
  if (k2) {
    for_planes(g, [&](int64_t p) {
      kernels::max_pool2x2_plane(x + p * g.H * g.W, g.W, OH, OW, y + p * OH * OW,
                                 argmax ? argmax + p * OH * OW : nullptr);
    });
    return;
  }
  for_planes(g, [&](int64_t p) {
    const T* xp = x + p * g.H * g.W;
    T* yp = y + p * OH * OW;
    int64_t* ap = argmax ? argmax + p * OH * OW : nullptr;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const int64_t h0 = std::max<int64_t>(0, oh * g.stride_h - g.pad_h);
      const int64_t h1 = std::min(g.H, oh * g.stride_h - g.pad_h + g.KH);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t w0 = std::max<int64_t>(0, ow * g.stride_w - g.pad_w);
        const int64_t w1 = std::min(g.W, ow * g.stride_w - g.pad_w + g.KW);
        T best = -std::numeric_limits<T>::infinity();
        int64_t arg = h0 * g.W + w0;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) {
            const T v = xp[h * g.W + w];
            if (v > best || std::isnan(v)) {  // PyTorch's rule: the last NaN wins
              best = v;
              arg = h * g.W + w;
            }
          }
        yp[oh * OW + ow] = best;
        if (ap) ap[oh * OW + ow] = arg;
      }
    }
  });
}

template <class T>
void max_pool2d_backward(const Pool2dGeometry& g, const T* dy, const int64_t* argmax, T* dx) {
  check_pool(g, "max_pool2d_backward");
  const int64_t OH = g.OH(), OW = g.OW();
  for_planes(g, [&](int64_t p) {
    T* dxp = dx + p * g.H * g.W;
    std::fill(dxp, dxp + g.H * g.W, T(0));
    const T* dyp = dy + p * OH * OW;
    const int64_t* ap = argmax + p * OH * OW;
    for (int64_t i = 0; i < OH * OW; ++i) dxp[ap[i]] += dyp[i];
  });
}

namespace {
// PyTorch's avg_pool2d window: [h0, h1) x [w0, w1) clipped, and its divisor.
struct AvgWindow {
  int64_t h0, h1, w0, w1, div;
};
inline AvgWindow avg_window(const Pool2dGeometry& g, int64_t oh, int64_t ow) {
  AvgWindow a;
  a.h0 = oh * g.stride_h - g.pad_h;
  a.w0 = ow * g.stride_w - g.pad_w;
  a.h1 = std::min(a.h0 + g.KH, g.H + g.pad_h);
  a.w1 = std::min(a.w0 + g.KW, g.W + g.pad_w);
  const int64_t padded = (a.h1 - a.h0) * (a.w1 - a.w0);
  a.h0 = std::max<int64_t>(a.h0, 0);
  a.w0 = std::max<int64_t>(a.w0, 0);
  a.h1 = std::min(a.h1, g.H);
  a.w1 = std::min(a.w1, g.W);
  a.div = g.count_include_pad ? padded : (a.h1 - a.h0) * (a.w1 - a.w0);
  return a;
}
}  // namespace

template <class T>
void avg_pool2d_forward(const Pool2dGeometry& g, const T* x, T* y) {
  check_pool(g, "avg_pool2d_forward");
  const int64_t OH = g.OH(), OW = g.OW();
  for_planes(g, [&](int64_t p) {
    const T* xp = x + p * g.H * g.W;
    T* yp = y + p * OH * OW;
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        const AvgWindow a = avg_window(g, oh, ow);
        T s = 0;
        for (int64_t h = a.h0; h < a.h1; ++h)
          for (int64_t w = a.w0; w < a.w1; ++w) s += xp[h * g.W + w];
        yp[oh * OW + ow] = a.div > 0 ? s / T(a.div) : T(0);
      }
  });
}

template <class T>
void avg_pool2d_backward(const Pool2dGeometry& g, const T* dy, T* dx) {
  check_pool(g, "avg_pool2d_backward");
  const int64_t OH = g.OH(), OW = g.OW();
  for_planes(g, [&](int64_t p) {
    T* dxp = dx + p * g.H * g.W;
    std::fill(dxp, dxp + g.H * g.W, T(0));
    const T* dyp = dy + p * OH * OW;
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        const AvgWindow a = avg_window(g, oh, ow);
        if (a.div <= 0) continue;
        const T v = dyp[oh * OW + ow] / T(a.div);
        for (int64_t h = a.h0; h < a.h1; ++h)
          for (int64_t w = a.w0; w < a.w1; ++w) dxp[h * g.W + w] += v;
      }
  });
}

#define TG_CONV_INSTANTIATE(T)                                                                 \
  template void conv2d_forward<T>(const Conv2dGeometry&, const T*, const T*, const T*, T*, bool); \
  template void conv2d_backward<T>(const Conv2dGeometry&, const T*, const T*, const T*, T*, T*, \
                                   T*);                                                        \
  template void max_pool2d_forward<T>(const Pool2dGeometry&, const T*, T*, int64_t*);          \
  template void max_pool2d_backward<T>(const Pool2dGeometry&, const T*, const int64_t*, T*);   \
  template void avg_pool2d_forward<T>(const Pool2dGeometry&, const T*, T*);                    \
  template void avg_pool2d_backward<T>(const Pool2dGeometry&, const T*, T*);
TG_CONV_INSTANTIATE(float)
TG_CONV_INSTANTIATE(double)

}  // namespace tg
