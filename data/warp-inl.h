// Highway body of warp_bilinear, warp_bilinear_normalize and pad_shifted (see
// warp.h).
// Included once per target by warp.cc through HWY_TARGET_INCLUDE. One output
// row at a time, a vector of columns per step: coordinates from Iota, clamp,
// truncate to int32, fetch the four neighbours, three lerps (then, for the
// normalizing form, (v - mean) / std).
//
// Fetching the neighbours:
// - AVX-512 with padded rows of at most 32 floats (28x28 images and smaller):
//   no gathers. The rows one output row reads lie in a band
//   [min iy, max iy + 1] (5 or 6 rows for the small angles of augmentation);
//   each band row is two registers, and permutex2var picks every lane's
//   columns ix and ix + 1 from them, kept where the lane's iy (top) or iy + 1
//   (bottom) is that row. Any angle works; large ones just have wider bands.
// - other targets and wider rows: gathers (pairs of horizontal neighbours as
//   one 64-bit lane where the target has 64-bit lanes).
// The last partial vector of a row is stored whole when the spill stays inside
// `out` (the following rows, written later, overwrite it), else through a
// stack buffer; clamped coordinates keep every fetch inside the padded source.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "data/warp.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace tg::data::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

#if HWY_ARCH_X86 && (HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL)
#define TG_WARP_PERMUTE 1
#else
#define TG_WARP_PERMUTE 0
#endif

// Stores v to out[k, k + n) (n <= N): whole when the spill stays inside out's
// `total` floats (what follows is written later), else through a stack buffer.
template <class D>
HWY_INLINE void StoreRun(D d, hn::Vec<D> v, float* HWY_RESTRICT out, int64_t k, int64_t n, int64_t total) {
  const int64_t N = int64_t(hn::Lanes(d));
  if (k + N <= total) {
    hn::StoreU(v, d, out + k);
  } else {
    HWY_ALIGN float tail[hn::MaxLanes(d)];
    hn::Store(v, d, tail);
    std::memcpy(out + k, tail, size_t(n) * sizeof(float));
  }
}

// Truncation of coordinates known to lie in [0, 2^31): on AVX-512 the bare
// instruction (ConvertTo also fixes up overflowing lanes, which cannot occur).
template <class DI, class V>
HWY_INLINE hn::Vec<DI> TruncInRange(DI di, V v) {
#if TG_WARP_PERMUTE
  (void)di;
  return hn::Vec<DI>{_mm512_cvttps_epi32(v.raw)};
#else
  return hn::ConvertTo(di, v);
#endif
}

// Source coordinates of the pixels fq of a row: clamped, split into the
// integer part (truncation = floor, as they are >= 0) and the fraction.
template <class D>
struct Coords {
  hn::Vec<hn::RebindToSigned<D>> ix, iy;
  hn::Vec<D> fx, fy;
};
// One padded source coordinate, clamped: (v0 + fq * step) + pad in [0, vmax].
template <class D>
HWY_INLINE hn::Vec<D> ClampedSource(D d, hn::Vec<D> v0, hn::Vec<D> fq, hn::Vec<D> step, hn::Vec<D> vmax) {
  const auto s = hn::Add(hn::Add(v0, hn::Mul(fq, step)), hn::Set(d, float(kWarpPad)));
  return hn::Min(hn::Max(s, hn::Zero(d)), vmax);
}
template <class D>
HWY_INLINE Coords<D> SourceCoords(D d, hn::Vec<D> fq, hn::Vec<D> x0, hn::Vec<D> y0, hn::Vec<D> vdx, hn::Vec<D> vdy,
                                  hn::Vec<D> xmax, hn::Vec<D> ymax) {
  const hn::RebindToSigned<D> di;
  const auto sx = ClampedSource(d, x0, fq, vdx, xmax);
  const auto sy = ClampedSource(d, y0, fq, vdy, ymax);
  Coords<D> c;
  c.ix = TruncInRange(di, sx);
  c.iy = TruncInRange(di, sy);
  c.fx = hn::Sub(sx, hn::ConvertTo(d, c.ix));
  c.fy = hn::Sub(sy, hn::ConvertTo(d, c.iy));
  return c;
}

// The three lerps (and the normalization) of one vector of pixels.
template <bool kNormalize, class V>
HWY_INLINE V Blend4(V p00, V p01, V p10, V p11, V fx, V fy, V vmean, V vstd) {
  const auto top = hn::Add(p00, hn::Mul(fx, hn::Sub(p01, p00)));
  const auto bot = hn::Add(p10, hn::Mul(fx, hn::Sub(p11, p10)));
  auto v = hn::Add(top, hn::Mul(fy, hn::Sub(bot, top)));
  if constexpr (kNormalize) v = hn::Div(hn::Sub(v, vmean), vstd);
  return v;
}

#if TG_WARP_PERMUTE
// AVX-512, pw <= 32 (so w <= 28 <= 2N): a whole output row is at most two
// vectors, A (columns [0, 16)) and B ([16, w)). One pass over the band of
// source rows both read, each row handed to A's and B's Neighbours.
// The source row is monotone in the column, so a row's band comes from its
// first and last lanes (a vector of rows at a time); every row of the image walks the same number
// of band rows (the widest band, starting earlier near the bottom), so the
// loop branch is predictable and consecutive rows overlap in the pipeline.
// The four neighbours of one vector of pixels, gathered over a band of
// source rows: Take() sees one row (two registers, lo and hi) and keeps, per
// lane, columns ix and ix + 1 as the top pair where iy == row and as the
// bottom pair where iy == row - 1 (the previous row's top mask).
struct Neighbours {
  using V = hn::Vec<hn::ScalableTag<float>>;
  using VI = hn::Vec<hn::ScalableTag<int32_t>>;
  explicit Neighbours(VI ix_in)
      : ix(ix_in), ix1(hn::Add(ix_in, hn::Set(hn::ScalableTag<int32_t>(), 1))),
        prev(hn::FirstN(hn::ScalableTag<float>(), 0)) {}
  HWY_INLINE void Take(V lo, V hi, VI iy, VI vrow) {
    const hn::ScalableTag<float> d;
    const V l{_mm512_permutex2var_ps(lo.raw, ix.raw, hi.raw)};
    const V r{_mm512_permutex2var_ps(lo.raw, ix1.raw, hi.raw)};
    const auto t = hn::RebindMask(d, hn::Eq(iy, vrow));
    p00 = hn::IfThenElse(t, l, p00);
    p01 = hn::IfThenElse(t, r, p01);
    p10 = hn::IfThenElse(prev, l, p10);
    p11 = hn::IfThenElse(prev, r, p11);
    prev = t;
  }
  VI ix, ix1;
  hn::Mask<hn::ScalableTag<float>> prev;
  V p00 = hn::Zero(hn::ScalableTag<float>()), p01 = p00, p10 = p00, p11 = p00;
};

template <bool kNormalize>
HWY_INLINE void WarpPermute(const float* HWY_RESTRICT pad, int64_t pw, const float* HWY_RESTRICT row_x,
                            const float* HWY_RESTRICT row_y, float dxq, float dyq, float* HWY_RESTRICT out,
                            int64_t h, int64_t w, float mean, float std) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  using V = hn::Vec<decltype(d)>;
  const int64_t N = int64_t(hn::Lanes(d));
  const auto xmax = hn::Set(d, float(w + kWarpPad));
  const auto ymax = hn::Set(d, float(h + kWarpPad));
  const auto vdx = hn::Set(d, dxq), vdy = hn::Set(d, dyq);
  const auto vmean = hn::Set(d, mean), vstd = hn::Set(d, std);
  const auto one = hn::Set(di, 1);
  const bool two = w > N;
  const int64_t last = w - 1;  // the last column (lanes past it are computed and dropped)
  const int64_t ph = h + 2 * kWarpPad;
  // The source rows (integer parts) at the first and last columns of a
  // vector of output rows, as SourceCoords computes them (the same values;
  // scalar, 112 such chains per 28x28 image took 5% of the warp: 484 -> 462
  // ns per image at random angles in [-15, 15] degrees).
  const auto fq_first = hn::Zero(d), fq_last = hn::Set(d, float(last));
  auto rows_at = [&](hn::Vec<decltype(d)> y0, hn::Vec<decltype(d)> fq) {
    return TruncInRange(di, ClampedSource(d, y0, fq, vdy, ymax));
  };
  // rows a band walks: the widest band of the image (iy spread + 1), at most ph
  auto vspread = hn::Zero(di);
  for (int64_t r = 0; r < h; r += N) {
    const auto valid = hn::FirstN(d, size_t(std::min(N, h - r)));
    const auto y0 = hn::MaskedLoad(valid, d, row_y + r);
    const auto gap = hn::Abs(hn::Sub(rows_at(y0, fq_first), rows_at(y0, fq_last)));
    vspread = hn::Max(vspread, hn::IfThenElseZero(hn::RebindMask(di, valid), gap));
  }
  const int32_t spread = hn::GetLane(hn::MaxOfLanes(di, vspread));
  const int32_t band = std::min<int32_t>(spread + 2, int32_t(ph));
  // masked (fault-free) loads that stop at the end of a padded row
  const auto mlo = hn::FirstN(d, size_t(std::min<int64_t>(pw, N)));
  const auto mhi = hn::FirstN(d, size_t(std::max<int64_t>(pw - N, 0)));
  const auto fqa = hn::Add(hn::Iota(d, 0.0f), hn::Set(d, 0.0f));
  const auto fqb = hn::Add(hn::Iota(d, 0.0f), hn::Set(d, float(N)));
  const int64_t total = h * w;
  // Each row's first band row, for a block of rows ahead of their fetches:
  // computed in the row loop, the scalar chain (source row, clamp, min)
  // started every row's loads late and kept the next rows' independent work
  // out of the scheduler (warp 775 -> 500 ns per 28x28 image at 15 degrees).
  constexpr int64_t kBlock = 32;  // a multiple of N
  HWY_ALIGN int32_t band0s[kBlock];
  const auto vband_max = hn::Set(di, int32_t(ph) - band);
  for (int64_t rb = 0; rb < h; rb += kBlock) {
    const int64_t rn = std::min(kBlock, h - rb);
    for (int64_t i = 0; i < rn; i += N) {  // lanes past rn: computed, never read
      const auto y0 = hn::MaskedLoad(hn::FirstN(d, size_t(std::min(N, rn - i))), d, row_y + rb + i);
      const auto lo_row = hn::Min(rows_at(y0, fq_first), rows_at(y0, fq_last));
      hn::Store(hn::Max(hn::Zero(di), hn::Min(lo_row, vband_max)), di, band0s + i);
    }
    for (int64_t i = 0; i < rn; ++i) {
      const int64_t r = rb + i;
      const auto x0 = hn::Set(d, row_x[r]), y0 = hn::Set(d, row_y[r]);
      const auto a = SourceCoords(d, fqa, x0, y0, vdx, vdy, xmax, ymax);
      auto b = a;
      if (two) b = SourceCoords(d, fqb, x0, y0, vdx, vdy, xmax, ymax);
      Neighbours na(a.ix), nb(b.ix);
      const float* src = pad + int64_t(band0s[i]) * pw;
      auto vrow = hn::Set(di, band0s[i]);
      auto walk = [&](auto load) {
        for (int32_t k = 0; k < band; ++k, src += pw, vrow = hn::Add(vrow, one)) {
          const auto lo = load(mlo, src), hi = load(mhi, src + N);
          na.Take(lo, hi, a.iy, vrow);
          if (two) nb.Take(lo, hi, b.iy, vrow);
        }
      };
      // 28x28 images: whole rows, plain loads, and for the bands of small
      // angles a walk unrolled at compile time (no loop branch, the two
      // vectors' Takes scheduled together: 462 -> 440 ns per image).
      auto fixed = [&]<int32_t K>(std::integral_constant<int32_t, K>) {
#pragma GCC unroll 16
        for (int32_t k = 0; k < K; ++k, src += pw, vrow = hn::Add(vrow, one)) {
          const auto lo = hn::LoadU(d, src), hi = hn::LoadU(d, src + N);
          na.Take(lo, hi, a.iy, vrow);
          nb.Take(lo, hi, b.iy, vrow);
        }
      };
      if (pw == 2 * N) {  // (so w = 2N - 2 * kWarpPad > N: two vectors)
        switch (band) {
          case 2: fixed(std::integral_constant<int32_t, 2>{}); break;
          case 3: fixed(std::integral_constant<int32_t, 3>{}); break;
          case 4: fixed(std::integral_constant<int32_t, 4>{}); break;
          case 5: fixed(std::integral_constant<int32_t, 5>{}); break;
          case 6: fixed(std::integral_constant<int32_t, 6>{}); break;
          case 7: fixed(std::integral_constant<int32_t, 7>{}); break;
          case 8: fixed(std::integral_constant<int32_t, 8>{}); break;
          case 9: fixed(std::integral_constant<int32_t, 9>{}); break;
          case 10: fixed(std::integral_constant<int32_t, 10>{}); break;
          default: walk([&](auto, const float* p) { return hn::LoadU(d, p); });
        }
      }
      else
        walk([&](auto m, const float* p) { return hn::MaskedLoad(m, d, p); });
      const V va = Blend4<kNormalize>(na.p00, na.p01, na.p10, na.p11, a.fx, a.fy, vmean, vstd);
      StoreRun(d, va, out, r * w, std::min(w, N), total);
      if (two) {
        const V vb = Blend4<kNormalize>(nb.p00, nb.p01, nb.p10, nb.p11, b.fx, b.fy, vmean, vstd);
        StoreRun(d, vb, out, r * w + N, w - N, total);
      }
    }
  }
}
#endif

// Any target, any size: four fetches per vector (see the file comment).
template <bool kNormalize>
HWY_INLINE void WarpGather(const float* HWY_RESTRICT pad, int64_t pw, const float* HWY_RESTRICT row_x,
                           const float* HWY_RESTRICT row_y, float dxq, float dyq, float* HWY_RESTRICT out,
                           int64_t h, int64_t w, float mean, float std) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const int64_t N = int64_t(hn::Lanes(d));
  const auto xmax = hn::Set(d, float(w + kWarpPad));
  const auto ymax = hn::Set(d, float(h + kWarpPad));
  const auto vdx = hn::Set(d, dxq), vdy = hn::Set(d, dyq);
  const auto vmean = hn::Set(d, mean), vstd = hn::Set(d, std);
  const auto vpw = hn::Set(di, int32_t(pw));
#if HWY_TARGET == HWY_SCALAR
  const auto one = hn::Set(di, 1);
  const auto vpw1 = hn::Set(di, int32_t(pw + 1));
#else
  const hn::Half<decltype(di)> dih;
  const hn::Repartition<int64_t, decltype(d)> d64;
#endif
  const int64_t total = h * w;
  for (int64_t r = 0; r < h; ++r) {
    const auto x0 = hn::Set(d, row_x[r]), y0 = hn::Set(d, row_y[r]);
    for (int64_t q = 0; q < w; q += N) {
      const auto fq = hn::Add(hn::Iota(d, 0.0f), hn::Set(d, float(q)));
      const auto c = SourceCoords(d, fq, x0, y0, vdx, vdy, xmax, ymax);
      const auto idx = hn::Add(hn::Mul(c.iy, vpw), c.ix);
#if HWY_TARGET == HWY_SCALAR
      const auto p00 = hn::GatherIndex(d, pad, idx);
      const auto p01 = hn::GatherIndex(d, pad, hn::Add(idx, one));
      const auto p10 = hn::GatherIndex(d, pad, hn::Add(idx, vpw));
      const auto p11 = hn::GatherIndex(d, pad, hn::Add(idx, vpw1));
#else
      // Horizontal neighbours are adjacent floats: gather them as one 64-bit
      // lane (byte offsets; x86 gathers accept any alignment), then split the
      // pairs with ConcatEven/ConcatOdd. Half the gathered elements of four
      // 32-bit gathers.
      // bytes, in int64: 4 * idx passed int32 from 2^29 pixels (gigapixel images)
      const auto olo = hn::ShiftLeft<2>(hn::PromoteTo(d64, hn::LowerHalf(dih, idx)));  // pixels [0, N/2)
      const auto ohi = hn::ShiftLeft<2>(hn::PromoteTo(d64, hn::UpperHalf(dih, idx)));  // pixels [N/2, N)
      const auto orow = hn::Set(d64, int64_t(pw) * 4);
      const int64_t* base = reinterpret_cast<const int64_t*>(pad);
      const auto tlo = hn::BitCast(d, hn::GatherOffset(d64, base, olo));
      const auto thi = hn::BitCast(d, hn::GatherOffset(d64, base, ohi));
      const auto blo = hn::BitCast(d, hn::GatherOffset(d64, base, hn::Add(olo, orow)));
      const auto bhi = hn::BitCast(d, hn::GatherOffset(d64, base, hn::Add(ohi, orow)));
      const auto p00 = hn::ConcatEven(d, thi, tlo), p01 = hn::ConcatOdd(d, thi, tlo);
      const auto p10 = hn::ConcatEven(d, bhi, blo), p11 = hn::ConcatOdd(d, bhi, blo);
#endif
      const auto v = Blend4<kNormalize>(p00, p01, p10, p11, c.fx, c.fy, vmean, vstd);
      StoreRun(d, v, out, r * w + q, std::min(N, w - q), total);
    }
  }
}

#if TG_WARP_PERMUTE
// Lanes [0, n) of a source row from p (n <= N; the other lanes 0), as floats.
// Masked loads: nothing past the n elements is read (AVX-512 masks fault-free).
template <class D>
HWY_INLINE hn::Vec<D> LoadSourceRow(D d, const float* HWY_RESTRICT p, size_t n) {
  return hn::MaskedLoad(hn::FirstN(d, n), d, p);
}
template <class D>
HWY_INLINE hn::Vec<D> LoadSourceRow(D d, const uint8_t* HWY_RESTRICT p, size_t n) {
  const hn::Rebind<uint8_t, D> d8;
  const hn::RebindToSigned<D> di;
  const auto bytes = hn::MaskedLoad(hn::FirstN(d8, n), d8, p);
  return hn::Div(hn::ConvertTo(d, hn::PromoteTo(di, bytes)), hn::Set(d, 255.0f));
}
#endif

// The padded source of a warp, translation included: per padded row, the
// image row it shows (shifted by dx), tfill where the shift leaves the image,
// rfill in the border. The image is floats, or bytes standing for byte / 255
// (uint8 storage read straight, no float copy of the image first). AVX-512
// with padded rows of at most 32 floats: a row is two registers, the source
// row's (at most 28) pixels picked into place by one permutex2var each and
// blended with the fills; other targets and wider rows: row by row, fills and
// one copy (or conversion) per row.
template <class T>
HWY_INLINE void PadShiftedT(const T* HWY_RESTRICT img, int64_t h, int64_t w, int64_t dx, int64_t dy, float tfill,
                            float rfill, float* HWY_RESTRICT pad) {
  const int64_t pw = w + 2 * kWarpPad, ph = h + 2 * kWarpPad;
#if TG_WARP_PERMUTE
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const int64_t N = int64_t(hn::Lanes(d));
  if (pw <= 2 * N) {
    using V = hn::Vec<decltype(d)>;
    // lane k of register j shows padded column c = jN + k - P, source column
    // c - dx (|dx| <= w: pad_shifted clamps, so the int32 lanes cannot overflow)
    const auto neg1 = hn::Set(di, -1), vw = hn::Set(di, int32_t(w));
    auto lanes = [&](int64_t j, hn::Mask<decltype(d)>& inner, hn::Mask<decltype(d)>& src, hn::Vec<decltype(di)>& idx) {
      const auto c = hn::Add(hn::Iota(di, int32_t(j * N)), hn::Set(di, int32_t(-kWarpPad)));
      const auto sc = hn::Sub(c, hn::Set(di, int32_t(dx)));
      const auto in_c = hn::And(hn::Gt(c, neg1), hn::Lt(c, vw));
      inner = hn::RebindMask(d, in_c);
      src = hn::RebindMask(d, hn::And(in_c, hn::And(hn::Gt(sc, neg1), hn::Lt(sc, vw))));
      idx = hn::And(sc, hn::Set(di, int32_t(2 * N - 1)));  // lanes outside `src` pick anything
    };
    hn::Mask<decltype(d)> inner_a, inner_b, src_a, src_b;
    hn::Vec<decltype(di)> idx_a, idx_b;
    lanes(0, inner_a, src_a, idx_a);
    lanes(1, inner_b, src_b, idx_b);
    const V vr = hn::Set(d, rfill);
    const V fill_a = hn::IfThenElse(inner_a, hn::Set(d, tfill), vr);  // an image row with no source row
    const V fill_b = hn::IfThenElse(inner_b, hn::Set(d, tfill), vr);
    const size_t nlo = size_t(std::min(w, N)), nhi = size_t(std::max<int64_t>(w - N, 0));
    const auto st_a = hn::FirstN(d, size_t(std::min(pw, N))), st_b = hn::FirstN(d, size_t(std::max<int64_t>(pw - N, 0)));
    for (int64_t pr = 0; pr < ph; ++pr) {
      const int64_t r = pr - kWarpPad, sr = r - dy;
      V a = vr, b = vr;
      if (r >= 0 && r < h) {
        a = fill_a, b = fill_b;
        if (sr >= 0 && sr < h) {
          const T* srow = img + sr * w;
          const V lo = LoadSourceRow(d, srow, nlo);
          const V hi = w > N ? LoadSourceRow(d, srow + N, nhi) : hn::Zero(d);
          a = hn::IfThenElse(src_a, V{_mm512_permutex2var_ps(lo.raw, idx_a.raw, hi.raw)}, a);
          b = hn::IfThenElse(src_b, V{_mm512_permutex2var_ps(lo.raw, idx_b.raw, hi.raw)}, b);
        }
      }
      float* row = pad + pr * pw;
      hn::BlendedStore(a, st_a, d, row);
      if (pw > N) hn::BlendedStore(b, st_b, d, row + N);
    }
    return;
  }
#endif
  // Row by row: the border, then the image row translate would make.
  for (int64_t pr = 0; pr < ph; ++pr) {
    float* row = pad + pr * pw;
    const int64_t r = pr - kWarpPad;
    if (r < 0 || r >= h) {
      std::fill(row, row + pw, rfill);
      continue;
    }
    std::fill(row, row + kWarpPad, rfill);
    std::fill(row + kWarpPad + w, row + pw, rfill);
    shifted_row(row + kWarpPad, img, r - dy, h, w, dx, tfill);
  }
}

void PadShifted(const float* HWY_RESTRICT img, int64_t h, int64_t w, int64_t dx, int64_t dy, float tfill,
                float rfill, float* HWY_RESTRICT pad) {
  PadShiftedT(img, h, w, dx, dy, tfill, rfill, pad);
}
void PadShiftedBytes(const uint8_t* HWY_RESTRICT img, int64_t h, int64_t w, int64_t dx, int64_t dy, float tfill,
                     float rfill, float* HWY_RESTRICT pad) {
  PadShiftedT(img, h, w, dx, dy, tfill, rfill, pad);
}

template <bool kNormalize>
HWY_INLINE void WarpBilinearT(const float* HWY_RESTRICT pad, int64_t pw, const float* HWY_RESTRICT row_x,
                              const float* HWY_RESTRICT row_y, float dxq, float dyq, float* HWY_RESTRICT out,
                              int64_t h, int64_t w, float mean, float std) {
#if TG_WARP_PERMUTE
  if (pw <= int64_t(2 * hn::Lanes(hn::ScalableTag<float>()))) {
    WarpPermute<kNormalize>(pad, pw, row_x, row_y, dxq, dyq, out, h, w, mean, std);
    return;
  }
#endif
  WarpGather<kNormalize>(pad, pw, row_x, row_y, dxq, dyq, out, h, w, mean, std);
}

void WarpBilinear(const float* HWY_RESTRICT pad, int64_t pw, const float* HWY_RESTRICT row_x,
                  const float* HWY_RESTRICT row_y, float dxq, float dyq, float* HWY_RESTRICT out, int64_t h,
                  int64_t w) {
  WarpBilinearT<false>(pad, pw, row_x, row_y, dxq, dyq, out, h, w, 0.0f, 1.0f);
}

void WarpBilinearNormalize(const float* HWY_RESTRICT pad, int64_t pw, const float* HWY_RESTRICT row_x,
                           const float* HWY_RESTRICT row_y, float dxq, float dyq, float* HWY_RESTRICT out,
                           int64_t h, int64_t w, float mean, float std) {
  WarpBilinearT<true>(pad, pw, row_x, row_y, dxq, dyq, out, h, w, mean, std);
}

const char* TargetName() { return hwy::TargetName(HWY_TARGET); }

#undef TG_WARP_PERMUTE

}  // namespace HWY_NAMESPACE
}  // namespace tg::data::kernels
HWY_AFTER_NAMESPACE();
