// Per-target compilation and dynamic dispatch of conv-inl.h, plus the scalar
// twins: the span copy and add one element at a time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tensor/kernels/conv.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "tensor/kernels/conv-inl.h"

#if HWY_ONCE
#include "tensor/kernels/conv.h"

namespace tg::kernels {

HWY_EXPORT(CopySpansF32);
HWY_EXPORT(CopySpansF64);
HWY_EXPORT(AddSpansF32);
HWY_EXPORT(AddSpansF64);

void copy_spans(const float* src, int64_t ss, int64_t rows, int64_t len, float* dst) {
  HWY_DYNAMIC_DISPATCH(CopySpansF32)(src, ss, rows, len, dst);
}
void copy_spans(const double* src, int64_t ss, int64_t rows, int64_t len, double* dst) {
  HWY_DYNAMIC_DISPATCH(CopySpansF64)(src, ss, rows, len, dst);
}
void add_spans(const float* src, int64_t rows, int64_t len, float* dst, int64_t ds) {
  HWY_DYNAMIC_DISPATCH(AddSpansF32)(src, rows, len, dst, ds);
}
void add_spans(const double* src, int64_t rows, int64_t len, double* dst, int64_t ds) {
  HWY_DYNAMIC_DISPATCH(AddSpansF64)(src, rows, len, dst, ds);
}

namespace {
template <class T>
void copy_ref(const T* src, int64_t ss, int64_t rows, int64_t len, T* dst) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < len; ++i) dst[r * len + i] = src[r * ss + i];
}
template <class T>
void add_ref(const T* src, int64_t rows, int64_t len, T* dst, int64_t ds) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < len; ++i) dst[r * ds + i] += src[r * len + i];
}
}  // namespace

void copy_spans_ref(const float* s, int64_t ss, int64_t rows, int64_t len, float* d) {
  copy_ref(s, ss, rows, len, d);
}
void copy_spans_ref(const double* s, int64_t ss, int64_t rows, int64_t len, double* d) {
  copy_ref(s, ss, rows, len, d);
}
void add_spans_ref(const float* s, int64_t rows, int64_t len, float* d, int64_t ds) {
  add_ref(s, rows, len, d, ds);
}
void add_spans_ref(const double* s, int64_t rows, int64_t len, double* d, int64_t ds) {
  add_ref(s, rows, len, d, ds);
}

}  // namespace tg::kernels
#endif  // HWY_ONCE
