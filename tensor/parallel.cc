// parallel_for on a oneTBB task_arena whose size is tg::get_num_threads().
#include "tensor/parallel.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <thread>

#include "tensor/error.h"

namespace tg {
namespace {
std::mutex g_mu;
int g_threads = std::max(1u, std::thread::hardware_concurrency());
std::shared_ptr<tbb::task_arena> g_arena;
thread_local int t_depth = 0;

std::shared_ptr<tbb::task_arena> arena() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (!g_arena) g_arena = std::make_shared<tbb::task_arena>(g_threads);
  return g_arena;
}
}  // namespace

void set_num_threads(int n) {
  TG_CHECK(n >= 1, "set_num_threads: expected n >= 1, got ", n);
  std::lock_guard<std::mutex> lock(g_mu);
  if (n != g_threads) {
    g_threads = n;
    g_arena.reset();
  }
}

int get_num_threads() { return g_threads; }

namespace detail {
bool in_parallel_region() { return t_depth > 0; }

void parallel_for_impl(int64_t begin, int64_t end, int64_t grain, RangeFn fn) {
  auto a = arena();
  a->execute([&] {
    tbb::parallel_for(tbb::blocked_range<int64_t>(begin, end, std::max<int64_t>(1, grain)),
                      [&](const tbb::blocked_range<int64_t>& r) {
                        ++t_depth;
                        fn(r.begin(), r.end());
                        --t_depth;
                      });
  });
}
}  // namespace detail
}  // namespace tg
