// parallel_for and the global thread count: the only way tapegrad uses threads.
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
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace tg {

// Bound every parallel region to n threads (n >= 1). Default: all cores.
void set_num_threads(int n);
int get_num_threads();

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
}  // namespace detail

template <class F>
inline void parallel_for(int64_t begin, int64_t end, int64_t grain, F&& fn) {
  if (end <= begin) return;
  if (end - begin <= grain || get_num_threads() == 1 || detail::in_parallel_region()) {
    fn(begin, end);
    return;
  }
  auto& f = fn;
  detail::parallel_for_impl(begin, end, grain, detail::RangeFn(f));
}

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
  const int64_t nchunks = (n + chunk - 1) / chunk;
  parallel_for(0, nchunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) fn(c, c * chunk, std::min(n, (c + 1) * chunk));
  });
}

}  // namespace tg
