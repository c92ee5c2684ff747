// Per-target bodies of tg::kernels::copy_spans / col2im_plane / col2im_taps / row_dots /
// row_axpy (see conv.h for the contracts). LeNet's spans are 28 and 10 elements
// long, so the per-span overhead is what matters: copies use whole vectors and
// let the last one run over (into the next span's place or the caller's slack);
// col2im sums each output row in a register instead of adding spans into memory.
#if defined(TG_TENSOR_KERNELS_CONV_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TG_TENSOR_KERNELS_CONV_INL_H_
#undef TG_TENSOR_KERNELS_CONV_INL_H_
#else
#define TG_TENSOR_KERNELS_CONV_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>

#include <algorithm>

#include "hwy/highway.h"
#include "tensor/kernels/conv.h"

HWY_BEFORE_NAMESPACE();
namespace tg {
namespace kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class T>
void CopySpans(const T* HWY_RESTRICT src, size_t src_stride, size_t rows, size_t len,
               T* HWY_RESTRICT dst) {
  const hn::ScalableTag<T> d;
  const size_t L = hn::Lanes(d);
  for (size_t r = 0; r < rows; ++r) {
    const T* s = src + r * src_stride;
    T* o = dst + r * len;
    for (size_t i = 0; i < len; i += L) hn::StoreU(hn::LoadU(d, s + i), d, o + i);
  }
}

// ---- col2im_taps (col2im_plane is its unit-stride case; see conv.h):
//      out[h·out_row + j·out_col] = sum over kh < KH, then t < NT, of
//                                   src[kh·ld_kh + t·ld_t + oh·OW + ow]
//      with h + pad_h = oh·sh + kh·dh, ow = j + off0 - t·dt, 0 <= oh < OH, 0 <= ow < OW.
// Each output is one chain of adds from +0 in (kh, t) order, kept in a register:
// a vector of j holds one output row's columns; for tap t it loads the span
// row shifted by off0 - t·dt and zeroes the lanes whose ow falls outside [0, OW)
// (a masked-off lane adds +0, which changes no sum that starts from +0; a tap
// with no lane inside adds +0 from the row's start). Rows are independent
// chains, which the core overlaps. KC > 0 fixes NT at compile time (the taps
// unrolled, their masks in registers); KC == 0 takes NT at run time, masks for
// the first kC2Taps precomputed. Loads may start up to a vector before a span
// row and end up to a vector after it; out gets exactly H·W elements (with
// out_col > 1, a phase of a strided convolution's dx, stored lane by lane).
inline constexpr size_t kC2Taps = 16;

template <size_t KC, class T>
void Col2ImTapsK(const T* HWY_RESTRICT src, const Col2ImTaps& p, T* HWY_RESTRICT out) {
  const hn::ScalableTag<T> d;
  using V = hn::Vec<decltype(d)>;
  using M = hn::Mask<decltype(d)>;
  const size_t L = hn::Lanes(d);
  const size_t NT = KC ? KC : size_t(p.NT);
  constexpr size_t kCap = KC ? KC : kC2Taps;
  const size_t nt = std::min(NT, kCap);
  const size_t H = size_t(p.H), W = size_t(p.W), KH = size_t(p.KH);
  const int64_t OH = p.OH, OW = p.OW, sh = p.sh, dh = p.dh, pad_h = p.pad_h, dt = p.dt, off0 = p.off0;
  const size_t ld_kh = size_t(p.ld_kh), ld_t = size_t(p.ld_t), out_row = size_t(p.out_row),
               out_col = size_t(p.out_col);
  if (OH <= 0 || OW <= 0) {  // no spans: every sum is empty
    for (size_t h = 0; h < H; ++h)
      for (size_t j = 0; j < W; ++j) out[h * out_row + j * out_col] = T(0);
    return;
  }
  for (size_t j0 = 0; j0 < W; j0 += L) {
    const int64_t wl = int64_t(std::min(L, W - j0));
    // Tap t's lane mask and the span offset of lane 0 (none and 0 when no lane is inside).
    const auto tap = [&](size_t t, M& m, int64_t& o) {
      o = int64_t(j0) + off0 - int64_t(t) * dt;
      const int64_t lo = std::max<int64_t>(0, -o), hi = std::min<int64_t>(wl, OW - o);
      if (lo >= hi) {
        m = hn::FirstN(d, 0);
        o = 0;
      } else {
        m = hn::AndNot(hn::FirstN(d, size_t(lo)), hn::FirstN(d, size_t(hi)));
      }
    };
    M mask[kCap];
    int64_t off[kCap];
    for (size_t t = 0; t < nt; ++t) tap(t, mask[t], off[t]);
    for (size_t h = 0; h < H; ++h) {
      V acc = hn::Zero(d);
      for (size_t kh = 0; kh < KH; ++kh) {
        const int64_t r = int64_t(h) + pad_h - int64_t(kh) * dh;
        if (r < 0 || (sh != 1 && r % sh != 0)) continue;
        const int64_t oh = sh == 1 ? r : r / sh;
        if (oh >= OH) continue;
        const T* q = src + kh * ld_kh + size_t(oh * OW);
        for (size_t t = 0; t < nt; ++t)
          acc = hn::Add(acc, hn::IfThenElseZero(mask[t], hn::LoadU(d, q + t * ld_t + off[t])));
        for (size_t t = nt; t < NT; ++t) {
          M m;
          int64_t o;
          tap(t, m, o);
          acc = hn::Add(acc, hn::IfThenElseZero(m, hn::LoadU(d, q + t * ld_t + o)));
        }
      }
      T* dst = out + h * out_row + j0 * out_col;
      if (out_col != 1) {  // a phase of a strided dx: every out_col-th element
        HWY_ALIGN T tmp[hn::MaxLanes(d)];
        hn::Store(acc, d, tmp);
        for (int64_t e = 0; e < wl; ++e) dst[size_t(e) * out_col] = tmp[e];
      } else if (size_t(wl) == L) {
        hn::StoreU(acc, d, dst);
      } else {
#if HWY_TARGET <= HWY_AVX3
        hn::BlendedStore(acc, hn::FirstN(d, size_t(wl)), d, dst);  // AVX-512: writes only those lanes
#else
        HWY_ALIGN T tmp[hn::MaxLanes(d)];
        hn::Store(acc, d, tmp);
        for (int64_t e = 0; e < wl; ++e) dst[e] = tmp[e];
#endif
      }
    }
  }
}

// Unrolled for the tap counts of common kernels: 3 and 5 (unit stride), 2 and
// 4 (the phases of a 3x3 and a 7x7 kernel at stride 2).
template <class T>
void Col2ImTapsT(const T* HWY_RESTRICT src, const Col2ImTaps& p, T* HWY_RESTRICT out) {
  switch (p.NT) {
    case 2:
      return Col2ImTapsK<2>(src, p, out);
    case 3:
      return Col2ImTapsK<3>(src, p, out);
    case 4:
      return Col2ImTapsK<4>(src, p, out);
    case 5:
      return Col2ImTapsK<5>(src, p, out);
    default:
      return Col2ImTapsK<0>(src, p, out);
  }
}

template <class T>
void Col2ImPlane(const T* HWY_RESTRICT src, size_t ld, size_t KH, size_t KW, int64_t OH, int64_t OW, int64_t sh,
                 int64_t dh, int64_t dw, int64_t pad_h, int64_t pad_w, size_t H, size_t W, T* HWY_RESTRICT out) {
  const Col2ImTaps p{.ld_kh = int64_t(KW * ld), .ld_t = int64_t(ld), .KH = int64_t(KH), .NT = int64_t(KW),
                     .OH = OH, .OW = OW, .sh = sh, .dh = dh, .pad_h = pad_h, .dt = dw, .off0 = pad_w,
                     .H = int64_t(H), .W = int64_t(W), .out_row = int64_t(W), .out_col = 1};
  Col2ImTapsT(src, p, out);
}

// ---- row_dots: out[o, q] = sum over images i, rows r, j < len of
//      a[i·a_img + o·a_chan + r·a_row + j] · b[i·b_img + b_off[q] + r·b_row + j]
// A block of MO a-rows x MQ b-rows keeps MO·MQ vector accumulators (24 of the
// 32 AVX-512 registers; 9 of 16 elsewhere); per vector of j it loads MO + MQ
// vectors for MO·MQ FMAs. Rows past M (N) in the last block repeat row M-1
// (N-1) and their sums are dropped. The last partial vector of a row is masked
// to zero in both operands, so whatever lies past len (the caller's slack) never
// reaches a sum, NaN included. Each accumulator is reduced once, at the end.
#if HWY_MAX_BYTES >= 64
inline constexpr size_t kDotMO = 6, kDotMQ = 4;
#else
inline constexpr size_t kDotMO = 3, kDotMQ = 3;
#endif

template <class T>
void RowDots(const T* HWY_RESTRICT a, size_t a_img, size_t a_chan, size_t a_row, size_t M,
             const T* HWY_RESTRICT b, const int64_t* HWY_RESTRICT b_off, size_t b_img, size_t b_row,
             size_t N, size_t imgs, size_t rows, size_t len, T* HWY_RESTRICT out) {
  const hn::ScalableTag<T> d;
  using V = hn::Vec<decltype(d)>;
  const size_t L = hn::Lanes(d);
  const size_t full = len / L * L;
  const auto tail = hn::FirstN(d, len - full);
  for (size_t o0 = 0; o0 < M; o0 += kDotMO) {
    const T* ar[kDotMO];
    for (size_t i = 0; i < kDotMO; ++i) ar[i] = a + std::min(o0 + i, M - 1) * a_chan;
    for (size_t q0 = 0; q0 < N; q0 += kDotMQ) {
      const T* br[kDotMQ];
      for (size_t k = 0; k < kDotMQ; ++k) br[k] = b + b_off[std::min(q0 + k, N - 1)];
      V acc[kDotMO][kDotMQ];
      for (size_t i = 0; i < kDotMO; ++i)
        for (size_t k = 0; k < kDotMQ; ++k) acc[i][k] = hn::Zero(d);
      for (size_t im = 0; im < imgs; ++im)
        for (size_t r = 0; r < rows; ++r) {
          const size_t ao = im * a_img + r * a_row, bo = im * b_img + r * b_row;
          size_t j = 0;
          for (; j < full; j += L) {
            V va[kDotMO];
            for (size_t i = 0; i < kDotMO; ++i) va[i] = hn::LoadU(d, ar[i] + ao + j);
            for (size_t k = 0; k < kDotMQ; ++k) {
              const V vb = hn::LoadU(d, br[k] + bo + j);
              for (size_t i = 0; i < kDotMO; ++i) acc[i][k] = hn::MulAdd(va[i], vb, acc[i][k]);
            }
          }
          if (j < len) {
            V va[kDotMO];
            for (size_t i = 0; i < kDotMO; ++i) va[i] = hn::IfThenElseZero(tail, hn::LoadU(d, ar[i] + ao + j));
            for (size_t k = 0; k < kDotMQ; ++k) {
              const V vb = hn::IfThenElseZero(tail, hn::LoadU(d, br[k] + bo + j));
              for (size_t i = 0; i < kDotMO; ++i) acc[i][k] = hn::MulAdd(va[i], vb, acc[i][k]);
            }
          }
        }
      for (size_t i = 0; i < kDotMO && o0 + i < M; ++i)
        for (size_t k = 0; k < kDotMQ && q0 + k < N; ++k)
          out[(o0 + i) * N + q0 + k] = hn::GetLane(hn::SumOfLanes(d, acc[i][k]));
    }
  }
}

void RowDotsF32(const float* a, int64_t a_img, int64_t a_chan, int64_t a_row, int64_t M, const float* b,
                const int64_t* b_off, int64_t b_img, int64_t b_row, int64_t N, int64_t imgs, int64_t rows,
                int64_t len, float* out) {
  RowDots(a, size_t(a_img), size_t(a_chan), size_t(a_row), size_t(M), b, b_off, size_t(b_img), size_t(b_row),
          size_t(N), size_t(imgs), size_t(rows), size_t(len), out);
}
void RowDotsF64(const double* a, int64_t a_img, int64_t a_chan, int64_t a_row, int64_t M, const double* b,
                const int64_t* b_off, int64_t b_img, int64_t b_row, int64_t N, int64_t imgs, int64_t rows,
                int64_t len, double* out) {
  RowDots(a, size_t(a_img), size_t(a_chan), size_t(a_row), size_t(M), b, b_off, size_t(b_img), size_t(b_row),
          size_t(N), size_t(imgs), size_t(rows), size_t(len), out);
}

// ---- row_axpy: out[o·out_chan + r·out_row + j] (+)= sum over q of
//      w[o·ldw + q] · b[b_off[q] + r·b_row + j]       (o < M, r < rows, j < len)
// the forward of a convolution with unit horizontal stride straight from the
// padded image (b), without im2col. A block of kAxO output channels x kAxR
// rows x kAxJ vectors of j keeps kAxO·kAxR·kAxJ accumulators; per q it loads
// kAxR·kAxJ vectors of b and broadcasts kAxO weights. Channels (rows) past M
// (rows) in the last block repeat the last one and are not stored; the last
// partial vector of j is stored through a buffer (only len elements written).
// Every output is one chain of FMAs in q order, starting from `init` (the
// bias, or zero); with `relu`, x > 0 ? x : 0 of it is stored (ReLU's rule).
#if HWY_MAX_BYTES >= 64
inline constexpr size_t kAxO = 6, kAxR = 2, kAxJ = 2;  // kAxJ == 2: the blocks below assume it
#else
inline constexpr size_t kAxO = 3, kAxR = 2, kAxJ = 2;
#endif

// One block: kAxO channels x kAxR rows x JV vectors from column j0.
template <size_t JV, class T>
HWY_INLINE void RowAxpyBlock(const T* HWY_RESTRICT w, size_t ldw, const T* HWY_RESTRICT init, size_t M, size_t o0,
                             const T* HWY_RESTRICT b, const int64_t* HWY_RESTRICT b_off, size_t b_row, size_t N,
                             size_t rows, size_t r0, size_t len, size_t j0, T* HWY_RESTRICT out, size_t out_chan,
                             size_t out_row, bool relu) {
  const hn::ScalableTag<T> d;
  using V = hn::Vec<decltype(d)>;
  const size_t L = hn::Lanes(d);
  size_t oi[kAxO], ri[kAxR];
  for (size_t i = 0; i < kAxO; ++i) oi[i] = std::min(o0 + i, M - 1);
  for (size_t k = 0; k < kAxR; ++k) ri[k] = std::min(r0 + k, rows - 1);
  V acc[kAxO][kAxR][JV];
  for (size_t i = 0; i < kAxO; ++i) {
    const V v0 = hn::Set(d, init ? init[oi[i]] : T(0));
    for (size_t k = 0; k < kAxR; ++k)
      for (size_t v = 0; v < JV; ++v) acc[i][k][v] = v0;
  }
  for (size_t q = 0; q < N; ++q) {
    V vb[kAxR][JV];
    for (size_t k = 0; k < kAxR; ++k)
      for (size_t v = 0; v < JV; ++v) vb[k][v] = hn::LoadU(d, b + b_off[q] + ri[k] * b_row + j0 + v * L);
    for (size_t i = 0; i < kAxO; ++i) {
      const V vw = hn::Set(d, w[oi[i] * ldw + q]);
      for (size_t k = 0; k < kAxR; ++k)
        for (size_t v = 0; v < JV; ++v) acc[i][k][v] = hn::MulAdd(vw, vb[k][v], acc[i][k][v]);
    }
  }
  if (relu) {  // ReLU's rule: x > 0 ? x : 0 (NaN and -0 become +0)
    const V zero = hn::Zero(d);
    for (size_t i = 0; i < kAxO; ++i)
      for (size_t k = 0; k < kAxR; ++k)
        for (size_t v = 0; v < JV; ++v)
          acc[i][k][v] = hn::IfThenElse(hn::Gt(acc[i][k][v], zero), acc[i][k][v], zero);
  }
  for (size_t i = 0; i < kAxO && o0 + i < M; ++i)
    for (size_t k = 0; k < kAxR && r0 + k < rows; ++k)
      for (size_t v = 0; v < JV; ++v) {
        const size_t j = j0 + v * L;
        T* dst = out + (o0 + i) * out_chan + (r0 + k) * out_row + j;
        if (j + L <= len) {
          hn::StoreU(acc[i][k][v], d, dst);
        } else {
#if HWY_TARGET <= HWY_AVX3
          hn::BlendedStore(acc[i][k][v], hn::FirstN(d, len - j), d, dst);  // AVX-512: writes only those lanes
#else
          HWY_ALIGN T tmp[hn::MaxLanes(d)];
          hn::Store(acc[i][k][v], d, tmp);
          for (size_t e = 0; e < len - j; ++e) dst[e] = tmp[e];
#endif
        }
      }
}

template <class T>
void RowAxpy(const T* HWY_RESTRICT w, size_t ldw, const T* HWY_RESTRICT init, size_t M,
             const T* HWY_RESTRICT b, const int64_t* HWY_RESTRICT b_off, size_t b_row, size_t N, size_t rows,
             size_t len, T* HWY_RESTRICT out, size_t out_chan, size_t out_row, bool relu) {
  const size_t L = hn::Lanes(hn::ScalableTag<T>());
  for (size_t o0 = 0; o0 < M; o0 += kAxO)
    for (size_t r0 = 0; r0 < rows; r0 += kAxR)
      for (size_t j0 = 0; j0 < len; j0 += kAxJ * L) {
        // only vectors that start inside the row: reads end within a vector of len
        if (j0 + L < len)
          RowAxpyBlock<kAxJ>(w, ldw, init, M, o0, b, b_off, b_row, N, rows, r0, len, j0, out, out_chan, out_row,
                             relu);
        else
          RowAxpyBlock<1>(w, ldw, init, M, o0, b, b_off, b_row, N, rows, r0, len, j0, out, out_chan, out_row,
                          relu);
      }
}

void RowAxpyF32(const float* w, int64_t ldw, const float* init, int64_t M, const float* b, const int64_t* b_off,
                int64_t b_row, int64_t N, int64_t rows, int64_t len, float* out, int64_t out_chan, int64_t out_row,
                bool relu) {
  RowAxpy(w, size_t(ldw), init, size_t(M), b, b_off, size_t(b_row), size_t(N), size_t(rows), size_t(len), out,
          size_t(out_chan), size_t(out_row), relu);
}
void RowAxpyF64(const double* w, int64_t ldw, const double* init, int64_t M, const double* b, const int64_t* b_off,
                int64_t b_row, int64_t N, int64_t rows, int64_t len, double* out, int64_t out_chan, int64_t out_row,
                bool relu) {
  RowAxpy(w, size_t(ldw), init, size_t(M), b, b_off, size_t(b_row), size_t(N), size_t(rows), size_t(len), out,
          size_t(out_chan), size_t(out_row), relu);
}

void CopySpansF32(const float* src, int64_t ss, int64_t rows, int64_t len, float* dst) {
  CopySpans(src, size_t(ss), size_t(rows), size_t(len), dst);
}
void CopySpansF64(const double* src, int64_t ss, int64_t rows, int64_t len, double* dst) {
  CopySpans(src, size_t(ss), size_t(rows), size_t(len), dst);
}
void Col2ImTapsF32(const float* src, const Col2ImTaps& p, float* out) { Col2ImTapsT(src, p, out); }
void Col2ImTapsF64(const double* src, const Col2ImTaps& p, double* out) { Col2ImTapsT(src, p, out); }
void Col2ImPlaneF32(const float* src, int64_t ld, int64_t KH, int64_t KW, int64_t OH, int64_t OW, int64_t sh,
                    int64_t dh, int64_t dw, int64_t pad_h, int64_t pad_w, int64_t H, int64_t W, float* out) {
  Col2ImPlane(src, size_t(ld), size_t(KH), size_t(KW), OH, OW, sh, dh, dw, pad_h, pad_w, size_t(H), size_t(W), out);
}
void Col2ImPlaneF64(const double* src, int64_t ld, int64_t KH, int64_t KW, int64_t OH, int64_t OW, int64_t sh,
                    int64_t dh, int64_t dw, int64_t pad_h, int64_t pad_w, int64_t H, int64_t W, double* out) {
  Col2ImPlane(src, size_t(ld), size_t(KH), size_t(KW), OH, OW, sh, dh, dw, pad_h, pad_w, size_t(H), size_t(W), out);
}

}  // namespace HWY_NAMESPACE
}  // namespace kernels
}  // namespace tg
HWY_AFTER_NAMESPACE();

#endif  // include guard
