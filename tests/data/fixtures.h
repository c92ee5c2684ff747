// Shared helpers for the data tests: a scratch directory that removes itself,
// raw byte writers, and a tiny MNIST-layout fixture whose pixels and labels are
// known functions of the image index.
#pragma once
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "data/idx.h"

namespace tg_test {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    path = std::filesystem::temp_directory_path() /
           ("tg_data_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// Pixel (r, c) of fixture image i, and its label.
inline uint8_t fixture_pixel(int64_t i, int64_t r, int64_t c) { return uint8_t((i * 7 + r * 28 + c) % 256); }
inline uint8_t fixture_label(int64_t i) { return uint8_t(i % 10); }

// Writes `n` 28x28 images and labels as <prefix>-images<sep>idx3-ubyte[.gz] and
// <prefix>-labels<sep>idx1-ubyte[.gz] into `dir`; sep is "-" or ".".
inline void write_mnist_fixture(const std::string& dir, const std::string& prefix, int64_t n,
                                const std::string& sep = "-", bool gzip = false,
                                int64_t n_labels = -1) {
  if (n_labels < 0) n_labels = n;
  std::vector<uint8_t> img(static_cast<size_t>(n) * 784), lab(static_cast<size_t>(n_labels));
  for (int64_t i = 0; i < n; ++i)
    for (int r = 0; r < 28; ++r)
      for (int c = 0; c < 28; ++c) img[size_t(i) * 784 + r * 28 + c] = fixture_pixel(i, r, c);
  for (int64_t i = 0; i < n_labels; ++i) lab[size_t(i)] = fixture_label(i);
  const std::string gz = gzip ? ".gz" : "";
  tg::data::write_idx(dir + "/" + prefix + "-images" + sep + "idx3-ubyte" + gz, tg::data::IdxType::UInt8,
                      {n, 28, 28}, img.data(), gzip);
  tg::data::write_idx(dir + "/" + prefix + "-labels" + sep + "idx1-ubyte" + gz, tg::data::IdxType::UInt8,
                      {n_labels}, lab.data(), gzip);
}

}  // namespace tg_test
