// 2x2, stride-2 max pooling of one output row: the kernel behind
// max_pool2d_forward's common case (LeNet's pools), dispatched at run time.
//
//   for i < n:  window = (r0[2i], r0[2i+1], r1[2i], r1[2i+1])
//               y[i]    = its maximum (first maximum wins; a NaN wins over
//                         numbers, and the last NaN in the window wins, as
//                         in PyTorch)
//               code[i] = its position in the window, 0..3
//
// Same rule as the general pooling loop in tensor/conv.cc; the scalar twin
// max_pool2x2_row_ref is what the tests compare every target against. Pointers
// need no alignment; nothing is read past r0[2n - 1] or r1[2n - 1].
#pragma once
#include <cstdint>

namespace tg::kernels {

void max_pool2x2_row(const float* r0, const float* r1, int64_t n, float* y, int32_t* code);
void max_pool2x2_row(const double* r0, const double* r1, int64_t n, double* y, int64_t* code);

void max_pool2x2_row_ref(const float* r0, const float* r1, int64_t n, float* y, int32_t* code);
void max_pool2x2_row_ref(const double* r0, const double* r1, int64_t n, double* y, int64_t* code);

}  // namespace tg::kernels
