// uint8 -> float32 pixel conversion behind bytes_to_unit_float (Highway,
// dynamically dispatched, with the scalar twin bytes_to_unit_float_ref it is
// tested against on every compiled target).
//
//   dst[k] = float(int32_t(src[k])) / 255.0f      for k in [0, n)
//
// One correctly rounded division per pixel, so 255 -> 1.0f exactly and every
// target gives the bits of the scalar twin. Kernels know nothing of tensors:
// no allocation, no threads, no checks.
#pragma once
#include <cstdint>

namespace tg::data::kernels {

void u8_to_unit_float(const uint8_t* src, float* dst, int64_t n);
void u8_to_unit_float_ref(const uint8_t* src, float* dst, int64_t n);
// Name of the Highway target chosen at run time (for tests and benchmarks).
const char* convert_target_name();

}  // namespace tg::data::kernels
