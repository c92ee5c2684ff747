// Per-target compilation and dynamic dispatch of conv-inl.h, plus the scalar
// twins: the span copy and col2im (plane and taps) one element at a time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tensor/kernels/conv.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "tensor/kernels/conv-inl.h"

#if HWY_ONCE
#include "tensor/kernels/conv.h"

#include <cmath>

namespace tg::kernels {

HWY_EXPORT(CopySpansF32);
HWY_EXPORT(CopySpansF64);
HWY_EXPORT(Col2ImPlaneF32);
HWY_EXPORT(Col2ImPlaneF64);
HWY_EXPORT(Col2ImTapsF32);
HWY_EXPORT(Col2ImTapsF64);
HWY_EXPORT(RowDotsF32);
HWY_EXPORT(RowDotsF64);
HWY_EXPORT(RowAxpyF32);
HWY_EXPORT(RowAxpyF64);

void row_axpy(const float* w, int64_t ldw, const float* init, int64_t M, const float* b, const int64_t* b_off,
              int64_t b_row, int64_t N, int64_t rows, int64_t len, float* out, int64_t out_chan, int64_t out_row,
              bool relu) {
  HWY_DYNAMIC_DISPATCH(RowAxpyF32)(w, ldw, init, M, b, b_off, b_row, N, rows, len, out, out_chan, out_row, relu);
}
void row_axpy(const double* w, int64_t ldw, const double* init, int64_t M, const double* b, const int64_t* b_off,
              int64_t b_row, int64_t N, int64_t rows, int64_t len, double* out, int64_t out_chan, int64_t out_row,
              bool relu) {
  HWY_DYNAMIC_DISPATCH(RowAxpyF64)(w, ldw, init, M, b, b_off, b_row, N, rows, len, out, out_chan, out_row, relu);
}

void row_dots(const float* a, int64_t a_img, int64_t a_chan, int64_t a_row, int64_t M, const float* b,
              const int64_t* b_off, int64_t b_img, int64_t b_row, int64_t N, int64_t imgs, int64_t rows,
              int64_t len, float* out) {
  HWY_DYNAMIC_DISPATCH(RowDotsF32)(a, a_img, a_chan, a_row, M, b, b_off, b_img, b_row, N, imgs, rows, len, out);
}
void row_dots(const double* a, int64_t a_img, int64_t a_chan, int64_t a_row, int64_t M, const double* b,
              const int64_t* b_off, int64_t b_img, int64_t b_row, int64_t N, int64_t imgs, int64_t rows,
              int64_t len, double* out) {
  HWY_DYNAMIC_DISPATCH(RowDotsF64)(a, a_img, a_chan, a_row, M, b, b_off, b_img, b_row, N, imgs, rows, len, out);
}

void copy_spans(const float* src, int64_t ss, int64_t rows, int64_t len, float* dst) {
  HWY_DYNAMIC_DISPATCH(CopySpansF32)(src, ss, rows, len, dst);
}
void copy_spans(const double* src, int64_t ss, int64_t rows, int64_t len, double* dst) {
  HWY_DYNAMIC_DISPATCH(CopySpansF64)(src, ss, rows, len, dst);
}
void col2im_plane(const float* src, int64_t ld, int64_t KH, int64_t KW, int64_t OH, int64_t OW, int64_t sh,
                  int64_t dh, int64_t dw, int64_t pad_h, int64_t pad_w, int64_t H, int64_t W, float* out) {
  HWY_DYNAMIC_DISPATCH(Col2ImPlaneF32)(src, ld, KH, KW, OH, OW, sh, dh, dw, pad_h, pad_w, H, W, out);
}
void col2im_plane(const double* src, int64_t ld, int64_t KH, int64_t KW, int64_t OH, int64_t OW, int64_t sh,
                  int64_t dh, int64_t dw, int64_t pad_h, int64_t pad_w, int64_t H, int64_t W, double* out) {
  HWY_DYNAMIC_DISPATCH(Col2ImPlaneF64)(src, ld, KH, KW, OH, OW, sh, dh, dw, pad_h, pad_w, H, W, out);
}

void col2im_taps(const float* src, const Col2ImTaps& p, float* out) {
  HWY_DYNAMIC_DISPATCH(Col2ImTapsF32)(src, p, out);
}
void col2im_taps(const double* src, const Col2ImTaps& p, double* out) {
  HWY_DYNAMIC_DISPATCH(Col2ImTapsF64)(src, p, out);
}

namespace {
template <class T>
void col2im_taps_ref_t(const T* src, const Col2ImTaps& p, T* out) {
  for (int64_t h = 0; h < p.H; ++h)
    for (int64_t j = 0; j < p.W; ++j) {
      T s = 0;
      for (int64_t kh = 0; kh < p.KH; ++kh)
        for (int64_t t = 0; t < p.NT; ++t) {
          const int64_t r = h + p.pad_h - kh * p.dh, ow = j + p.off0 - t * p.dt;
          if (r < 0 || r % p.sh != 0 || r / p.sh >= p.OH || ow < 0 || ow >= p.OW) continue;
          s += src[kh * p.ld_kh + t * p.ld_t + r / p.sh * p.OW + ow];
        }
      out[h * p.out_row + j * p.out_col] = s;
    }
}
template <class T>
void copy_ref(const T* src, int64_t ss, int64_t rows, int64_t len, T* dst) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < len; ++i) dst[r * len + i] = src[r * ss + i];
}
template <class T>
void col2im_plane_ref_t(const T* src, int64_t ld, int64_t KH, int64_t KW, int64_t OH, int64_t OW, int64_t sh,
                        int64_t dh, int64_t dw, int64_t pad_h, int64_t pad_w, int64_t H, int64_t W, T* out) {
  for (int64_t h = 0; h < H; ++h)
    for (int64_t j = 0; j < W; ++j) {
      T s = 0;
      for (int64_t kh = 0; kh < KH; ++kh)
        for (int64_t kw = 0; kw < KW; ++kw) {
          const int64_t t = h + pad_h - kh * dh, ow = j + pad_w - kw * dw;
          if (t < 0 || t % sh != 0 || t / sh >= OH || ow < 0 || ow >= OW) continue;
          s += src[(kh * KW + kw) * ld + t / sh * OW + ow];
        }
      out[h * W + j] = s;
    }
}
template <class T>
void row_dots_ref_t(const T* a, int64_t a_img, int64_t a_chan, int64_t a_row, int64_t M, const T* b,
                    const int64_t* b_off, int64_t b_img, int64_t b_row, int64_t N, int64_t imgs, int64_t rows,
                    int64_t len, T* out) {
  for (int64_t o = 0; o < M; ++o)
    for (int64_t q = 0; q < N; ++q) {
      T s = 0;
      for (int64_t i = 0; i < imgs; ++i)
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t j = 0; j < len; ++j)
            s += a[i * a_img + o * a_chan + r * a_row + j] * b[i * b_img + b_off[q] + r * b_row + j];
      out[o * N + q] = s;
    }
}
template <class T>
void row_axpy_ref_t(const T* w, int64_t ldw, const T* init, int64_t M, const T* b, const int64_t* b_off,
                    int64_t b_row, int64_t N, int64_t rows, int64_t len, T* out, int64_t out_chan, int64_t out_row,
                    bool relu) {
  for (int64_t o = 0; o < M; ++o)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < len; ++j) {
        T s = init ? init[o] : T(0);
        for (int64_t q = 0; q < N; ++q) s = std::fma(w[o * ldw + q], b[b_off[q] + r * b_row + j], s);
        out[o * out_chan + r * out_row + j] = relu ? (s > T(0) ? s : T(0)) : s;
      }
}
}  // namespace

void row_axpy_ref(const float* w, int64_t ldw, const float* init, int64_t M, const float* b, const int64_t* b_off,
                  int64_t b_row, int64_t N, int64_t rows, int64_t len, float* out, int64_t out_chan, int64_t out_row,
                  bool relu) {
  row_axpy_ref_t(w, ldw, init, M, b, b_off, b_row, N, rows, len, out, out_chan, out_row, relu);
}
void row_axpy_ref(const double* w, int64_t ldw, const double* init, int64_t M, const double* b, const int64_t* b_off,
                  int64_t b_row, int64_t N, int64_t rows, int64_t len, double* out, int64_t out_chan, int64_t out_row,
                  bool relu) {
  row_axpy_ref_t(w, ldw, init, M, b, b_off, b_row, N, rows, len, out, out_chan, out_row, relu);
}

void row_dots_ref(const float* a, int64_t a_img, int64_t a_chan, int64_t a_row, int64_t M, const float* b,
                  const int64_t* b_off, int64_t b_img, int64_t b_row, int64_t N, int64_t imgs, int64_t rows,
                  int64_t len, float* out) {
  row_dots_ref_t(a, a_img, a_chan, a_row, M, b, b_off, b_img, b_row, N, imgs, rows, len, out);
}
void row_dots_ref(const double* a, int64_t a_img, int64_t a_chan, int64_t a_row, int64_t M, const double* b,
                  const int64_t* b_off, int64_t b_img, int64_t b_row, int64_t N, int64_t imgs, int64_t rows,
                  int64_t len, double* out) {
  row_dots_ref_t(a, a_img, a_chan, a_row, M, b, b_off, b_img, b_row, N, imgs, rows, len, out);
}

void copy_spans_ref(const float* s, int64_t ss, int64_t rows, int64_t len, float* d) {
  copy_ref(s, ss, rows, len, d);
}
void copy_spans_ref(const double* s, int64_t ss, int64_t rows, int64_t len, double* d) {
  copy_ref(s, ss, rows, len, d);
}
void col2im_taps_ref(const float* src, const Col2ImTaps& p, float* out) { col2im_taps_ref_t(src, p, out); }
void col2im_taps_ref(const double* src, const Col2ImTaps& p, double* out) { col2im_taps_ref_t(src, p, out); }
void col2im_plane_ref(const float* src, int64_t ld, int64_t KH, int64_t KW, int64_t OH, int64_t OW, int64_t sh,
                      int64_t dh, int64_t dw, int64_t pad_h, int64_t pad_w, int64_t H, int64_t W, float* out) {
  col2im_plane_ref_t(src, ld, KH, KW, OH, OW, sh, dh, dw, pad_h, pad_w, H, W, out);
}
void col2im_plane_ref(const double* src, int64_t ld, int64_t KH, int64_t KW, int64_t OH, int64_t OW, int64_t sh,
                      int64_t dh, int64_t dw, int64_t pad_h, int64_t pad_w, int64_t H, int64_t W, double* out) {
  col2im_plane_ref_t(src, ld, KH, KW, OH, OW, sh, dh, dw, pad_h, pad_w, H, W, out);
}

}  // namespace tg::kernels
#endif  // HWY_ONCE
