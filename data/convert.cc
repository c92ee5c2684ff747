// Per-target compilation and dynamic dispatch of convert-inl.h, and the scalar
// twin u8_to_unit_float_ref.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "data/convert.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "data/convert-inl.h"

#if HWY_ONCE
namespace tg::data::kernels {

HWY_EXPORT(U8ToUnitFloat);
HWY_EXPORT(ConvertTargetName);

void u8_to_unit_float(const uint8_t* src, float* dst, int64_t n) {
  if (n > 0) HWY_DYNAMIC_DISPATCH(U8ToUnitFloat)(src, dst, n);
}

const char* convert_target_name() { return HWY_DYNAMIC_DISPATCH(ConvertTargetName)(); }

void u8_to_unit_float_ref(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t k = 0; k < n; ++k) dst[k] = float(int32_t(src[k])) / 255.0f;
}

}  // namespace tg::data::kernels
#endif  // HWY_ONCE
