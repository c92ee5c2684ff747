// How much a parallel region of a given size gains from a second thread:
// a loop of `serial` µs of work on the calling thread followed by
// tg::parallel_for over 2 chunks of `chunk` µs each (busy-waiting on the
// clock, so the chunk lasts that long whatever else runs), for 1 and 2
// threads, plus the same with a bare tbb::parallel_for in a 2-thread arena
// (the implementation tapegrad used before tensor/parallel.cc's pool).
// Prints µs per iteration against the ideal, and the round trip of one cache
// line between two threads (where the VM's two vCPUs sit relative to each
// other: ~100 ns within a core complex, 400+ ns across). A timing, never a test.
//   bench_parallel [serial_us chunk_us ...]   default: 50 50  10 200  5 20  10 2000
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "tensor/parallel.h"

namespace {

using clk = std::chrono::steady_clock;

void busy(double us) {
  const auto t0 = clk::now();
  while (std::chrono::duration<double, std::micro>(clk::now() - t0).count() < us) {
  }
}

template <class F>
double per_iter(int iters, F&& f) {
  f();
  const auto t0 = clk::now();
  for (int i = 0; i < iters; ++i) f();
  return std::chrono::duration<double, std::micro>(clk::now() - t0).count() / iters;
}

std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string s;
  std::getline(f, s);
  return s;
}

// ns per round trip of one cache line between this thread and another.
double ping_pong_ns() {
  alignas(64) std::atomic<int> a{0};
  constexpr int kN = 100000;
  std::thread t([&] {
    for (int i = 0; i < kN; ++i) {
      while (a.load(std::memory_order_acquire) != 2 * i + 1) {
      }
      a.store(2 * i + 2, std::memory_order_release);
    }
  });
  const auto t0 = clk::now();
  for (int i = 0; i < kN; ++i) {
    a.store(2 * i + 1, std::memory_order_release);
    while (a.load(std::memory_order_acquire) != 2 * i + 2) {
    }
  }
  const double ns = std::chrono::duration<double, std::nano>(clk::now() - t0).count() / kN;
  t.join();
  return ns;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<double> args;
  for (int i = 1; i < argc; ++i) args.push_back(std::atof(argv[i]));
  if (args.size() < 2) args = {50, 50, 10, 200, 5, 20, 10, 2000};
  std::printf("load average: %s\n", loadavg().c_str());
  std::printf("cache-line round trip between two threads: %.0f ns\n", ping_pong_ns());
  std::printf("%10s %10s | %12s %12s %12s | %8s\n", "serial us", "chunk us", "tg T=1", "tg T=2",
              "tbb T=2", "ideal T=2");
  tbb::task_arena arena(2);
  for (size_t a = 0; a + 1 < args.size(); a += 2) {
    const double s = args[a], c = args[a + 1];
    const int iters = std::max(20, int(200000 / (s + 2 * c)));
    double t[2];
    for (int T : {1, 2}) {
      tg::set_num_threads(T);
      t[T - 1] = per_iter(iters, [&] {
        busy(s);
        tg::parallel_for(0, 2, 1, [&](int64_t lo, int64_t hi) {
          for (int64_t j = lo; j < hi; ++j) busy(c);
        });
      });
    }
    const double tb = per_iter(iters, [&] {
      busy(s);
      arena.execute([&] {
        tbb::parallel_for(tbb::blocked_range<int64_t>(0, 2, 1), [&](const tbb::blocked_range<int64_t>& r) {
          for (int64_t j = r.begin(); j < r.end(); ++j) busy(c);
        });
      });
    });
    std::printf("%10.0f %10.0f | %12.1f %12.1f %12.1f | %8.0f\n", s, c, t[0], t[1], tb, s + c);
  }
  std::printf("load average: %s\n", loadavg().c_str());
}
