// Span copies for im2col, col2im by rows, with unit horizontal stride: the
// inner loops of conv2d on a padded image, dispatched at run time.
//
//   copy_spans: dst[r * len + i]         = src[r * src_stride + i]      (r < rows, i < len)
//
// copy_spans moves whole vectors: it may read up to kSpanSlackBytes past each
// source span and write up to kSpanSlackBytes past dst[rows * len - 1]; the
// caller provides that slack (conv.cc's scratch buffers) and calls it in
// increasing dst order, so a span's overflow is overwritten by the next one.
//
//   col2im_plane: out[h * W + j] = sum over kh < KH, then kw < KW, of
//                   src[(kh * KW + kw) * ld + oh * OW + ow]
//                 where h + pad_h = oh * sh + kh * dh and j + pad_w = ow + kw * dw,
//                 0 <= oh < OH, 0 <= ow < OW        (h < H, j < W; out overwritten)
// one input channel of col2im with unit horizontal stride: src holds that
// channel's KH * KW rows of the column matrix, ld apart. Each output is one
// chain of additions from +0 in (kh, kw) order (the order of adding the spans
// one by one into a zeroed image; lanes outside a span add +0, which leaves
// such a sum unchanged in the default rounding mode without flush-to-zero,
// the only one tapegrad runs in). OH or OW <= 0: all zeros. It may read up to kSpanSlackBytes before
// src and past the end of every span row (those values never reach a sum);
// it writes exactly the H * W outputs.
//
//   col2im_taps: out[h * out_row + j * out_col] = sum over kh < KH, then t < NT, of
//                  src[kh * ld_kh + t * ld_t + oh * OW + ow]
//                where h + pad_h = oh * sh + kh * dh and ow = j + off0 - t * dt,
//                0 <= oh < OH, 0 <= ow < OW        (h < H, j < W; out overwritten)
// col2im_plane in general form, for a horizontal stride sw > 1: the output
// columns of one phase (padded column ≡ r mod sw) get contributions only from
// the taps kw with kw·dw ≡ r (mod sw), each a span shifted by a whole number
// of elements, so conv.cc sums each phase with unit steps (NT taps, ld_t
// apart, shifts dt apart) and writes it out_col = sw apart. col2im_plane is
// the case ld_kh = KW·ld, ld_t = ld, NT = KW, dt = dw, off0 = pad_w,
// out_row = W, out_col = 1. Same order, slack and write rules as col2im_plane.
//
//   row_dots:   out[o * N + q] = sum over i < imgs, r < rows, j < len of
//                 a[i * a_img + o * a_chan + r * a_row + j] * b[i * b_img + b_off[q] + r * b_row + j]
//               (o < M, q < N; out overwritten)
// the weight gradient of a convolution with unit horizontal stride straight
// from dy (a) and the padded image (b), without im2col: q = (c, kh, kw) is an
// offset into the padded image. It may read up to kSpanSlackBytes past the
// last element of every row of a and b (lanes past len are masked out, so
// their values never matter); its sums run in a fixed order per target.
//
//   row_axpy:   out[o * out_chan + r * out_row + j] = init[o] (or 0 if init is null)
//                 + sum over q < N, in q order, of w[o * ldw + q] * b[b_off[q] + r * b_row + j]
//               (o < M, r < rows, j < len; one fused multiply-add per q), and
//               with relu, s > 0 ? s : 0 of that sum s (ReLU's rule: NaN and -0 give +0)
// the forward of a convolution with unit horizontal stride from the padded
// image, without im2col. It may read up to kSpanSlackBytes past the last
// element of every row of b; it writes exactly the outputs named. Each output
// is one chain of multiply-adds in q order (fused where the target has FMA,
// as in the twin).
// The scalar twins (*_ref) are what the tests compare every target against.
#pragma once
#include <cstdint>

namespace tg::kernels {

inline constexpr int64_t kSpanSlackBytes = 64;

void copy_spans(const float* src, int64_t src_stride, int64_t rows, int64_t len, float* dst);
void copy_spans(const double* src, int64_t src_stride, int64_t rows, int64_t len, double* dst);
void col2im_plane(const float* src, int64_t ld, int64_t KH, int64_t KW, int64_t OH, int64_t OW, int64_t sh,
                  int64_t dh, int64_t dw, int64_t pad_h, int64_t pad_w, int64_t H, int64_t W, float* out);
void col2im_plane(const double* src, int64_t ld, int64_t KH, int64_t KW, int64_t OH, int64_t OW, int64_t sh,
                  int64_t dh, int64_t dw, int64_t pad_h, int64_t pad_w, int64_t H, int64_t W, double* out);
struct Col2ImTaps {
  int64_t ld_kh, ld_t;       // src offset of kernel row kh, of tap t
  int64_t KH, NT, OH, OW;    // kernel rows, taps; span rows and length
  int64_t sh, dh, pad_h;     // vertical stride, dilation, padding
  int64_t dt, off0;          // ow = j + off0 - t * dt
  int64_t H, W;              // outputs: H rows of W
  int64_t out_row, out_col;  // out[h * out_row + j * out_col]
};
void col2im_taps(const float* src, const Col2ImTaps& p, float* out);
void col2im_taps(const double* src, const Col2ImTaps& p, double* out);
void col2im_taps_ref(const float* src, const Col2ImTaps& p, float* out);
void col2im_taps_ref(const double* src, const Col2ImTaps& p, double* out);
void col2im_plane_ref(const float* src, int64_t ld, int64_t KH, int64_t KW, int64_t OH, int64_t OW, int64_t sh,
                      int64_t dh, int64_t dw, int64_t pad_h, int64_t pad_w, int64_t H, int64_t W, float* out);
void col2im_plane_ref(const double* src, int64_t ld, int64_t KH, int64_t KW, int64_t OH, int64_t OW, int64_t sh,
                      int64_t dh, int64_t dw, int64_t pad_h, int64_t pad_w, int64_t H, int64_t W, double* out);

void row_dots(const float* a, int64_t a_img, int64_t a_chan, int64_t a_row, int64_t M, const float* b,
              const int64_t* b_off, int64_t b_img, int64_t b_row, int64_t N, int64_t imgs, int64_t rows,
              int64_t len, float* out);
void row_dots(const double* a, int64_t a_img, int64_t a_chan, int64_t a_row, int64_t M, const double* b,
              const int64_t* b_off, int64_t b_img, int64_t b_row, int64_t N, int64_t imgs, int64_t rows,
              int64_t len, double* out);
void row_dots_ref(const float* a, int64_t a_img, int64_t a_chan, int64_t a_row, int64_t M, const float* b,
                  const int64_t* b_off, int64_t b_img, int64_t b_row, int64_t N, int64_t imgs, int64_t rows,
                  int64_t len, float* out);
void row_dots_ref(const double* a, int64_t a_img, int64_t a_chan, int64_t a_row, int64_t M, const double* b,
                  const int64_t* b_off, int64_t b_img, int64_t b_row, int64_t N, int64_t imgs, int64_t rows,
                  int64_t len, double* out);

void row_axpy(const float* w, int64_t ldw, const float* init, int64_t M, const float* b, const int64_t* b_off,
              int64_t b_row, int64_t N, int64_t rows, int64_t len, float* out, int64_t out_chan, int64_t out_row,
              bool relu = false);
void row_axpy(const double* w, int64_t ldw, const double* init, int64_t M, const double* b, const int64_t* b_off,
              int64_t b_row, int64_t N, int64_t rows, int64_t len, double* out, int64_t out_chan, int64_t out_row,
              bool relu = false);
void row_axpy_ref(const float* w, int64_t ldw, const float* init, int64_t M, const float* b, const int64_t* b_off,
                  int64_t b_row, int64_t N, int64_t rows, int64_t len, float* out, int64_t out_chan, int64_t out_row,
                  bool relu = false);
void row_axpy_ref(const double* w, int64_t ldw, const double* init, int64_t M, const double* b,
                  const int64_t* b_off, int64_t b_row, int64_t N, int64_t rows, int64_t len, double* out,
                  int64_t out_chan, int64_t out_row, bool relu = false);

void copy_spans_ref(const float* src, int64_t src_stride, int64_t rows, int64_t len, float* dst);
void copy_spans_ref(const double* src, int64_t src_stride, int64_t rows, int64_t len,
                    double* dst);

}  // namespace tg::kernels
