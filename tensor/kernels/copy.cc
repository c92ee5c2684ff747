// Per-target compilation and dynamic dispatch of copy-inl.h, plus the scalar
// twin of fill_rows.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tensor/kernels/copy.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "tensor/kernels/copy-inl.h"

#if HWY_ONCE
#include "tensor/kernels/copy.h"

namespace tg::kernels {

HWY_EXPORT(FillRowsF32);
HWY_EXPORT(FillRowsF64);
HWY_EXPORT(FillRowsI64);

void fill_rows(float* d, int64_t rows, int64_t ld, int64_t n, const float* v, int64_t vs) {
  HWY_DYNAMIC_DISPATCH(FillRowsF32)(d, rows, ld, n, v, vs);
}
void fill_rows(double* d, int64_t rows, int64_t ld, int64_t n, const double* v, int64_t vs) {
  HWY_DYNAMIC_DISPATCH(FillRowsF64)(d, rows, ld, n, v, vs);
}
void fill_rows(int64_t* d, int64_t rows, int64_t ld, int64_t n, const int64_t* v, int64_t vs) {
  HWY_DYNAMIC_DISPATCH(FillRowsI64)(d, rows, ld, n, v, vs);
}

namespace {
template <class T>
void fill_rows_ref_t(T* d, int64_t rows, int64_t ld, int64_t n, const T* v, int64_t vs) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < n; ++i) d[r * ld + i] = v[r * vs];
}
}  // namespace

void fill_rows_ref(float* d, int64_t rows, int64_t ld, int64_t n, const float* v, int64_t vs) {
  fill_rows_ref_t(d, rows, ld, n, v, vs);
}
void fill_rows_ref(double* d, int64_t rows, int64_t ld, int64_t n, const double* v, int64_t vs) {
  fill_rows_ref_t(d, rows, ld, n, v, vs);
}
void fill_rows_ref(int64_t* d, int64_t rows, int64_t ld, int64_t n, const int64_t* v, int64_t vs) {
  fill_rows_ref_t(d, rows, ld, n, v, vs);
}

}  // namespace tg::kernels
#endif  // HWY_ONCE
