// 2x2, stride-2 max pooling of one plane: the kernel behind
// max_pool2d_forward's common case (LeNet's pools), dispatched at run time.
//
//   for oh < OH, ow < OW:
//     window = (x[2oh][2ow], x[2oh][2ow+1], x[2oh+1][2ow], x[2oh+1][2ow+1])
//              (x[h][w] = x[h * W + w])
//     y[oh * OW + ow]      = its maximum (first maximum wins; a NaN wins over
//                            numbers, and the last NaN in the window wins, as
//                            in PyTorch)
//     argmax[oh * OW + ow] = the flat index h * W + w of that element in the
//                            plane (argmax may be null: no indices, as under
//                            no-grad)
//
// Needs 2 OH <= H rows of W >= 2 OW elements. Same rule as the general pooling
// loop in tensor/conv.cc; the scalar twin max_pool2x2_plane_ref is what the
// tests compare every target against. Pointers need no alignment; nothing is
// read past the 2 OW inputs of each row pair used, nothing written past OH * OW.
#pragma once
#include <cstdint>

namespace tg::kernels {

void max_pool2x2_plane(const float* x, int64_t W, int64_t OH, int64_t OW, float* y, int64_t* argmax);
void max_pool2x2_plane(const double* x, int64_t W, int64_t OH, int64_t OW, double* y, int64_t* argmax);

void max_pool2x2_plane_ref(const float* x, int64_t W, int64_t OH, int64_t OW, float* y, int64_t* argmax);
void max_pool2x2_plane_ref(const double* x, int64_t W, int64_t OH, int64_t OW, double* y, int64_t* argmax);

}  // namespace tg::kernels
