// Per-target compilation and dynamic dispatch of pool-inl.h, plus the scalar
// twin: the window rule and the flat index written one element at a time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tensor/kernels/pool.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "tensor/kernels/pool-inl.h"

#if HWY_ONCE
#include "tensor/kernels/pool.h"

namespace tg::kernels {

HWY_EXPORT(MaxPool2x2PlaneF32);
HWY_EXPORT(MaxPool2x2PlaneF64);

void max_pool2x2_plane(const float* x, int64_t W, int64_t OH, int64_t OW, float* y, int64_t* argmax) {
  HWY_DYNAMIC_DISPATCH(MaxPool2x2PlaneF32)(x, W, OH, OW, y, argmax);
}
void max_pool2x2_plane(const double* x, int64_t W, int64_t OH, int64_t OW, double* y, int64_t* argmax) {
  HWY_DYNAMIC_DISPATCH(MaxPool2x2PlaneF64)(x, W, OH, OW, y, argmax);
}

namespace {
template <class T>
void plane_ref(const T* x, int64_t W, int64_t OH, int64_t OW, T* y, int64_t* argmax) {
  for (int64_t oh = 0; oh < OH; ++oh) {
    const T* r0 = x + 2 * oh * W;
    for (int64_t ow = 0; ow < OW; ++ow) {
      const T v[4] = {r0[2 * ow], r0[2 * ow + 1], r0[W + 2 * ow], r0[W + 2 * ow + 1]};
      T best = v[0];
      int64_t pos = 0;
      for (int64_t k = 1; k < 4; ++k)
        if (v[k] > best || v[k] != v[k]) {
          best = v[k];
          pos = k;
        }
      y[oh * OW + ow] = best;
      if (argmax) argmax[oh * OW + ow] = (2 * oh + pos / 2) * W + 2 * ow + pos % 2;
    }
  }
}
}  // namespace

void max_pool2x2_plane_ref(const float* x, int64_t W, int64_t OH, int64_t OW, float* y, int64_t* argmax) {
  plane_ref(x, W, OH, OW, y, argmax);
}
void max_pool2x2_plane_ref(const double* x, int64_t W, int64_t OH, int64_t OW, double* y, int64_t* argmax) {
  plane_ref(x, W, OH, OW, y, argmax);
}

}  // namespace tg::kernels
#endif  // HWY_ONCE
