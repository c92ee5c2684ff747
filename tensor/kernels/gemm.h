// Dispatched entry points of the GEMM kernels (tensor/kernels/gemm-inl.h):
// each call runs the best Highway target of this CPU (or the one a test
// forced). The op layer (tensor/gemm.cc) asks for the blocking once per GEMM,
// tiles C over threads and hands each tile a workspace.
#pragma once
#include <stddef.h>

#include "tensor/kernels/gemm_types.h"

namespace tg {
namespace kernels {

GemmConfig gemm_config_f32();
GemmConfig gemm_config_f64();
// C[m0:m1, n0:n1] of the product described by g; ws: config.workspace_elems
// elements, 64-byte aligned. Both must come from the same dispatched target.
// shared (optional): op(B) packed once for all the tiles of the product, see
// SharedB; first_part: the part of each block this tile packs first.
void gemm_tile_f32(const GemmArgs<float>& g, size_t m0, size_t m1, size_t n0, size_t n1,
                   float* ws, SharedB<float>* shared = nullptr, size_t first_part = 0);
void gemm_tile_f64(const GemmArgs<double>& g, size_t m0, size_t m1, size_t n0, size_t n1,
                   double* ws, SharedB<double>* shared = nullptr, size_t first_part = 0);
// Name of the Highway target the next GEMM would run on ("AVX3", "AVX2", ...).
const char* gemm_target_name();

}  // namespace kernels
}  // namespace tg
