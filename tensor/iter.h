// Strided iteration for the op layer: walks up to four operands of one shape
// (each with its own strides, 0 for broadcast dims) as a sequence of rows.
//
// make_loop coalesces adjacent dims that are contiguous for every operand, so
// a contiguous tensor of any rank becomes one long row. for_each_row hands
// (offsets, n, inner strides) for each row to a callback, in parallel over
// rows above a work threshold; rows are independent, so results never depend
// on the thread count. A single long row is split into pieces, so callbacks
// must treat every element independently.
#pragma once
#include <cstdint>

#include "tensor/parallel.h"
#include "tensor/shape.h"

namespace tg::detail {

struct Loop {
  static constexpr int kMaxOps = 4;  // out and up to three inputs (where)
  int ndim = 0;   // >= 1
  int nops = 0;
  int64_t shape[Shape::kMaxDims];
  int64_t strides[kMaxOps][Shape::kMaxDims];
};

inline Loop make_loop(const Shape& shape, const Shape* const* strides, int nops) {
  Loop L;
  L.nops = nops;
  // Drop size-1 dims, then merge dims contiguous for every operand.
  for (int d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (L.ndim > 0) {
      bool merge = true;
      for (int k = 0; k < nops; ++k)
        if (L.strides[k][L.ndim - 1] != (*strides[k])[d] * shape[d]) merge = false;
      if (merge) {
        L.shape[L.ndim - 1] *= shape[d];
        for (int k = 0; k < nops; ++k) L.strides[k][L.ndim - 1] = (*strides[k])[d];
        continue;
      }
    }
    L.shape[L.ndim] = shape[d];
    for (int k = 0; k < nops; ++k) L.strides[k][L.ndim] = (*strides[k])[d];
    ++L.ndim;
  }
  if (L.ndim == 0) {
    L.ndim = 1;
    L.shape[0] = shape.numel();  // 1, or 0 for an empty tensor
    for (int k = 0; k < nops; ++k) L.strides[k][0] = 1;
  }
  return L;
}

// fn(const int64_t* offsets, int64_t n, const int64_t* inner_strides)
template <class F>
void for_each_row(const Loop& L, F&& fn, int64_t work_per_thread = 32768) {
  const int64_t n = L.shape[L.ndim - 1];
  if (n == 0) return;
  int64_t rows = 1;
  for (int d = 0; d + 1 < L.ndim; ++d) rows *= L.shape[d];
  if (rows == 0) return;
  int64_t inner[Loop::kMaxOps];
  for (int k = 0; k < L.nops; ++k) inner[k] = L.strides[k][L.ndim - 1];
  // (parallel_for_as<F>: the region profile names the caller's fn, not this helper)
  if (rows == 1) {
    // One long row (a contiguous tensor): split it into independent pieces.
    parallel_for_as<F>(0, n, work_per_thread, [&](int64_t i0, int64_t i1) {
      int64_t off[Loop::kMaxOps];
      for (int k = 0; k < L.nops; ++k) off[k] = i0 * inner[k];
      fn(off, i1 - i0, inner);
    });
    return;
  }
  const int64_t grain = work_per_thread / n > 1 ? work_per_thread / n : 1;
  parallel_for_as<F>(0, rows, grain, [&](int64_t r0, int64_t r1) {
    int64_t idx[Shape::kMaxDims] = {};
    int64_t off[Loop::kMaxOps] = {};
    int64_t r = r0;
    for (int d = L.ndim - 2; d >= 0; --d) {
      idx[d] = r % L.shape[d];
      r /= L.shape[d];
      for (int k = 0; k < L.nops; ++k) off[k] += idx[d] * L.strides[k][d];
    }
    for (int64_t row = r0; row < r1; ++row) {
      fn(off, n, inner);
      for (int d = L.ndim - 2; d >= 0; --d) {
        ++idx[d];
        for (int k = 0; k < L.nops; ++k) off[k] += L.strides[k][d];
        if (idx[d] < L.shape[d]) break;
        for (int k = 0; k < L.nops; ++k) off[k] -= idx[d] * L.strides[k][d];
        idx[d] = 0;
      }
    }
  });
}

}  // namespace tg::detail
