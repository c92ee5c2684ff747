// Per-target compilation and dynamic dispatch of pool-inl.h, plus the scalar
// twin: the window rule written one element at a time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tensor/kernels/pool.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "tensor/kernels/pool-inl.h"

#if HWY_ONCE
#include "tensor/kernels/pool.h"

namespace tg::kernels {

HWY_EXPORT(MaxPool2x2RowF32);
HWY_EXPORT(MaxPool2x2RowF64);

void max_pool2x2_row(const float* r0, const float* r1, int64_t n, float* y, int32_t* code) {
  HWY_DYNAMIC_DISPATCH(MaxPool2x2RowF32)(r0, r1, n, y, code);
}
void max_pool2x2_row(const double* r0, const double* r1, int64_t n, double* y, int64_t* code) {
  HWY_DYNAMIC_DISPATCH(MaxPool2x2RowF64)(r0, r1, n, y, code);
}

namespace {
template <class T, class I>
void ref(const T* r0, const T* r1, int64_t n, T* y, I* code) {
  for (int64_t i = 0; i < n; ++i) {
    const T v[4] = {r0[2 * i], r0[2 * i + 1], r1[2 * i], r1[2 * i + 1]};
    T best = v[0];
    I pos = 0;
    for (I k = 1; k < 4; ++k)
      if (v[k] > best || v[k] != v[k]) {
        best = v[k];
        pos = k;
      }
    y[i] = best;
    code[i] = pos;
  }
}
}  // namespace

void max_pool2x2_row_ref(const float* r0, const float* r1, int64_t n, float* y, int32_t* code) {
  ref(r0, r1, n, y, code);
}
void max_pool2x2_row_ref(const double* r0, const double* r1, int64_t n, double* y,
                         int64_t* code) {
  ref(r0, r1, n, y, code);
}

}  // namespace tg::kernels
#endif  // HWY_ONCE
