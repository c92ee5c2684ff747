// DataLoader: batches of a Dataset, shuffled per epoch, transformed per
// example, collated into contiguous tensors and prefetched in the background.
//
//   tg::data::DataLoader loader(train, {.batch_size = 64, .shuffle = true, .seed = 0,
//                                       .drop_last = false, .prefetch = true}, augment);
//   for (const tg::data::Example& batch : loader) { ... }   // the rest of one epoch
//
// batch_size 1 is SGD, k mini-batches, dataset->size() full batch. With
// drop_last the final short batch of an epoch is skipped.
//
// Transforms run per example. When the dataset refills a recycled batch and
// takes a hook (Dataset::get_batch_into; MNIST does), each example is
// transformed as it is fetched, from its uint8 pixels (Transform::apply_bytes:
// a Compose starting with a fused warp reads them straight); otherwise the
// batch is collated first and transformed example by example. Both give the
// same bits (tests/data/test_loader_bytes.cc).
//
// Determinism: the order of epoch e is random_permutation(n, gen) with gen a
// Philox stream keyed by (seed, e) (identity order when shuffle is off), and
// example i of epoch e is transformed with sample_generator(seed, e, i). So
// every batch is a pure function of (seed, epoch, batch index): the same with
// 1 or 2 threads, with or without prefetch, and after a resume.
//
// Cursor: state() = {epoch, batch, seed} names the next batch to be returned;
// load_state() moves there, so a resumed run sees exactly the batches it would
// have. next() returns that batch and advances (after the last batch of epoch
// e comes batch 0 of e+1). Range-for yields the batches from the cursor to the
// end of the cursor's epoch, leaving the cursor at {e+1, 0}; breaking out early
// leaves it after the last batch taken.
//
// Prefetch: one background thread computes the batch at the cursor and the
// one after it (within the epoch) while the caller works on the previous one,
// so it goes from batch to batch without waiting for the caller. With
// prefetch each batch is made by one thread; when the thread count is 2 or
// more, a caller whose batch is still being made makes the next one itself
// instead of sleeping, so two threads work on batches, each on its own
// (no fork-join per batch, no spinning). Destroying the loader (even mid-epoch)
// stops and joins it. A DataLoader is used from one thread at a time.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "data/dataset.h"
#include "data/transforms.h"

namespace tg::data {

struct DataLoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = true;
  uint64_t seed = 0;
  bool drop_last = false;
  bool prefetch = true;
};

struct LoaderState {
  int64_t epoch = 0;
  int64_t batch = 0;  // index of the next batch within the epoch
  uint64_t seed = 0;
  bool operator==(const LoaderState&) const = default;
};

class DataLoader {
 public:
  DataLoader(DatasetPtr dataset, DataLoaderOptions options = {}, TransformPtr transform = nullptr);
  template <class D>
    requires std::derived_from<D, Dataset>
  DataLoader(D dataset, DataLoaderOptions options = {}, TransformPtr transform = nullptr)
      : DataLoader(share(std::move(dataset)), options, std::move(transform)) {}
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Batches per epoch: ceil(n / batch_size), or floor with drop_last.
  int64_t batches_per_epoch() const { return batches_; }
  int64_t size() const { return batches_; }
  const Dataset& dataset() const { return *dataset_; }
  const DataLoaderOptions& options() const { return options_; }

  // The batch at the cursor; advances the cursor. Throws when an epoch has no batches.
  Example next();

  LoaderState state() const { return {epoch_, batch_, options_.seed}; }
  // Moves the cursor (and the seed) to `s`; s.batch may equal batches_per_epoch().
  void load_state(const LoaderState& s);
  void set_epoch(int64_t epoch) { load_state({epoch, 0, options_.seed}); }

  // The example order of an epoch, and the indices of one batch (pure functions).
  std::vector<int64_t> epoch_order(int64_t epoch) const;
  std::vector<int64_t> batch_indices(int64_t epoch, int64_t batch) const;
  // Computes batch `batch` of `epoch` directly (no cursor, no prefetch).
  Example make_batch(int64_t epoch, int64_t batch);

  class Iterator {
   public:
    using value_type = Example;
    using difference_type = std::ptrdiff_t;
    Iterator() = default;
    const Example& operator*() const { return *current_; }
    const Example* operator->() const { return &*current_; }
    Iterator& operator++() {
      fetch();
      return *this;
    }
    bool operator==(const Iterator& o) const { return !current_ && !o.current_; }

   private:
    friend class DataLoader;
    Iterator(DataLoader* l, int64_t epoch) : loader_(l), epoch_(epoch) { fetch(); }
    void fetch();
    DataLoader* loader_ = nullptr;
    int64_t epoch_ = 0;
    std::optional<Example> current_;
  };
  Iterator begin();
  Iterator end() { return Iterator(); }

 private:
  const std::vector<int64_t>& order(int64_t epoch);  // cached for the cursor's epoch
  // serial: collate and transform on the calling thread only (prefetch mode)
  Example compute(int64_t epoch, uint64_t seed, const std::vector<int64_t>& idx, bool pooled, bool serial = false);
  Example collate_batch(const std::vector<int64_t>& idx, bool pooled, const ExampleHook* hook, bool* hooked);
  void recycle(const Example& batch);
  void request_prefetch();
  void worker_loop();
  void stop_worker();

  DatasetPtr dataset_;
  DataLoaderOptions options_;
  TransformPtr transform_;
  int64_t n_ = 0, batches_ = 0;
  int64_t epoch_ = 0, batch_ = 0;
  int64_t order_epoch_ = -1;
  std::vector<int64_t> order_;

  // prefetch: jobs for the cursor and the batch after it, queued, running or
  // done (at most two of them not yet taken)
  struct Job {
    int64_t epoch = -1, batch = -1;
    uint64_t seed = 0;
    std::vector<int64_t> idx;
  };
  struct Done {
    Job job;
    Example ex;
    std::exception_ptr error;
  };
  Done run_job(const Job& j);
  std::thread worker_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::deque<Job> jobs_;    // waiting for the worker, in order
  bool busy_ = false;       // the worker runs running_
  Job running_;
  std::deque<Done> done_;   // finished, not taken yet

  // Batch buffers handed out recently; one whose tensors nobody else holds any
  // more is refilled instead of allocating (get_batch_into), so after warm-up
  // the loader allocates no batch memory, whichever thread frees the tensors.
  std::mutex pool_mu_;
  std::vector<Example> pool_;
};

}  // namespace tg::data
