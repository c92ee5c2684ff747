// Side-by-side training benchmark, tapegrad side (bench/train_torch.py is the
// PyTorch side with the identical recipe; bench/run drives both).
//
//   bench_train --workload mlp|lenet|infer [--threads T] [--epochs E] [--seed S]
//               [--iters N] [--test-batch B]
//
// mlp:   Fashion-MNIST train (60k), 784-256-128-10 ReLU, cross-entropy from
//        logits, Adam 1e-3, batch 64, a fresh random permutation per epoch.
// lenet: conv 1->6 5x5 pad 2, ReLU, maxpool 2, conv 6->16 5x5, ReLU, maxpool 2,
//        400-120-84-10, same optimizer and batches.
// infer: LeNet-5 forward, eval + no-grad, batch 1 (latency) and batch 256
//        (throughput); the model is freshly initialized (weights do not matter).
// Data is in memory before the clock starts: the IDX files are read once, the
// loader runs on the calling thread (no prefetch thread, no augmentation) and
// turns uint8 into float32 [0,1] per batch. An epoch's time covers batching,
// forward, backward and the optimizer step; the test pass is outside it and
// runs in batches of --test-batch images (default 64, the training batch; its
// activations then add little to the peak, on both sides).
// Prints one JSON object on stdout; peak memory is VmHWM of this process.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "tapegrad/tapegrad.h"

namespace nn = tg::nn;
using Clock = std::chrono::steady_clock;

static double vm_hwm_mib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;  // kB -> MiB
  return -1;
}

// CPU seconds of the whole process (all threads): less sensitive to other
// processes on a shared machine than wall time.
static double cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

static std::shared_ptr<nn::Sequential> make_model(const std::string& w) {
  if (w == "mlp")
    return std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(784, 256), std::make_shared<nn::ReLU>(),
        std::make_shared<nn::Linear>(256, 128), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(128, 10)});
  return std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 1, .out = 6, .kernel = 5, .padding = 2}),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Conv2d>(6, 16, 5),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Linear>(400, 120), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(120, 84),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(84, 10)});
}

static std::string join(const std::vector<double>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    char b[32];
    std::snprintf(b, sizeof b, "%s%.6g", i ? ", " : "", v[i]);
    s += b;
  }
  return s + "]";
}

int main(int argc, char** argv) {
  std::string workload = "mlp", root = tg::data::FashionMNIST::kSystemRoot;
  int threads = 1, epochs = -1, iters = -1, test_batch = 64;
  uint64_t seed = 0;
  for (int i = 1; i < argc; ++i) {
    auto arg = [&](const char* name) { return std::strcmp(argv[i], name) == 0 && i + 1 < argc; };
    if (arg("--workload")) workload = argv[++i];
    else if (arg("--threads")) threads = std::atoi(argv[++i]);
    else if (arg("--epochs")) epochs = std::atoi(argv[++i]);
    else if (arg("--seed")) seed = std::strtoull(argv[++i], nullptr, 10);
    else if (arg("--iters")) iters = std::atoi(argv[++i]);
    else if (arg("--data")) root = argv[++i];
    else if (arg("--test-batch")) test_batch = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: %s --workload mlp|lenet|infer [--threads T] [--epochs E] [--seed S] [--iters N] [--test-batch B]\n",
                   argv[0]);
      return 2;
    }
  }
  tg::set_num_threads(threads);
  tg::manual_seed(seed);

  if (workload == "infer") {
    auto model = make_model("lenet");
    model->eval();
    tg::NoGradGuard no_grad;
    auto time_batch = [&](int64_t b, int n) {
      tg::Tensor x = tg::rand({b, 1, 28, 28});
      for (int i = 0; i < std::max(3, n / 20); ++i) tg::Tensor y = model->forward(x);  // warm-up
      std::vector<double> runs;
      for (int r = 0; r < 5; ++r) {
        const auto t0 = Clock::now();
        for (int i = 0; i < n; ++i) tg::Tensor y = model->forward(x);
        runs.push_back(std::chrono::duration<double>(Clock::now() - t0).count() / n);
      }
      std::sort(runs.begin(), runs.end());
      return runs[2];  // seconds per forward, median of 5
    };
    const int n1 = iters > 0 ? iters : 2000, n256 = iters > 0 ? std::max(1, iters / 50) : 40;
    const double s1 = time_batch(1, n1), s256 = time_batch(256, n256);
    std::printf("{\"impl\": \"tapegrad\", \"workload\": \"infer\", \"threads\": %d, \"b1_latency_us\": %.3f, "
                "\"b256_latency_ms\": %.4f, \"b256_images_per_s\": %.1f, \"peak_mib\": %.1f}\n",
                tg::get_effective_num_threads(), s1 * 1e6, s256 * 1e3, 256.0 / s256, vm_hwm_mib());
    return 0;
  }
  if (workload != "mlp" && workload != "lenet") {
    std::fprintf(stderr, "unknown workload %s\n", workload.c_str());
    return 2;
  }
  if (epochs < 0) epochs = workload == "mlp" ? 5 : 3;

  auto train = std::make_shared<tg::data::MNIST>(root, tg::data::Split::Train);
  tg::data::MNIST test(root, tg::data::Split::Test);
  std::vector<int64_t> all(size_t(test.size()));
  for (int64_t i = 0; i < test.size(); ++i) all[size_t(i)] = i;

  std::fprintf(stderr, "tapegrad: VmHWM after loading the data %.1f MiB\n", vm_hwm_mib());
  auto model = make_model(workload);
  tg::optim::Adam opt(model->parameters(), {.lr = 1e-3});
  tg::data::DataLoader loader(train, {.batch_size = 64, .shuffle = true, .seed = seed, .prefetch = false});

  std::vector<double> epoch_s, epoch_cpu_s, losses;
  for (int e = 0; e < epochs; ++e) {
    model->train();
    loader.set_epoch(e);
    double loss_sum = 0;
    int64_t steps = 0;
    const auto t0 = Clock::now();
    const double c0 = cpu_s();
    for (int64_t b = 0; b < loader.batches_per_epoch(); ++b) {
      tg::data::Example batch = loader.next();
      tg::Tensor loss = tg::F::cross_entropy(model->forward(batch.data), batch.target);
      opt.zero_grad();
      loss.backward();
      opt.step();
      loss_sum += loss.item<double>();
      ++steps;
    }
    epoch_s.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    epoch_cpu_s.push_back(cpu_s() - c0);
    losses.push_back(loss_sum / double(steps));
    std::fprintf(stderr, "tapegrad %s T=%d seed=%llu epoch %d: loss %.4f, %.3f s\n", workload.c_str(), threads,
                 (unsigned long long)seed, e + 1, losses.back(), epoch_s.back());
  }
  const double peak_train = vm_hwm_mib();  // before the test pass
  double acc;
  {
    tg::NoGradGuard no_grad;
    model->eval();
    // In batches of test_batch (as the PyTorch side).
    int64_t correct = 0;
    for (int64_t i = 0; i < test.size(); i += test_batch) {
      const int64_t j = std::min<int64_t>(test.size(), i + test_batch);
      const tg::data::Example c = test.get_batch(std::span<const int64_t>(all.data() + i, size_t(j - i)));
      correct += tg::sum(tg::eq(tg::argmax(model->forward(c.data), 1), c.target).to(tg::kInt64)).item<int64_t>();
    }
    acc = double(correct) / double(test.size());
  }
  std::printf("{\"impl\": \"tapegrad\", \"workload\": \"%s\", \"threads\": %d, \"seed\": %llu, \"epochs\": %d, "
              "\"batches_per_epoch\": %lld, \"epoch_s\": %s, \"epoch_cpu_s\": %s, \"train_loss\": %s, \"test_acc\": %.4f, "
              "\"peak_mib\": %.1f, \"peak_train_mib\": %.1f}\n",
              workload.c_str(), tg::get_effective_num_threads(), (unsigned long long)seed, epochs,
              (long long)loader.batches_per_epoch(), join(epoch_s).c_str(),
              join(epoch_cpu_s).c_str(), join(losses).c_str(), 100 * acc, vm_hwm_mib(), peak_train);
  return 0;
}
