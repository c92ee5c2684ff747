// W5 per-op overhead, LibTorch C++ side (bench/overhead.cc is tapegrad's): a
// 64-element float add without grad, with grad recording, and add + sum +
// backward. Microseconds per op, median of 7 runs of N iterations each.
// Built by bench/run with g++ against Debian's libtorch-dev (not part of the
// CMake build, so the library never needs LibTorch).
//   overhead_libtorch [threads]        prints one JSON object
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

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
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const int n = argc > 2 ? std::atoi(argv[2]) : 200000;
  torch::set_num_threads(threads);
  torch::Tensor a = torch::rand({64}), b = torch::rand({64});
  torch::Tensor ag = torch::rand({64}).requires_grad_(), bg = torch::rand({64}).requires_grad_();
  const double add = median_us([&] { torch::Tensor c = a + b; }, n);
  const double add_grad = median_us([&] { torch::Tensor c = ag + bg; }, n);
  const double add_sum_bwd = median_us([&] {
    torch::Tensor c = torch::sum(ag + bg);
    c.backward();
  }, n / 4);
  std::printf("{\"impl\": \"libtorch\", \"workload\": \"overhead\", \"threads\": %d, \"add_us\": %.4f, "
              "\"add_grad_us\": %.4f, \"add_sum_backward_us\": %.4f}\n",
              torch::get_num_threads(), add, add_grad, add_sum_bwd);
  return 0;
}
