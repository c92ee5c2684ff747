// Reference loops for conv2d tests: the element counts of x, w and y, and a
// walk over every product term of the convolution in a fixed order (output
// element, then c, kh, kw), which the exact-bits tests rely on.
#pragma once
#include <cstdint>

#include "tensor/conv.h"

namespace tgtest {

inline int64_t xsize(const tg::Conv2dGeometry& g) { return g.N * g.C * g.H * g.W; }
inline int64_t wsize(const tg::Conv2dGeometry& g) { return g.OC * (g.C / g.groups) * g.KH * g.KW; }
inline int64_t ysize(const tg::Conv2dGeometry& g) { return g.N * g.OC * g.OH() * g.OW(); }

// Calls f(y index, x index, w index) for every product term with its input
// inside the image (padding taps skipped).
template <class F>
void for_each_term(const tg::Conv2dGeometry& g, F&& f) {
  const int64_t Cg = g.C / g.groups, OCg = g.OC / g.groups, OH = g.OH(), OW = g.OW();
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t o = 0; o < g.OC; ++o)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int64_t yi = ((n * g.OC + o) * OH + oh) * OW + ow;
          const int64_t gr = o / OCg;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t kh = 0; kh < g.KH; ++kh)
              for (int64_t kw = 0; kw < g.KW; ++kw) {
                const int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dil_h;
                const int64_t iw = ow * g.stride_w - g.pad_w + kw * g.dil_w;
                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                const int64_t xi = ((n * g.C + gr * Cg + c) * g.H + ih) * g.W + iw;
                const int64_t wi = ((o * Cg + c) * g.KH + kh) * g.KW + kw;
                f(yi, xi, wi);
              }
        }
}

}  // namespace tgtest
