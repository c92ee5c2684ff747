// Per-target body of tg::kernels::fill_rows (see copy.h for the contract):
// per row, the value in every lane, stored four vectors at a time, then one
// vector at a time, then the tail: on AVX-512 a masked store, elsewhere the
// last full vector of the row again (the same values) or, in rows shorter
// than a vector, element by element.
#if defined(TG_TENSOR_KERNELS_COPY_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TG_TENSOR_KERNELS_COPY_INL_H_
#undef TG_TENSOR_KERNELS_COPY_INL_H_
#else
#define TG_TENSOR_KERNELS_COPY_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace tg {
namespace kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class T>
void FillRows(T* HWY_RESTRICT d, int64_t rows, int64_t ld, int64_t n, const T* HWY_RESTRICT v, int64_t vs) {
  const hn::ScalableTag<T> dt;
  const int64_t N = int64_t(hn::Lanes(dt));
  for (int64_t r = 0; r < rows; ++r) {
    T* p = d + r * ld;
    const T x = v[r * vs];
    const auto vx = hn::Set(dt, x);
    int64_t i = 0;
    for (; i + 4 * N <= n; i += 4 * N) {
      hn::StoreU(vx, dt, p + i);
      hn::StoreU(vx, dt, p + i + N);
      hn::StoreU(vx, dt, p + i + 2 * N);
      hn::StoreU(vx, dt, p + i + 3 * N);
    }
    for (; i + N <= n; i += N) hn::StoreU(vx, dt, p + i);
    if (i == n) continue;
#if HWY_TARGET <= HWY_AVX3
    hn::BlendedStore(vx, hn::FirstN(dt, size_t(n - i)), dt, p + i);  // writes only those lanes
#else
    if (n >= N) {
      hn::StoreU(vx, dt, p + n - N);  // overlaps this row's previous vector, same values
    } else {
      for (; i < n; ++i) p[i] = x;
    }
#endif
  }
}

void FillRowsF32(float* d, int64_t rows, int64_t ld, int64_t n, const float* v, int64_t vs) {
  FillRows(d, rows, ld, n, v, vs);
}
void FillRowsF64(double* d, int64_t rows, int64_t ld, int64_t n, const double* v, int64_t vs) {
  FillRows(d, rows, ld, n, v, vs);
}
void FillRowsI64(int64_t* d, int64_t rows, int64_t ld, int64_t n, const int64_t* v, int64_t vs) {
  FillRows(d, rows, ld, n, v, vs);
}

}  // namespace HWY_NAMESPACE
}  // namespace kernels
}  // namespace tg
HWY_AFTER_NAMESPACE();

#endif  // include guard
