// Memory over a long run: 10,000 training steps of the MLP 784-256-128-10
// (batch 64, Adam, synthetic data made once), reporting resident memory
// (VmRSS from /proc/self/status, split into RssAnon and RssFile) and
// tg::alloc_stats() at steps 100, 1,000 and 10,000. A steady state means
// RssAnon (heap, tensor buffers, stacks) stops growing after warm-up and
// system_allocs stops increasing (the caching allocator serves every buffer).
// RssFile may still step up by a few pages long after warm-up: read-only
// library pages mapped the first time a rare path runs (libm's pow underflow
// in Adam's bias correction near step 4,860, expf below -88 once the loss is
// ~0), each 4-64 KiB once (the kernel maps cached neighbours too).
//   bench_memory [steps=10000] [threads=0 (all)]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "tapegrad/tapegrad.h"

namespace {

long status_kb(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key, 0) == 0) return std::strtol(line.c_str() + std::strlen(key), nullptr, 10);
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  const long steps = argc > 1 ? std::atol(argv[1]) : 10000;
  if (argc > 2 && std::atoi(argv[2]) > 0) tg::set_num_threads(std::atoi(argv[2]));
  namespace nn = tg::nn;
  tg::Generator gen(0);
  nn::Sequential model;
  model.push_back(std::make_shared<nn::Linear>(nn::LinearOptions{.in = 784, .out = 256}, gen));
  model.push_back(std::make_shared<nn::ReLU>());
  model.push_back(std::make_shared<nn::Linear>(nn::LinearOptions{.in = 256, .out = 128}, gen));
  model.push_back(std::make_shared<nn::ReLU>());
  model.push_back(std::make_shared<nn::Linear>(nn::LinearOptions{.in = 128, .out = 10}, gen));
  tg::optim::Adam opt(model.parameters(), {.lr = 1e-3});

  // 16 synthetic batches, cycled: memory, not data loading, is measured.
  constexpr int kBatches = 16;
  std::vector<tg::Tensor> xs, ys;
  for (int i = 0; i < kBatches; ++i) {
    xs.push_back(tg::rand({64, 784}, gen));
    ys.push_back(tg::randint(0, 10, {64}, gen));
  }
  std::printf("bench_memory: MLP 784-256-128-10, batch 64, Adam, %ld steps, threads: %d\n", steps, tg::get_effective_num_threads());
  std::printf("%8s %12s %8s %8s %14s %12s %14s %10s\n", "step", "VmRSS (KiB)", "RssAnon", "RssFile", "system_allocs",
              "cache_hits", "bytes_cached", "loss");
  status_kb("VmRSS:");  // its first ifstream/getline faults in libstdc++ pages: not at step 1,000
  const long report[] = {100, 1000, 10000};
  size_t next = 0;
  for (long s = 1; s <= steps; ++s) {
    tg::Tensor loss = tg::F::cross_entropy(model.forward(xs[size_t(s % kBatches)]), ys[size_t(s % kBatches)]);
    opt.zero_grad();
    loss.backward();
    opt.step();
    if ((next < 3 && s == report[next]) || s == steps) {
      const tg::AllocStats a = tg::alloc_stats();
      std::printf("%8ld %12ld %8ld %8ld %14llu %12llu %14llu %10.4f\n", s, status_kb("VmRSS:"), status_kb("RssAnon:"),
                  status_kb("RssFile:"), (unsigned long long)a.system_allocs,
                  (unsigned long long)a.cache_hits, (unsigned long long)a.bytes_cached, loss.item<double>());
      std::fflush(stdout);
      if (next < 3 && s == report[next]) ++next;
    }
  }
  return 0;
}
