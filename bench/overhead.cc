// Per-op overhead on tiny tensors (the W5 workload): a 64-element add without
// grad, with grad recording, and add + sum + backward. Prints microseconds per
// op (median of 7 runs of N iterations each) and the thread count.
//   bench_overhead [threads] [iterations]   human lines on stderr, one JSON object
//   on stdout (bench/run compares it with bench/libtorch/overhead_libtorch.cc).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "tapegrad/tapegrad.h"

template <class F>
double median_us(F&& f, int iters) {
  std::vector<double> runs;
  for (int r = 0; r < 7; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) f();
    const auto t1 = std::chrono::steady_clock::now();
    runs.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / iters);
  }
  std::sort(runs.begin(), runs.end());
  return runs[3];
}

int main(int argc, char** argv) {
  tg::set_num_threads(argc > 1 ? std::atoi(argv[1]) : 1);
  tg::Tensor a = tg::rand({64}), b = tg::rand({64});
  tg::Tensor ag = tg::rand({64}).requires_grad_(), bg = tg::rand({64}).requires_grad_();
  const int n = argc > 2 ? std::atoi(argv[2]) : 200000;
  const double add = median_us([&] { tg::Tensor c = a + b; }, n);
  const double add_grad = median_us([&] { tg::Tensor c = ag + bg; }, n);
  const double add_sum_bwd = median_us([&] {
    tg::Tensor c = tg::sum(ag + bg);
    c.backward();
  }, n / 4);
  std::fprintf(stderr, "threads=%d\n", tg::get_effective_num_threads());
  std::fprintf(stderr, "add (64 elements, no grad)      %.3f us\n", add);
  std::fprintf(stderr, "add (64 elements, recording)    %.3f us\n", add_grad);
  std::fprintf(stderr, "add + sum + backward            %.3f us\n", add_sum_bwd);
  std::printf("{\"impl\": \"tapegrad\", \"workload\": \"overhead\", \"threads\": %d, \"add_us\": %.4f, "
              "\"add_grad_us\": %.4f, \"add_sum_backward_us\": %.4f}\n",
              tg::get_effective_num_threads(), add, add_grad, add_sum_bwd);
  return 0;
}
