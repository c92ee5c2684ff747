// Dataset, collation, TensorDataset, Subset, random_split and take.
#include "data/dataset.h"

#include <cstring>
#include <numeric>

namespace tg::data {
namespace {

// Pointer to the first element of a contiguous tensor, as bytes.
char* bytes_of(const Tensor& t) {
  return visit_dtype(t.dtype(), [&](auto v) { return reinterpret_cast<char*>(t.raw_ptr<decltype(v)>()); });
}

Shape with_batch_dim(int64_t n, const Shape& s) {
  Shape out{n};
  for (int64_t d : s) out.push_back(d);
  return out;
}

}  // namespace

Tensor collate(std::span<const Tensor> items, const char* what) {
  TG_CHECK(!items.empty(), what, ": cannot collate zero examples");
  const Tensor& first = items[0];
  TG_CHECK(first.defined(), what, ": example 0 is an undefined tensor");
  TG_CHECK(first.dim() < Shape::kMaxDims, what, ": examples of rank ", first.dim(),
           " leave no room for a batch dim (max rank ", Shape::kMaxDims, ")");
  Tensor out = empty(with_batch_dim(int64_t(items.size()), first.shape()), {.dtype = first.dtype()});
  const size_t nbytes = size_t(first.numel()) * dtype_size(first.dtype());
  char* dst = bytes_of(out);
  for (size_t k = 0; k < items.size(); ++k) {
    const Tensor& x = items[k];
    TG_CHECK(x.defined() && x.dtype() == first.dtype() && x.shape() == first.shape(), what, ": example ",
             k, " has ", (x.defined() ? to_string(x.shape()) : std::string("no tensor")), " ",
             (x.defined() ? dtype_name(x.dtype()) : ""), ", example 0 has ", first.shape(), " ",
             first.dtype(), "; all examples of a batch must match");
    const Tensor c = x.is_contiguous() ? x : x.contiguous();
    if (nbytes) std::memcpy(dst + k * nbytes, bytes_of(c), nbytes);
  }
  return out;
}

Example Dataset::get_batch(std::span<const int64_t> indices) const {
  std::vector<Tensor> data, target;
  data.reserve(indices.size());
  target.reserve(indices.size());
  const int64_t n = size();
  for (int64_t i : indices) {
    TG_CHECK(i >= 0 && i < n, "Dataset::get_batch: index ", i, " out of range for a dataset of size ", n);
    Example e = get(i);
    data.push_back(std::move(e.data));
    target.push_back(std::move(e.target));
  }
  return {collate(data, "Dataset::get_batch (data)"), collate(target, "Dataset::get_batch (target)")};
}

bool Dataset::get_batch_into(std::span<const int64_t>, Example&, const ExampleHook*) const { return false; }

// ---- TensorDataset ----

TensorDataset::TensorDataset(const Tensor& data, const Tensor& targets) {
  TG_CHECK(data.defined() && targets.defined(), "TensorDataset: data and targets must be defined tensors");
  TG_CHECK(data.dim() >= 1 && targets.dim() >= 1, "TensorDataset: data and targets need a first (example) dim, got ",
           data.shape(), " and ", targets.shape());
  TG_CHECK(data.size(0) == targets.size(0), "TensorDataset: data has ", data.size(0), " rows (shape ",
           data.shape(), ") but targets has ", targets.size(0), " (shape ", targets.shape(), ")");
  data_ = data.is_contiguous() ? data : data.contiguous();
  targets_ = targets.is_contiguous() ? targets : targets.contiguous();
  n_ = data.size(0);
}

Example TensorDataset::get(int64_t i) const {
  TG_CHECK(i >= 0 && i < n_, "TensorDataset::get: index ", i, " out of range for size ", n_);
  return {data_.select(0, i), targets_.select(0, i)};
}

Example TensorDataset::get_batch(std::span<const int64_t> indices) const {
  const int64_t b = int64_t(indices.size());
  auto gather = [&](const Tensor& src) {
    Shape row = src.shape();
    row.erase(0);
    Tensor out = empty(with_batch_dim(b, row), {.dtype = src.dtype()});
    const size_t nbytes = size_t(row.numel()) * dtype_size(src.dtype());
    const char* s = bytes_of(src);
    char* d = bytes_of(out);
    for (int64_t k = 0; k < b; ++k) {
      const int64_t i = indices[size_t(k)];
      TG_CHECK(i >= 0 && i < n_, "TensorDataset::get_batch: index ", i, " out of range for size ", n_);
      if (nbytes) std::memcpy(d + size_t(k) * nbytes, s + size_t(i) * nbytes, nbytes);
    }
    return out;
  };
  return {gather(data_), gather(targets_)};
}

// ---- Subset, random_split, take ----

Subset::Subset(DatasetPtr base, std::vector<int64_t> indices) : base_(std::move(base)), indices_(std::move(indices)) {
  TG_CHECK(base_ != nullptr, "Subset: the base dataset is null");
  const int64_t n = base_->size();
  for (size_t k = 0; k < indices_.size(); ++k)
    TG_CHECK(indices_[k] >= 0 && indices_[k] < n, "Subset: index ", indices_[k], " at position ", k,
             " out of range for a base dataset of size ", n);
}

Example Subset::get(int64_t i) const {
  TG_CHECK(i >= 0 && i < size(), "Subset::get: index ", i, " out of range for size ", size());
  return base_->get(indices_[size_t(i)]);
}

Example Subset::get_batch(std::span<const int64_t> indices) const {
  std::vector<int64_t> mapped(indices.size());
  for (size_t k = 0; k < indices.size(); ++k) {
    TG_CHECK(indices[k] >= 0 && indices[k] < size(), "Subset::get_batch: index ", indices[k],
             " out of range for size ", size());
    mapped[k] = indices_[size_t(indices[k])];
  }
  return base_->get_batch(mapped);
}

bool Subset::get_batch_into(std::span<const int64_t> indices, Example& out, const ExampleHook* hook) const {
  std::vector<int64_t> mapped(indices.size());
  for (size_t k = 0; k < indices.size(); ++k) {
    TG_CHECK(indices[k] >= 0 && indices[k] < size(), "Subset::get_batch_into: index ", indices[k],
             " out of range for size ", size());
    mapped[k] = indices_[size_t(indices[k])];
  }
  return base_->get_batch_into(mapped, out, hook);  // the hook's k is the position in the batch, the same
}

std::vector<int64_t> random_permutation(int64_t n, Generator& gen) {
  TG_CHECK(n >= 0, "random_permutation: n must be >= 0, got ", n);
  std::vector<int64_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), int64_t(0));
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[size_t(i)], p[size_t(gen.randint(0, i + 1))]);
  return p;
}

std::vector<std::shared_ptr<Subset>> random_split(DatasetPtr dataset, const std::vector<int64_t>& lengths,
                                                  Generator& gen) {
  TG_CHECK(dataset != nullptr, "random_split: the dataset is null");
  const int64_t n = dataset->size();
  int64_t total = 0;
  for (size_t k = 0; k < lengths.size(); ++k) {
    const int64_t l = lengths[k];
    TG_CHECK(l >= 0, "random_split: lengths must be >= 0, got ", l);
    // compared before adding: a sum past INT64_MAX would wrap around
    TG_CHECK(l <= n - total, "random_split: lengths sum to more than the dataset's ", n, " examples (",
             total, " before lengths[", k, "] = ", l, ")");
    total += l;
  }
  TG_CHECK(total == dataset->size(), "random_split: lengths sum to ", total, " but the dataset has ",
           dataset->size(), " examples");
  const std::vector<int64_t> perm = random_permutation(total, gen);
  std::vector<std::shared_ptr<Subset>> out;
  int64_t at = 0;
  for (int64_t l : lengths) {
    out.push_back(std::make_shared<Subset>(dataset, std::vector<int64_t>(perm.begin() + at, perm.begin() + at + l)));
    at += l;
  }
  return out;
}

std::shared_ptr<Subset> take(DatasetPtr dataset, int64_t n) {
  TG_CHECK(dataset != nullptr, "take: the dataset is null");
  TG_CHECK(n >= 0 && n <= dataset->size(), "take: n = ", n, " is outside [0, ", dataset->size(), "]");
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), int64_t(0));
  return std::make_shared<Subset>(std::move(dataset), std::move(idx));
}

}  // namespace tg::data
