// MNIST and Fashion-MNIST: 28x28 grey images with labels 0..9 from IDX files.
//
// root holds, for the training split, train-images-idx3-ubyte and
// train-labels-idx1-ubyte (test split: t10k-...). Each name is also accepted
// in the dotted style (train-images.idx3-ubyte) and either may end in .gz;
// the first that exists is used (see candidate_paths). Missing files are an
// error that lists every path tried and points to scripts/get-data.
//
// Images stay uint8 in memory ([N, 28, 28], 47 MB for the 60,000 training
// images); get(i) gives data float32 [1, 28, 28] in [0, 1] (pixel / 255, so
// 255 -> 1.0f exactly) and target int64 [] ; get_batch gives [B, 1, 28, 28]
// and [B], converting bytes to floats in one pass per batch. images() and
// labels() expose the raw bytes. Copies share the loaded data.
//
// Sources and licences: docs/data.md. Fashion-MNIST from Debian lives in
// /usr/share/datasets/fashion-mnist; the MNIST digits made by scripts/get-data
// live in data/mnist-digits/ of the source tree.
#pragma once
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/idx.h"

namespace tg::data {

enum class Split { Train, Test };

class MNIST : public Dataset {
 public:
  static constexpr int64_t kRows = 28, kCols = 28, kClasses = 10;

  explicit MNIST(const std::string& root, Split split = Split::Train);

  int64_t size() const override { return n_; }
  Example get(int64_t i) const override;
  Example get_batch(std::span<const int64_t> indices) const override;
  // Hands the hook each image's bytes (x unwritten), so that the fetch of the
  // next images overlaps the hook's work on this one.
  bool get_batch_into(std::span<const int64_t> indices, Example& out, const ExampleHook* hook) const override;

  // Raw data: images [size(), 28, 28] uint8 row-major, labels [size()] uint8.
  const uint8_t* images() const { return pixels_.get(); }
  const uint8_t* labels() const { return labels_->bytes.data(); }
  uint8_t label(int64_t i) const;
  // Number of examples of each class 0..9.
  std::array<int64_t, 10> label_counts() const;

  Split split() const { return split_; }
  const std::string& images_path() const { return images_->path; }
  const std::string& labels_path() const { return labels_->path; }

  // Every path tried, in order, for the images (or labels) of a split.
  static std::vector<std::string> candidate_paths(const std::string& root, Split split, bool images);

 protected:
  MNIST(const std::string& root, Split split, const char* dataset_name);

 private:
  std::shared_ptr<const IdxArray> images_, labels_;  // images_->bytes: copied to pixels_, released
  std::shared_ptr<const uint8_t> pixels_;             // [size(), 28, 28], on huge pages where possible
  int64_t n_ = 0;
  Split split_ = Split::Train;
};

class FashionMNIST : public MNIST {
 public:
  // Where Debian's dataset-fashion-mnist installs the files.
  static constexpr const char* kSystemRoot = "/usr/share/datasets/fashion-mnist";

  explicit FashionMNIST(const std::string& root = kSystemRoot, Split split = Split::Train);
  // "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
  // "Sneaker", "Bag", "Ankle boot" (labels 0..9).
  static const std::array<std::string, 10>& class_names();
};

// Converts `n` uint8 pixels to float32 pixel / 255 (exact: 255 -> 1.0f).
void bytes_to_unit_float(const uint8_t* src, float* dst, int64_t n);

}  // namespace tg::data
