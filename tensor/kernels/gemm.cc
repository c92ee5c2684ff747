// Per-target compilation and dynamic dispatch of the GEMM kernels: Highway
// includes this file once per target (HWY_TARGET_INCLUDE); the HWY_ONCE part
// exports the plain functions declared in tensor/kernels/gemm.h.
#include "tensor/kernels/gemm.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tensor/kernels/gemm.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "tensor/kernels/gemm-inl.h"

HWY_BEFORE_NAMESPACE();
namespace tg {
namespace kernels {
namespace HWY_NAMESPACE {

GemmConfig ConfigF32() { return Config<float>(); }
GemmConfig ConfigF64() { return Config<double>(); }
void GemmTileF32(const GemmArgs<float>& g, size_t m0, size_t m1, size_t n0, size_t n1,
                 float* ws, SharedB<float>* shared, size_t first_part) {
  GemmTile<float>(g, m0, m1, n0, n1, ws, shared, first_part);
}
void GemmTileF64(const GemmArgs<double>& g, size_t m0, size_t m1, size_t n0, size_t n1,
                 double* ws, SharedB<double>* shared, size_t first_part) {
  GemmTile<double>(g, m0, m1, n0, n1, ws, shared, first_part);
}
const char* TargetNameHere() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace kernels
}  // namespace tg
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tg {
namespace kernels {

HWY_EXPORT(ConfigF32);
HWY_EXPORT(ConfigF64);
HWY_EXPORT(GemmTileF32);
HWY_EXPORT(GemmTileF64);
HWY_EXPORT(TargetNameHere);

GemmConfig gemm_config_f32() { return HWY_DYNAMIC_DISPATCH(ConfigF32)(); }
GemmConfig gemm_config_f64() { return HWY_DYNAMIC_DISPATCH(ConfigF64)(); }
void gemm_tile_f32(const GemmArgs<float>& g, size_t m0, size_t m1, size_t n0, size_t n1,
                   float* ws, SharedB<float>* shared, size_t first_part) {
  HWY_DYNAMIC_DISPATCH(GemmTileF32)(g, m0, m1, n0, n1, ws, shared, first_part);
}
void gemm_tile_f64(const GemmArgs<double>& g, size_t m0, size_t m1, size_t n0, size_t n1,
                   double* ws, SharedB<double>* shared, size_t first_part) {
  HWY_DYNAMIC_DISPATCH(GemmTileF64)(g, m0, m1, n0, n1, ws, shared, first_part);
}
const char* gemm_target_name() { return HWY_DYNAMIC_DISPATCH(TargetNameHere)(); }

}  // namespace kernels
}  // namespace tg
#endif  // HWY_ONCE
