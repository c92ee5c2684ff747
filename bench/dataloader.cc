// Loader throughput: batches per second of DataLoader with shuffle and the
// augmentation chain RandomTranslation(2) + RandomRotation(15, bilinear) +
// RandomErasing(p=0.5) + Normalize, batch 64, on Fashion-MNIST's 60,000
// training images (synthetic uint8 images of the same shape when the data set
// is not installed). The consumer only touches each batch, so this measures
// the loader alone; training consumes 1,000-3,000 batches/s at most. The
// process CPU time is printed too: on a shared machine the wall-clock rate
// mostly measures the other tenants (see the load average it prints).
//   ./build/bench/bench_dataloader [--threads N] [--batches B] [--no-prefetch] [--no-aug]
#include <chrono>
#include <ctime>
#include <fstream>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "data/dataloader.h"
#include "data/mnist.h"
#include "data/transforms.h"
#include "data/warp.h"
#include "tensor/parallel.h"

using namespace tg::data;

int main(int argc, char** argv) {
  int threads = tg::get_num_threads();
  int64_t batches = 20000;
  bool prefetch = true, aug = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--batches" && i + 1 < argc) batches = std::atoll(argv[++i]);
    else if (a == "--no-prefetch") prefetch = false;
    else if (a == "--no-aug") aug = false;
    else {
      std::fprintf(stderr, "usage: %s [--threads N] [--batches B] [--no-prefetch] [--no-aug]\n", argv[0]);
      return 2;
    }
  }
  tg::set_num_threads(threads);

  DatasetPtr ds;
  std::string source;
  if (std::filesystem::exists(std::string(FashionMNIST::kSystemRoot) + "/train-images-idx3-ubyte.gz")) {
    ds = share(FashionMNIST(FashionMNIST::kSystemRoot, Split::Train));
    source = "Fashion-MNIST train (60000)";
  } else {
    const std::filesystem::path dir = std::filesystem::temp_directory_path() / "tg_bench_synthetic_mnist";
    std::filesystem::create_directories(dir);
    const int64_t n = 60000;
    std::vector<uint8_t> img(static_cast<size_t>(n) * 784), lab(static_cast<size_t>(n));
    for (size_t k = 0; k < img.size(); ++k) img[k] = uint8_t((k * 2654435761u) >> 24);
    for (int64_t i = 0; i < n; ++i) lab[size_t(i)] = uint8_t(i % 10);
    write_idx((dir / "train-images-idx3-ubyte").string(), IdxType::UInt8, {n, 28, 28}, img.data());
    write_idx((dir / "train-labels-idx1-ubyte").string(), IdxType::UInt8, {n}, lab.data());
    ds = share(MNIST(dir.string(), Split::Train));
    source = "synthetic 60000x28x28 (Fashion-MNIST not installed)";
  }
  TransformPtr t;
  if (aug)
    t = compose(RandomTranslation(2), RandomRotation(15.0, Interpolation::Bilinear), RandomErasing({.p = 0.5}),
                Normalize({0.2860f}, {0.3530f}));
  DataLoader loader(ds, {.batch_size = 64, .shuffle = true, .seed = 0, .drop_last = false, .prefetch = prefetch}, t);

  double checksum = 0;
  for (int k = 0; k < 200; ++k) checksum += loader.next().data.data_ptr<float>()[0];  // warm-up
  const std::clock_t c0 = std::clock();
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t k = 0; k < batches; ++k) {
    Example b = loader.next();
    checksum += b.data.data_ptr<float>()[0] + double(b.target.data_ptr<int64_t>()[0]);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = double(std::clock() - c0) / CLOCKS_PER_SEC;
  std::string load = "?";
  std::getline(std::ifstream("/proc/loadavg"), load);
  std::printf("data set: %s\n", source.c_str());
  std::printf("loader: batch 64, shuffle, %s, prefetch %s, threads %d\n",
              aug ? "translate(2)+rotate(15, bilinear)+erase(0.5)+normalize" : "no augmentation",
              prefetch ? "on" : "off", tg::get_effective_num_threads());
  std::printf("warp kernel target: %s; load average: %s\n", kernels::warp_target_name(), load.c_str());
  std::printf("%lld batches in %.3f s: %.0f batches/s (%.0f images/s); process CPU %.3f s = %.0f batches per CPU-second"
              "  [checksum %.3f]\n",
              (long long)batches, s, double(batches) / s, double(batches) * 64 / s, cpu, double(batches) / cpu,
              checksum);
  return 0;
}
