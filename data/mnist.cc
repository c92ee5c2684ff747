// MNIST / Fashion-MNIST loading (see mnist.h): file discovery, header checks,
// and the one-pass uint8 -> float batch conversion.
#include "data/mnist.h"

#include <cstring>
#include <filesystem>
#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "data/convert.h"
#include "tensor/parallel.h"

namespace tg::data {
namespace {

const char* split_prefix(Split s) { return s == Split::Train ? "train" : "t10k"; }

// The images and labels files of a split: the first of the candidate names
// that exists, for each. If either is missing the error names every file
// that is missing and every path it looked for.
std::pair<std::string, std::string> find_files(const std::string& root, Split split, const char* dataset_name) {
  std::string found[2], missing, list;
  for (const bool images : {true, false}) {
    const std::vector<std::string> tried = MNIST::candidate_paths(root, split, images);
    for (const std::string& p : tried)
      if (std::error_code ec; std::filesystem::is_regular_file(p, ec)) {  // an error (a symlink loop) is "not found"
        found[images ? 0 : 1] = p;
        break;
      }
    if (!found[images ? 0 : 1].empty()) continue;
    missing += std::string(missing.empty() ? "no " : " and no ") + (split == Split::Train ? "training" : "test") +
               " " + (images ? "images" : "labels") + " file";
    for (const std::string& p : tried) list += "\n  " + p;
  }
  if (!missing.empty())
    detail::throw_error(dataset_name, ": ", missing, " in '", root, "'; looked for:", list,
                        "\nRun scripts/get-data to install Fashion-MNIST (/usr/share/datasets/fashion-mnist) ",
                        "and make the MNIST digits (data/mnist-digits/).");
  return {found[0], found[1]};
}

// The pixels in memory the batches read at random: a shuffled batch touches
// 64 images scattered over 47 MB, one or two 4 KB pages each, so with small
// pages nearly every image costs a TLB miss and a page walk. On Linux the
// copy lives in an anonymous mapping with MADV_HUGEPAGE (2 MB pages where the
// kernel has them); elsewhere, or if mmap fails, in an ordinary allocation.
std::shared_ptr<const uint8_t> pixel_copy(std::vector<uint8_t>& bytes) {
  const size_t n = std::max<size_t>(bytes.size(), 1);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr size_t kHuge = size_t(2) << 20;
  const size_t len = (n + kHuge - 1) / kHuge * kHuge + kHuge;  // room to align to 2 MB
  void* m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m != MAP_FAILED) {
    auto* base = static_cast<uint8_t*>(m);
    uint8_t* p = base + ((kHuge - reinterpret_cast<uintptr_t>(base) % kHuge) % kHuge);
    madvise(p, len - size_t(p - base), MADV_HUGEPAGE);  // advice only: failure is harmless
    // Copy 2 MB at a time and hand each copied piece of the source back to
    // the system at once (the source is about to be freed), so the process
    // never holds both copies of the images: that was its peak memory.
    const size_t page = size_t(sysconf(_SC_PAGESIZE));
    const uintptr_t src0 = reinterpret_cast<uintptr_t>(bytes.data());
    for (size_t off = 0; off < bytes.size(); off += kHuge) {
      const size_t n_copy = std::min(kHuge, bytes.size() - off);
      std::memcpy(p + off, bytes.data() + off, n_copy);
      const uintptr_t lo = (src0 + off + page - 1) / page * page, hi = (src0 + off + n_copy) / page * page;
      if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
    }
    return std::shared_ptr<const uint8_t>(p, [m, len](const uint8_t*) { munmap(m, len); });
  }
#endif
  std::shared_ptr<uint8_t[]> buf(new uint8_t[n]);
  if (!bytes.empty()) std::memcpy(buf.get(), bytes.data(), bytes.size());
  return std::shared_ptr<const uint8_t>(buf, buf.get());
}

}  // namespace

// One correctly rounded division per pixel (255 -> 1.0f exactly), in the
// Highway kernel kernels::u8_to_unit_float (a full vector of pixels per step
// on the best target of the CPU, not the baseline's SSE2).
void bytes_to_unit_float(const uint8_t* src, float* dst, int64_t n) { kernels::u8_to_unit_float(src, dst, n); }

std::vector<std::string> MNIST::candidate_paths(const std::string& root, Split split, bool images) {
  const std::string base = std::string(split_prefix(split)) + (images ? "-images" : "-labels");
  const std::string kind = images ? "idx3-ubyte" : "idx1-ubyte";
  const std::filesystem::path r(root);
  std::vector<std::string> out;
  for (const char* sep : {"-", "."})
    for (const char* gz : {"", ".gz"}) out.push_back((r / (base + sep + kind + gz)).string());
  return out;
}

MNIST::MNIST(const std::string& root, Split split) : MNIST(root, split, "MNIST") {}

MNIST::MNIST(const std::string& root, Split split, const char* name) : split_(split) {
  const auto [ip, lp] = find_files(root, split, name);
  auto images = std::make_shared<IdxArray>(read_idx(ip));
  auto labels = std::make_shared<IdxArray>(read_idx(lp));
  // offsets are into the IDX data: the file's bytes, or a gzip file's uncompressed bytes
  auto where = [](const IdxArray& a) { return a.gzip ? " of the uncompressed data" : ""; };
  TG_CHECK(images->type == IdxType::UInt8 && images->dims.size() == 3 && images->dims[1] == kRows &&
               images->dims[2] == kCols,
           name, ": ", ip, ": expected ubyte images of shape [N,28,28], found ", idx_type_name(images->type), " ",
           idx_dims_str(images->dims), " (type byte at offset 2, rank at offset 3, dims from offset 4",
           where(*images), ")");
  TG_CHECK(labels->type == IdxType::UInt8 && labels->dims.size() == 1, name, ": ", lp,
           ": expected ubyte labels of shape [N], found ", idx_type_name(labels->type), " ",
           idx_dims_str(labels->dims), " (type byte at offset 2, rank at offset 3, dims from offset 4",
           where(*labels), ")");
  TG_CHECK(images->dims[0] == labels->dims[0], name, ": count mismatch: ", ip, " holds ", images->dims[0],
           " images but ", lp, " holds ", labels->dims[0], " labels (the counts at byte offset 4 of each file",
           images->gzip || labels->gzip ? "'s IDX data, uncompressed" : "", ")");
  for (int64_t i = 0; i < labels->dims[0]; ++i)
    TG_CHECK(labels->bytes[size_t(i)] < kClasses, name, ": ", lp, ": label ", int(labels->bytes[size_t(i)]),
             " of example ", i, " (byte offset ", 8 + i, where(*labels), ") is not in 0..9");
  n_ = images->dims[0];
  pixels_ = pixel_copy(images->bytes);
  std::vector<uint8_t>().swap(images->bytes);
  images_ = std::move(images);
  labels_ = std::move(labels);
}

uint8_t MNIST::label(int64_t i) const {
  TG_CHECK(i >= 0 && i < n_, "MNIST::label: index ", i, " out of range for size ", n_);
  return labels()[i];
}

std::array<int64_t, 10> MNIST::label_counts() const {
  std::array<int64_t, 10> c{};
  for (int64_t i = 0; i < n_; ++i) ++c[labels()[i]];
  return c;
}

Example MNIST::get(int64_t i) const {
  TG_CHECK(i >= 0 && i < n_, "MNIST::get: index ", i, " out of range for size ", n_);
  Tensor x = empty({1, kRows, kCols});
  bytes_to_unit_float(images() + i * kRows * kCols, x.data_ptr<float>(), kRows * kCols);
  Tensor y = empty({}, {.dtype = kInt64});
  y.data_ptr<int64_t>()[0] = labels()[i];
  return {x, y};
}

// images[indices] -> x [B, 1, 28, 28] float32, labels[indices] -> y [B] int64
Example MNIST::get_batch(std::span<const int64_t> indices) const {
  const int64_t b = int64_t(indices.size());
  Example out{empty({b, 1, kRows, kCols}), empty({b}, {.dtype = kInt64})};
  get_batch_into(indices, out, nullptr);
  return out;
}

bool MNIST::get_batch_into(std::span<const int64_t> indices, Example& out, const ExampleHook* hook) const {
  const int64_t b = int64_t(indices.size());
  constexpr int64_t kPix = kRows * kCols;
  if (!out.data.defined() || !out.target.defined() || out.data.dtype() != kFloat32 ||
      out.target.dtype() != kInt64 || out.data.shape() != Shape{b, 1, kRows, kCols} ||
      out.target.shape() != Shape{b} || !out.data.is_contiguous() || !out.target.is_contiguous())
    return false;
  for (int64_t k = 0; k < b; ++k)
    TG_CHECK(indices[size_t(k)] >= 0 && indices[size_t(k)] < n_, "MNIST::get_batch: index ", indices[size_t(k)],
             " out of range for size ", n_);
  float* xp = out.data.data_ptr<float>();
  int64_t* yp = out.target.data_ptr<int64_t>();
  const uint8_t* px = images();
  // The images of a shuffled batch are scattered over 47 MB, so every one
  // starts with cache misses, at a cost per scattered image on this VM that
  // prefetching a few images ahead does not hide (page walks, it seems; see
  // docs/data.md). So each thread first prefetches the first and last line of
  // every image of its part of the batch, one after the other (their misses
  // overlap instead of stalling image by image: the loader +7% with
  // augmentation, +8% without), then the rest of image k + ahead while it
  // converts image k (3 ahead: a conversion is short) or while the hook works
  // on it (1 ahead: a transform takes ~1 us, longer than a fetch).
  // From 32 images on, the batch is cut between threads: besides the cache
  // misses it shares, each thread then holds half of the batch the next
  // layer's GEMM reads, instead of one thread all of it (the other pulling
  // 200 KB across cores: MLP at 2 threads 0.341 -> 0.330 s/epoch, alternating
  // runs). With a hook, from 8 images on: a transform is worth a thread (the
  // grain of the DataLoader's own per-example loop).
  const int64_t ahead = hook ? 1 : 3;
  const Shape example{1, kRows, kCols};
  parallel_for(0, b, /*grain=*/hook ? 8 : 32, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      const uint8_t* p = px + indices[size_t(k)] * kPix;
      __builtin_prefetch(p);
      __builtin_prefetch(p + kPix - 1);
    }
    for (int64_t k = k0; k < k1; ++k) {
      if (k + ahead < k1) {
        const uint8_t* next = px + indices[size_t(k + ahead)] * kPix;
        for (int64_t off = 0; off < kPix; off += 64) __builtin_prefetch(next + off);
        __builtin_prefetch(next + kPix - 1);
      }
      const int64_t i = indices[size_t(k)];
      if (hook)
        (*hook)(k, example, px + i * kPix, xp + k * kPix);
      else
        bytes_to_unit_float(px + i * kPix, xp + k * kPix, kPix);
      yp[k] = labels()[i];
    }
  });
  out.data.bump_version();
  out.target.bump_version();
  return true;
}

FashionMNIST::FashionMNIST(const std::string& root, Split split) : MNIST(root, split, "FashionMNIST") {}

const std::array<std::string, 10>& FashionMNIST::class_names() {
  static const std::array<std::string, 10> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

}  // namespace tg::data
