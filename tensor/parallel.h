// parallel_for and the global thread count: the only way tapegrad's ops use
// threads (the DataLoader's prefetch thread is the one other thread).
//
// parallel_for(begin, end, grain, fn) calls fn(lo, hi) on disjoint sub-ranges
// that cover [begin, end). It runs serially (one call fn(begin, end) on the
// calling thread) when the range is not larger than `grain` or when the thread
// count is 1; otherwise it splits the range into at most tg::get_num_threads()
// equal chunks of at least `grain`, run by the caller and a pool of oneTBB
// worker threads (tensor/parallel.cc). Callers choose `grain` so that one
// chunk is worth a thread (tiny-dnn got slower with threads on tiny ops).
//
// Determinism: parallel_for does not promise how the range is split. Code that
// combines partial results (reductions) uses parallel_chunks, whose chunk
// boundaries depend only on (n, chunk) and never on the thread count; partial
// results are then combined in chunk order by the caller.
//
// Region profile: with TG_PROFILE_REGIONS=1 in the environment (the table is
// printed to stderr at a normal exit) or set_region_profiling(true), every
// top-level parallel_for is timed on the calling thread and counted per call
// site (the lambda's type): where a training step's parallel time goes, op by
// op. Off, it costs one relaxed atomic load per parallel_for.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

namespace tg {

// Bound every parallel region to n threads (n >= 1). Default: all cores.
void set_num_threads(int n);
int get_num_threads();
// The threads a parallel region actually runs on: get_num_threads() capped at
// what oneTBB allows (the process's CPU affinity: one under `taskset -c 1`).
// Benchmarks report this one.
int get_effective_num_threads();

namespace detail {
// A non-owning reference to a callable void(int64_t, int64_t).
class RangeFn {
 public:
  template <class F>
  RangeFn(F& f) : obj_(&f), call_([](void* o, int64_t a, int64_t b) { (*static_cast<F*>(o))(a, b); }) {}
  void operator()(int64_t a, int64_t b) const { call_(obj_, a, b); }

 private:
  void* obj_;
  void (*call_)(void*, int64_t, int64_t);
};
void parallel_for_impl(int64_t begin, int64_t end, int64_t grain, RangeFn fn);
bool in_parallel_region();

extern std::atomic<bool> g_region_profiling;
// The profiled paths, out of line (the hot path only loads the flag): run
// the region as parallel_for / serial_region would, timed under `site`, and
// return true; or return false without running it when this thread is
// inside a parallel or timed region (a nested region is part of that one).
[[gnu::cold]] bool timed_range(int64_t begin, int64_t end, int64_t grain, RangeFn fn, const std::type_info& site);
[[gnu::cold]] bool timed_call(RangeFn fn, const std::type_info& site);

// parallel_for whose region profile entry is named after Site (cv and ref
// dropped): helpers that run a caller's functor in a region (parallel_chunks,
// for_each_row, ...) pass the functor's type, so the profile names the
// caller, not the helper.
template <class Site, class F>
inline void parallel_for_as(int64_t begin, int64_t end, int64_t grain, F&& fn) {
  if (end <= begin) return;
  if (g_region_profiling.load(std::memory_order_relaxed)) [[unlikely]] {
    if (timed_range(begin, end, grain, RangeFn(fn), typeid(std::remove_cvref_t<Site>))) return;
  }
  if (end - begin <= grain || get_num_threads() == 1 || in_parallel_region()) {
    fn(begin, end);
    return;
  }
  parallel_for_impl(begin, end, grain, RangeFn(fn));
}
}  // namespace detail

template <class F>
inline void parallel_for(int64_t begin, int64_t end, int64_t grain, F&& fn) {
  detail::parallel_for_as<F>(begin, end, grain, fn);
}

// Runs fn() on this thread; with the region profile on, timed as a region of
// its call site ("[serial]"), like a parallel_for. For ops that skip
// parallel_for when they run serially (GEMM, the optimizers), so that a
// one-thread profile still shows them.
template <class F>
inline void serial_region(F&& fn) {
  if (detail::g_region_profiling.load(std::memory_order_relaxed)) [[unlikely]] {
    auto call = [&](int64_t, int64_t) { fn(); };
    if (detail::timed_call(detail::RangeFn(call), typeid(std::remove_cvref_t<F>))) return;
  }
  fn();
}

// Region profile (see the file comment). One entry per call site (the
// functor's type; two sites that print alike are merged), largest total
// first; `site` is the demangled type without argument and template lists,
// e.g. "tg::optim::detail::for_each_chunk::{lambda}", with " [serial]" for
// serial_region calls.
struct RegionStat {
  std::string site;
  int64_t calls = 0;
  double total_us = 0;
};
void set_region_profiling(bool on);
bool region_profiling();
std::vector<RegionStat> region_profile();
void reset_region_profile();
// A Markdown table: site, calls, total ms, µs per call, share of the total
// (the header's thread count is get_num_threads() when it is formatted).
std::string format_region_profile();

// Within its lifetime, every parallel_for on this thread runs serially on it,
// as inside a parallel region. For threads that are already one of several
// busy threads (the DataLoader's prefetch worker and the caller helping it):
// a nested parallel_for would wake the pool's workers onto cores that are
// taken, and their spinning costs more than the split gains (loader at 2
// threads: 14,000 -> 24,000 batches/s once the batch conversion split).
class SerialScope {
 public:
  [[nodiscard]] SerialScope();
  ~SerialScope();
  SerialScope(const SerialScope&) = delete;
  SerialScope& operator=(const SerialScope&) = delete;
};

// Calls fn(chunk_index, lo, hi) for the fixed chunks [k*chunk, min(n,(k+1)*chunk)),
// possibly in parallel. Chunk boundaries never depend on the thread count.
template <class F>
inline void parallel_chunks(int64_t n, int64_t chunk, F&& fn) {
  if (chunk < 1) chunk = 1;
  const int64_t nchunks = (n + chunk - 1) / chunk;
  detail::parallel_for_as<F>(0, nchunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) fn(c, c * chunk, std::min(n, (c + 1) * chunk));
  });
}

// The chunk of the full reductions (sum, mean, the fused losses' sums).
inline constexpr int64_t kReduceChunk = 16384;

// Σ part(lo, hi) over the fixed kReduceChunk chunks of [0, n), computed in
// parallel and added in chunk order (integers wrap, as PyTorch's int64 sum),
// so the bits never depend on the thread count. n <= kReduceChunk: part(0, n).
template <class T, class F>
T chunked_sum(int64_t n, F&& part) {
  if (n <= kReduceChunk) return part(int64_t(0), n);
  const int64_t nchunks = (n + kReduceChunk - 1) / kReduceChunk;
  std::vector<T> parts(size_t(nchunks), T(0));
  parallel_chunks(n, kReduceChunk, [&](int64_t c, int64_t lo, int64_t hi) { parts[size_t(c)] = part(lo, hi); });
  T s = 0;
  for (T v : parts) {
    if constexpr (std::is_integral_v<T>) s = T(uint64_t(s) + uint64_t(v));  // signed overflow is UB
    else s += v;
  }
  return s;
}

}  // namespace tg
