// 2-D convolution and pooling on raw NCHW pointers (float and double): the
// pointer-level ops that the autograd Conv2d / MaxPool2d / AvgPool2d wrappers
// call. Semantics follow PyTorch (torch.nn.functional.conv2d, max_pool2d,
// avg_pool2d), including groups, dilation, ceil_mode and count_include_pad.
//
//   conv2d:  y[n, o, oh, ow] = bias[o] + sum_{c in group(o), kh, kw}
//              w[o, c - g*C/groups, kh, kw] * x[n, c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw]
//            (x is zero outside [0,H) x [0,W))
//   backward: dx = col2im(wᵀ · dy),  dw = sum_n dy_n · im2col(x_n)ᵀ,  db = sum_{n,oh,ow} dy
//
// Three routes chosen by shape (docs/gemm.md "Convolution"): one input channel
// as row axpys / row dots with no im2col, im2col of several images with one
// batched GEMM, or im2col + GEMM per image and group (a 1x1, stride 1,
// unpadded convolution uses x directly). Threads go over the batch via parallel_for;
// dw and db are summed per fixed chunk of images and the chunks combined in
// order, so results are bit-identical for any thread count. Backward writes
// (does not accumulate) the gradients it is given pointers for. These ops
// keep per-thread workspaces that grow to the largest shape seen.
#pragma once
#include <cstdint>

namespace tg {

struct Conv2dGeometry {
  int64_t N, C, H, W, OC, KH, KW;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1, groups = 1;
  int64_t OH() const { return out_size(H + 2 * pad_h - dil_h * (KH - 1) - 1, stride_h); }
  int64_t OW() const { return out_size(W + 2 * pad_w - dil_w * (KW - 1) - 1, stride_w); }

 private:
  // A kernel larger than the padded input has no output (C++ division truncates
  // toward zero, so -3 / 4 + 1 would claim one output position).
  static int64_t out_size(int64_t span, int64_t s) { return span < 0 ? 0 : span / s + 1; }
};

// x: [N, C, H, W]  w: [OC, C/groups, KH, KW]  bias: [OC] or nullptr  ->  y: [N, OC, OH, OW]
// relu: y = relu(conv) in the same pass (ReLU's rule, v > 0 ? v : 0).
template <class T>
void conv2d_forward(const Conv2dGeometry& g, const T* x, const T* w, const T* bias, T* y, bool relu = false);
// dy: [N, OC, OH, OW] -> dx: [N, C, H, W], dw: [OC, C/groups, KH, KW], db: [OC]; any may be null.
template <class T>
void conv2d_backward(const Conv2dGeometry& g, const T* x, const T* w, const T* dy, T* dx, T* dw,
                     T* db);

struct Pool2dGeometry {
  int64_t N, C, H, W, KH, KW, stride_h, stride_w;
  int64_t pad_h = 0, pad_w = 0;
  bool ceil_mode = false;
  bool count_include_pad = true;  // avg_pool2d only
  int64_t OH() const { return out_size(H, KH, stride_h, pad_h); }
  int64_t OW() const { return out_size(W, KW, stride_w, pad_w); }

 private:
  // PyTorch's pooling_output_shape: floor((in + 2p - k [+ s - 1 with
  // ceil_mode]) / s) + 1; with ceil_mode the last window must start inside the
  // input or the left padding. A window may then reach past the padded input
  // (in = 1, k = 2, ceil: one window; it used to be rejected).
  int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p) const {
    const int64_t num = in + 2 * p - k + (ceil_mode ? s - 1 : 0);
    if (num < 0) return 0;  // no window fits (truncating division would say 1)
    int64_t o = num / s + 1;
    if (ceil_mode && (o - 1) * s >= in + p) --o;
    return o;
  }
};

// x: [N, C, H, W] -> y: [N, C, OH, OW]; argmax[n, c, oh, ow] = h * W + w of the
// maximum inside the plane (first one on ties; a NaN wins, as in PyTorch);
// argmax may be null (inference: no indices written).
template <class T>
void max_pool2d_forward(const Pool2dGeometry& g, const T* x, T* y, int64_t* argmax);
// dx = 0, then dx[n, c, argmax] += dy for every output.
template <class T>
void max_pool2d_backward(const Pool2dGeometry& g, const T* dy, const int64_t* argmax, T* dx);
// y = mean over the window (divisor: window size incl. padding when
// count_include_pad, else the number of input elements inside it).
template <class T>
void avg_pool2d_forward(const Pool2dGeometry& g, const T* x, T* y);
template <class T>
void avg_pool2d_backward(const Pool2dGeometry& g, const T* dy, T* dx);

#define TG_CONV_EXTERN(T)                                                                      \
  extern template void conv2d_forward<T>(const Conv2dGeometry&, const T*, const T*, const T*,  \
                                         T*, bool);                                            \
  extern template void conv2d_backward<T>(const Conv2dGeometry&, const T*, const T*, const T*, \
                                          T*, T*, T*);                                         \
  extern template void max_pool2d_forward<T>(const Pool2dGeometry&, const T*, T*, int64_t*);   \
  extern template void max_pool2d_backward<T>(const Pool2dGeometry&, const T*, const int64_t*, \
                                              T*);                                             \
  extern template void avg_pool2d_forward<T>(const Pool2dGeometry&, const T*, T*);             \
  extern template void avg_pool2d_backward<T>(const Pool2dGeometry&, const T*, T*);
TG_CONV_EXTERN(float)
TG_CONV_EXTERN(double)
#undef TG_CONV_EXTERN

}  // namespace tg
