// DataLoader (see dataloader.h): per-epoch permutation, per-example transform
// streams, collation through Dataset::get_batch, and a one-thread prefetcher.
#include "data/dataloader.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "tensor/random.h"
#include <numeric>
#include <optional>

#include "tensor/parallel.h"

namespace tg::data {
namespace {

// The stream that shuffles epoch e: keyed by (seed, e), independent of the
// transform streams (different domain constant).
Generator shuffle_generator(uint64_t seed, int64_t epoch) {
  return Generator(mix64(seed ^ mix64(uint64_t(epoch) ^ 0x73687566666C6521ULL /* "shuffle!" */)));
}

std::vector<int64_t> slice(const std::vector<int64_t>& order, int64_t batch, int64_t bs) {
  const int64_t n = int64_t(order.size());
  const int64_t b0 = batch * bs, b1 = std::min(n, b0 + bs);
  return std::vector<int64_t>(order.begin() + b0, order.begin() + b1);
}

}  // namespace

DataLoader::DataLoader(DatasetPtr dataset, DataLoaderOptions options, TransformPtr transform)
    : dataset_(std::move(dataset)), options_(options), transform_(std::move(transform)) {
  TG_CHECK(dataset_ != nullptr, "DataLoader: the dataset is null");
  TG_CHECK(options_.batch_size >= 1, "DataLoader: batch_size must be >= 1, got ", options_.batch_size);
  n_ = dataset_->size();
  // ceil(n / bs) without n + bs - 1, which overflows for a batch_size near INT64_MAX
  const int64_t bs = options_.batch_size;
  batches_ = n_ / bs + (!options_.drop_last && n_ % bs != 0 ? 1 : 0);
  if (options_.prefetch) worker_ = std::thread([this] { worker_loop(); });
}

DataLoader::~DataLoader() { stop_worker(); }

void DataLoader::stop_worker() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

std::vector<int64_t> DataLoader::epoch_order(int64_t epoch) const {
  TG_CHECK(epoch >= 0, "DataLoader::epoch_order: epoch must be >= 0, got ", epoch);
  if (!options_.shuffle) {
    std::vector<int64_t> id(static_cast<size_t>(n_));
    std::iota(id.begin(), id.end(), int64_t(0));
    return id;
  }
  Generator g = shuffle_generator(options_.seed, epoch);
  return random_permutation(n_, g);
}

const std::vector<int64_t>& DataLoader::order(int64_t epoch) {
  if (order_epoch_ != epoch) {
    order_ = epoch_order(epoch);
    order_epoch_ = epoch;
  }
  return order_;
}

std::vector<int64_t> DataLoader::batch_indices(int64_t epoch, int64_t batch) const {
  TG_CHECK(batch >= 0 && batch < batches_, "DataLoader::batch_indices: batch ", batch, " out of range for ",
           batches_, " batches per epoch");
  return slice(epoch_order(epoch), batch, options_.batch_size);
}

Example DataLoader::make_batch(int64_t epoch, int64_t batch) {
  return compute(epoch, options_.seed, batch_indices(epoch, batch), /*pooled=*/false);
}

namespace {
bool sole_owner(const Tensor& t) {
  return t.defined() && t.impl_ptr().use_count() == 1 && t.impl()->storage.use_count() == 1;
}
}  // namespace

// Into a recycled buffer of the right shapes when there is one (each example
// passed through `hook` as the dataset fetches it, when the dataset takes
// hooks: *hooked says so), else freshly.
Example DataLoader::collate_batch(const std::vector<int64_t>& idx, bool pooled, const ExampleHook* hook,
                                  bool* hooked) {
  *hooked = false;
  Example reuse;
  if (pooled) {
    std::lock_guard<std::mutex> lk(pool_mu_);
    for (size_t k = 0; k < pool_.size(); ++k) {
      Example& p = pool_[k];
      if (sole_owner(p.data) && sole_owner(p.target) && p.data.size(0) == int64_t(idx.size())) {
        reuse = std::move(p);
        pool_.erase(pool_.begin() + long(k));
        break;
      }
    }
  }
  if (reuse.data.defined()) {
    std::atomic_thread_fence(std::memory_order_acquire);  // after the last owner's release
    // A recycled batch is a new tensor: drop the autograd state its last
    // owner may have given it (requires_grad_, a .grad). Reset, not edited: a
    // graph that is still alive may point at the old Meta as its leaf.
    reuse.data.impl()->meta.reset();
    reuse.target.impl()->meta.reset();
    if (dataset_->get_batch_into(idx, reuse, hook)) {
      *hooked = hook != nullptr;
      return reuse;
    }
  }
  return dataset_->get_batch(idx);
}

void DataLoader::recycle(const Example& batch) {
  if (!batch.data.defined() || !batch.target.defined()) return;
  std::lock_guard<std::mutex> lk(pool_mu_);
  // batches handed out that are kept for reuse: enough for a caller holding
  // one or two while up to three more are in the works (prefetch)
  constexpr size_t kPool = 6;
  if (pool_.size() >= kPool) pool_.erase(pool_.begin());
  pool_.push_back(batch);
}

namespace {
// The transform of example k of a batch, with the stream of its dataset index
// idx[k]; from the example's bytes when the dataset hands them over. It marks
// the examples it transformed (done[k], one byte each: calls for different k
// may run on different threads).
class TransformHook final : public ExampleHook {
 public:
  TransformHook(const Transform& t, uint64_t seed, int64_t epoch, const std::vector<int64_t>& idx,
                std::vector<uint8_t>& done)
      : t_(t), seed_(seed), epoch_(epoch), idx_(idx), done_(done) {}
  void operator()(int64_t k, const Shape& shape, const uint8_t* bytes, float* x) const override {
    Generator g = sample_generator(seed_, epoch_, idx_[size_t(k)]);
    if (bytes)
      t_.apply_bytes(bytes, x, shape, g);
    else
      t_.apply(x, shape, g);
    done_[size_t(k)] = 1;
  }

 private:
  const Transform& t_;
  uint64_t seed_;
  int64_t epoch_;
  const std::vector<int64_t>& idx_;
  std::vector<uint8_t>& done_;
};
}  // namespace

// The transform runs per example: inside the dataset's fetch when it takes a
// hook (a recycled batch of MNIST: each image transformed from its bytes as
// it arrives), else on the collated batch, example after example. A dataset
// that refills a batch but skips the hook for some examples (a user's
// get_batch_into that ignores it) has those transformed here afterwards.
Example DataLoader::compute(int64_t epoch, uint64_t seed, const std::vector<int64_t>& idx, bool pooled,
                            bool serial) {
  std::optional<SerialScope> alone;  // serial: the collation's own parallel_for too
  if (serial) alone.emplace();
  bool hooked = false;
  if (!transform_) return collate_batch(idx, pooled, nullptr, &hooked);
  std::vector<uint8_t> done(idx.size(), 0);
  const TransformHook hook(*transform_, seed, epoch, idx, done);
  Example ex = collate_batch(idx, pooled, &hook, &hooked);
  if (hooked && std::find(done.begin(), done.end(), uint8_t(0)) == done.end()) return ex;
  TG_CHECK(ex.data.dtype() == kFloat32 && ex.data.is_contiguous() && ex.data.dim() >= 2,
           "DataLoader: transforms need float32 batches of shape [B, ...], got ", ex.data.dtype(), " ",
           ex.data.shape());
  Shape sample = ex.data.shape();
  sample.erase(0);
  const int64_t per = sample.numel();
  float* x = ex.data.data_ptr<float>();
  const TransformPtr& t = transform_;
  auto run = [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      if (hooked && done[size_t(k)]) continue;
      Generator g = sample_generator(seed, epoch, idx[size_t(k)]);
      t->apply(x + k * per, sample, g);
    }
  };
  if (serial)
    run(0, int64_t(idx.size()));
  else
    parallel_for(0, int64_t(idx.size()), /*grain=*/8, run);
  return ex;
}

void DataLoader::load_state(const LoaderState& s) {
  TG_CHECK(s.epoch >= 0, "DataLoader::load_state: epoch must be >= 0, got ", s.epoch);
  TG_CHECK(s.batch >= 0 && s.batch <= batches_, "DataLoader::load_state: batch ", s.batch, " out of range [0, ",
           batches_, "] for this dataset (", n_, " examples, batch_size ", options_.batch_size, ")");
  std::lock_guard<std::mutex> lk(mu_);  // jobs carry their own seed; the lock orders the cursor change
  if (s.seed != options_.seed) order_epoch_ = -1;
  options_.seed = s.seed;
  epoch_ = s.epoch;
  batch_ = s.batch;
  jobs_.clear();  // queued prefetches for the old cursor are dropped
  done_.clear();
}

Example DataLoader::next() {
  TG_CHECK(batches_ > 0, "DataLoader: an epoch has no batches (", n_, " examples, batch_size ",
           options_.batch_size, options_.drop_last ? ", drop_last" : "", ")");
  if (batch_ >= batches_) {
    ++epoch_;
    batch_ = 0;
  }
  std::optional<Example> out;
  if (options_.prefetch) {
    std::unique_lock<std::mutex> lk(mu_);
    auto mine = [&](const Job& j) { return j.epoch == epoch_ && j.batch == batch_ && j.seed == options_.seed; };
    auto finished = [&] {
      for (auto it = done_.begin(); it != done_.end(); ++it)
        if (mine(it->job)) return it;
      return done_.end();
    };
    const bool help = get_num_threads() >= 2;
    for (;;) {
      if (finished() != done_.end()) break;
      // queued for us: make it here rather than wait for the worker
      if (auto it = std::find_if(jobs_.begin(), jobs_.end(), mine); it != jobs_.end()) {
        Job j = std::move(*it);
        jobs_.erase(it);
        lk.unlock();
        out = compute(j.epoch, j.seed, j.idx, true, /*serial=*/true);  // an error propagates from here
        lk.lock();
        break;
      }
      if (!(busy_ && mine(running_))) break;  // nobody makes it: below
      // being made by the worker: make the next queued batch meanwhile
      if (help && !jobs_.empty()) {
        Job j = std::move(jobs_.front());
        jobs_.pop_front();
        lk.unlock();
        Done d = run_job(j);
        d.job = std::move(j);
        lk.lock();
        done_.push_back(std::move(d));
        continue;
      }
      cv_.wait(lk);
    }
    if (auto it = finished(); !out && it != done_.end()) {
      Done d = std::move(*it);
      done_.erase(it);
      if (d.error) std::rethrow_exception(d.error);
      out = std::move(d.ex);
    }
  }
  if (!out) {
    // Nobody makes this batch (the first one, or after load_state / set_epoch):
    // the caller makes it, with the whole pool unless the worker is still busy
    // with a stale job (then alone, not on top of it).
    bool worker_busy = false;
    if (options_.prefetch) {
      std::lock_guard<std::mutex> lk(mu_);
      worker_busy = busy_;
    }
    out = compute(epoch_, options_.seed, slice(order(epoch_), batch_, options_.batch_size), true,
                  /*serial=*/worker_busy);
  }
  if (++batch_ == batches_) {
    ++epoch_;
    batch_ = 0;
  }
  recycle(*out);
  if (options_.prefetch) request_prefetch();
  return std::move(*out);
}

// Keeps the work for the cursor and the batch after it (same epoch) queued,
// running or done, drops anything else, and queues what is missing.
void DataLoader::request_prefetch() {
  // helping (see next()) needs one more queued for the worker to stay busy
  const int64_t want = get_num_threads() >= 2 ? 3 : 2;
  const int64_t ahead = std::min(want, batches_ - batch_);
  auto wanted = [&](const Job& j) {
    return j.seed == options_.seed && j.epoch == epoch_ && j.batch >= batch_ && j.batch < batch_ + ahead;
  };
  bool queued = false;
  {
    std::lock_guard<std::mutex> lk(mu_);
    std::erase_if(jobs_, [&](const Job& j) { return !wanted(j); });
    std::erase_if(done_, [&](const Done& d) { return !wanted(d.job); });
    for (int64_t b = batch_; b < batch_ + ahead; ++b) {
      auto is_b = [&](const Job& j) { return j.epoch == epoch_ && j.batch == b && j.seed == options_.seed; };
      bool have = busy_ && is_b(running_);
      for (const Job& j : jobs_) have = have || is_b(j);
      for (const Done& d : done_) have = have || is_b(d.job);
      if (have) continue;
      jobs_.push_back(Job{epoch_, b, options_.seed, slice(order(epoch_), b, options_.batch_size)});
      queued = true;
    }
  }
  if (queued) cv_.notify_all();
}

// Job j's batch, made on this thread; what it throws is kept for the taker.
DataLoader::Done DataLoader::run_job(const Job& j) {
  Done d;
  try {
    d.ex = compute(j.epoch, j.seed, j.idx, true, /*serial=*/true);
  } catch (...) {
    d.error = std::current_exception();
  }
  return d;
}

void DataLoader::worker_loop() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stop_ || !jobs_.empty(); });
    if (stop_) return;
    running_ = std::move(jobs_.front());
    jobs_.pop_front();
    busy_ = true;
    lk.unlock();
    Done d = run_job(running_);
    lk.lock();
    busy_ = false;
    d.job = std::move(running_);
    running_ = Job{};
    done_.push_back(std::move(d));
    cv_.notify_all();
  }
}

DataLoader::Iterator DataLoader::begin() {
  if (batches_ > 0 && batch_ >= batches_) {
    ++epoch_;
    batch_ = 0;
  }
  return Iterator(this, epoch_);
}

void DataLoader::Iterator::fetch() {
  if (!loader_ || loader_->batches_ == 0 || loader_->epoch_ != epoch_) {
    current_.reset();
    return;
  }
  current_ = loader_->next();
}

}  // namespace tg::data
