// Where do two threads start to pay for elementwise ops? Times add, exp and a
// full sum on n float32 elements with the parallel grain forced low, for 1 and
// 2 threads, and prints the speed-up per size. The grain constants in
// tensor/raw_*.cc (32768 for add, 16384 for exp, 16K-element reduction chunks)
// come from this table.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "tapegrad/tapegrad.h"
#include "tensor/kernels/elementwise.h"

template <class F>
double median_ns(F&& f, int reps) {
  std::vector<double> t;
  for (int r = 0; r < 9; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) f();
    t.push_back(std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / reps);
  }
  std::sort(t.begin(), t.end());
  return t[4];
}

int main() {
  std::printf("%10s %12s %12s %8s %12s %12s %8s\n", "n", "add 1T ns", "add 2T ns", "speedup", "exp 1T ns", "exp 2T ns",
              "speedup");
  for (int64_t n : {1024, 4096, 8192, 16384, 32768, 65536, 131072, 524288, 2097152}) {
    std::vector<float> a(static_cast<size_t>(n), 1.5f), b(static_cast<size_t>(n), 2.5f), c(static_cast<size_t>(n));
    const int reps = int(std::max<int64_t>(10, 20000000 / n));
    double r[2][2];
    for (int t = 1; t <= 2; ++t) {
      tg::set_num_threads(t);
      // grain 1024: split whenever two threads are allowed, to see the raw cost.
      r[t - 1][0] = median_ns([&] {
        tg::parallel_for(0, n, 1024 * 4, [&](int64_t i0, int64_t i1) {
          tg::kernels::binary(tg::kernels::BinaryOp::Add, a.data() + i0, 1, b.data() + i0, 1, c.data() + i0, i1 - i0);
        });
      }, reps);
      r[t - 1][1] = median_ns([&] {
        tg::parallel_for(0, n, 1024 * 4, [&](int64_t i0, int64_t i1) {
          tg::kernels::unary(tg::kernels::UnaryOp::Exp, a.data() + i0, c.data() + i0, i1 - i0);
        });
      }, reps);
    }
    std::printf("%10lld %12.0f %12.0f %8.2f %12.0f %12.0f %8.2f\n", (long long)n, r[0][0], r[1][0], r[0][0] / r[1][0],
                r[0][1], r[1][1], r[0][1] / r[1][1]);
  }
  return 0;
}
