// Span copies and adds for im2col/col2im with unit horizontal stride: the
// inner loops of conv2d on a padded image, dispatched at run time.
//
//   copy_spans: dst[r * len + i]         = src[r * src_stride + i]
//   add_spans:  dst[r * dst_stride + i] += src[r * len + i]      (r < rows, i < len)
//
// copy_spans moves whole vectors: it may read up to kSpanSlackBytes past each
// source span and write up to kSpanSlackBytes past dst[rows * len - 1]; the
// caller provides that slack (conv.cc's scratch buffers) and calls it in
// increasing dst order, so a span's overflow is overwritten by the next one.
// add_spans reads and writes exactly the elements named. The scalar twins
// (*_ref) are what the tests compare every target against.
#pragma once
#include <cstdint>

namespace tg::kernels {

inline constexpr int64_t kSpanSlackBytes = 64;

void copy_spans(const float* src, int64_t src_stride, int64_t rows, int64_t len, float* dst);
void copy_spans(const double* src, int64_t src_stride, int64_t rows, int64_t len, double* dst);
void add_spans(const float* src, int64_t rows, int64_t len, float* dst, int64_t dst_stride);
void add_spans(const double* src, int64_t rows, int64_t len, double* dst, int64_t dst_stride);

void copy_spans_ref(const float* src, int64_t src_stride, int64_t rows, int64_t len, float* dst);
void copy_spans_ref(const double* src, int64_t src_stride, int64_t rows, int64_t len,
                    double* dst);
void add_spans_ref(const float* src, int64_t rows, int64_t len, float* dst, int64_t dst_stride);
void add_spans_ref(const double* src, int64_t rows, int64_t len, double* dst,
                   int64_t dst_stride);

}  // namespace tg::kernels
