// Datasets: indexable collections of (data, target) examples, and the views
// that select from them (Subset, random_split, take).
//
// A Dataset answers size() and get(i) -> Example{data, target}. get_batch
// collates several examples into contiguous batch tensors: data [B, ...] and
// target [B, ...] (a scalar target per example gives [B]). The default
// get_batch calls get() per example and copies; datasets with a faster route
// (MNIST converts uint8 pixels to float in one pass) override it. get_batch
// always returns freshly allocated tensors that the caller owns and may modify
// in place (the DataLoader applies transforms there). get_batch_into refills
// the caller's tensors instead, and can hand each example to a hook as it is
// fetched (MNIST hands over its uint8 pixels, so a transform reads them
// straight).
//
// Datasets are immutable after construction and safe to read from several
// threads at once. Views hold a shared_ptr to their base, so a Subset keeps its
// dataset alive.
#pragma once
#include <concepts>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace tg::data {

struct Example {
  Tensor data;
  Tensor target;
};

// What get_batch_into does to each example as it is fetched (the DataLoader's
// per-example transform), so that an example is finished while its pixels are
// in cache and the next one's are on their way. Called once for every example
// k of the batch, with `shape` the example's (out.data's shape without its
// first dim) and x = example k's floats in out.data, either
//   bytes == nullptr: x already holds the example, or
//   bytes != nullptr: x is still to be written, from the example's uint8
//                     pixels `bytes`, whose values are byte / 255 (MNIST's
//                     storage); the hook converts them, or reads them straight.
// Calls for different k may run on different threads at once.
class ExampleHook {
 public:
  virtual ~ExampleHook() = default;
  virtual void operator()(int64_t k, const Shape& shape, const uint8_t* bytes, float* x) const = 0;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual Example get(int64_t i) const = 0;
  // Examples `indices` (each in [0, size())) collated along a new first dim.
  virtual Example get_batch(std::span<const int64_t> indices) const;
  // The same batch written into `out`, whose tensors have the shapes and dtypes
  // get_batch would return and are owned by the caller alone (the DataLoader
  // recycles its batch buffers this way), each example passed through `hook`
  // when it is not null. Returns false when the dataset has no such route (the
  // default) or the shapes do not fit; `out` is then untouched and the hook
  // not called.
  virtual bool get_batch_into(std::span<const int64_t> indices, Example& out, const ExampleHook* hook) const;
};

using DatasetPtr = std::shared_ptr<const Dataset>;

// Stacks equally shaped tensors along a new first dim into one contiguous
// tensor: n x [...] -> [n, ...]. All must share dtype and shape.
Tensor collate(std::span<const Tensor> items, const char* what = "collate");

// Rows of `data` and `targets` (first dims equal) as examples:
// get(i) = {data[i], targets[i]}; get_batch gathers rows with one copy each.
class TensorDataset : public Dataset {
 public:
  TensorDataset(const Tensor& data, const Tensor& targets);
  int64_t size() const override { return n_; }
  Example get(int64_t i) const override;
  Example get_batch(std::span<const int64_t> indices) const override;
  const Tensor& data() const { return data_; }
  const Tensor& targets() const { return targets_; }

 private:
  Tensor data_, targets_;  // contiguous
  int64_t n_ = 0;
};

// The examples base[indices[0]], base[indices[1]], ...
class Subset : public Dataset {
 public:
  Subset(DatasetPtr base, std::vector<int64_t> indices);
  int64_t size() const override { return int64_t(indices_.size()); }
  Example get(int64_t i) const override;
  Example get_batch(std::span<const int64_t> indices) const override;  // keeps the base's fast path
  bool get_batch_into(std::span<const int64_t> indices, Example& out, const ExampleHook* hook) const override;
  const std::vector<int64_t>& indices() const { return indices_; }
  const DatasetPtr& base() const { return base_; }

 private:
  DatasetPtr base_;
  std::vector<int64_t> indices_;
};

// Disjoint subsets of the given lengths (summing to dataset->size()), made
// from one random permutation drawn from `gen` (same seed, same split).
std::vector<std::shared_ptr<Subset>> random_split(DatasetPtr dataset, const std::vector<int64_t>& lengths,
                                                  Generator& gen);
// The first n examples (n <= size()): e.g. 100 labels for fine-tuning.
std::shared_ptr<Subset> take(DatasetPtr dataset, int64_t n);

// Convenience: wrap a dataset value (MNIST copies are cheap: they share their data).
template <class D>
  requires std::derived_from<D, Dataset>
DatasetPtr share(D dataset) {
  return std::make_shared<D>(std::move(dataset));
}

// A uniformly random permutation of 0..n-1, by Fisher-Yates with draws from
// `gen` (a pure function of the generator's state, never of thread count).
std::vector<int64_t> random_permutation(int64_t n, Generator& gen);

}  // namespace tg::data
