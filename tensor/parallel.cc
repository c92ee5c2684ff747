// parallel_for on a small pool of oneTBB worker threads that stay awake
// between parallel regions.
//
// Why not tbb::parallel_for: a training step of the MNIST models is a chain
// of parallel regions of 20-200 µs with serial work between them, and
// oneTBB's worker, asleep between regions, did not join them in time
// (bench/parallel prints both side by side). Here each of the n - 1 workers
// is one long-running task enqueued into a oneTBB task_arena (so the threads
// are still oneTBB's); between jobs it spins for a short while, then sleeps
// on an atomic (futex) until the next job.
//
// n is tg::get_num_threads(), capped at what oneTBB allows (the cores).
// A job splits [begin, end) into k = min(n, 32, ceil(range / grain)) equal
// contiguous chunks. Chunks are claimed with one atomic word holding (job
// number, mask of claimed chunks), so a worker that wakes late cannot take a
// chunk of a later job. Each thread claims "its" chunk first (caller 0,
// worker i: i), so the same half of a batch stays on the same core from one
// op to the next, then any chunk left; the caller then waits for the chunks
// others are running. When the machine is busy and a worker is not scheduled, the
// caller simply runs every chunk itself: never slower than serial by more
// than the bookkeeping. One job at a time: a parallel_for issued from another
// thread while a job runs (the data loader's prefetch thread) runs serially.
// An exception thrown by a chunk is rethrown on the calling thread.
#include "tensor/parallel.h"

#include <cxxabi.h>
#include <tbb/global_control.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "tensor/error.h"

namespace tg {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// How long an idle worker spins before it sleeps, and how long the caller
// spins on chunks others are running before it yields the core.
constexpr auto kSpin = std::chrono::microseconds(200);

thread_local int t_depth = 0;

// Everything the workers touch. Shared with each worker task, so a task that
// oneTBB starts late (or never) cannot outlive it.
struct State {
  explicit State(int workers) : workers(workers) {}

  // Claims and runs chunks of job `job` until none is left: first chunk
  // `self` (the caller is 0, worker i is i), so that consecutive regions over
  // the same data (a layer's forward, its ReLU, its backward) keep each half
  // in the same core's cache; then any chunk nobody has claimed yet.
  void work(uint64_t job, int64_t self) {
    uint64_t w = word.load(std::memory_order_acquire);
    for (;;) {
      if ((w >> 32) != job) return;  // a later job (or shutdown): not ours
      // (a thread late for a finished job may read the next job's count while
      // the caller sets it up; the caller first closed the old job, so the CAS
      // below then fails: acquire makes that store visible to it)
      const int64_t chunks = this->chunks.load(std::memory_order_acquire);
      const uint32_t all = chunks >= 32 ? 0xffffffffu : (uint32_t(1) << chunks) - 1;
      const uint32_t open = all & ~uint32_t(w);
      if (!open) return;
      const int64_t c = self < chunks && (open >> self & 1u) ? self : __builtin_ctz(open);
      if (!word.compare_exchange_weak(w, w | (uint64_t(1) << c), std::memory_order_acq_rel,
                                      std::memory_order_acquire))
        continue;
      // Chunk c of the current job is ours: the job cannot finish (and its
      // fields cannot change) before we count it done.
      const int64_t lo = begin + range * c / chunks, hi = begin + range * (c + 1) / chunks;
      ++t_depth;
      try {
        (*fn)(lo, hi);
      } catch (...) {
        std::lock_guard<std::mutex> g(error_mu);
        if (!error) error = std::current_exception();
      }
      --t_depth;
      done.fetch_add(1, std::memory_order_acq_rel);
      w = word.load(std::memory_order_acquire);
    }
  }

  void worker_loop(int64_t self) {
    uint64_t seen = word.load(std::memory_order_acquire) >> 32;
    while (!stop.load(std::memory_order_acquire)) {
      uint64_t w = word.load(std::memory_order_acquire);
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; (w >> 32) == seen; ++i) {
        if (i < 64 || std::chrono::steady_clock::now() - t0 < kSpin) {
          cpu_relax();
        } else {
          sleeping.fetch_add(1, std::memory_order_acq_rel);
          word.wait(w, std::memory_order_acquire);
          sleeping.fetch_sub(1, std::memory_order_acq_rel);
        }
        w = word.load(std::memory_order_acquire);
      }
      if (stop.load(std::memory_order_acquire)) break;
      seen = w >> 32;
      work(seen, self);
    }
    exited.fetch_add(1, std::memory_order_acq_rel);
  }

  const int workers;
  std::atomic<uint64_t> word{0};  // (job number << 32) | bit mask of the claimed chunks
  std::atomic<int64_t> done{0};   // chunks of the current job finished
  std::atomic<int> sleeping{0};
  std::atomic<int> exited{0};
  std::atomic<bool> stop{false};
  detail::RangeFn* fn = nullptr;
  int64_t begin = 0, range = 0;
  std::atomic<int64_t> chunks{0};
  std::mutex error_mu;
  std::exception_ptr error;
};

int max_tbb_threads() {
  return int(std::max<size_t>(
      1, tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism)));
}

class Pool {
 public:
  // At most as many workers as oneTBB will give us (cores - 1 by default):
  // an enqueued task beyond that would never run.
  explicit Pool(int threads)
      : s_(std::make_shared<State>(std::max(0, std::min(threads, max_tbb_threads()) - 1))),
        arena_(s_->workers + 1, 1) {
    for (int i = 1; i <= s_->workers; ++i) {
      std::shared_ptr<State> s = s_;
      arena_.enqueue([s, i] { s->worker_loop(i); });
    }
  }

  ~Pool() {
    s_->stop.store(true, std::memory_order_release);
    s_->word.fetch_add(uint64_t(1) << 32, std::memory_order_acq_rel);  // wake sleepers
    s_->word.notify_all();
    // Wait until every worker task has run and left its loop (one that
    // oneTBB starts only now sees `stop` and returns at once), so that no task
    // and its reference to the state outlive the pool. A task oneTBB never
    // starts within 2 s is given up on (it would still find `stop`).
    const auto t0 = std::chrono::steady_clock::now();
    while (s_->exited.load(std::memory_order_acquire) < s_->workers &&
           std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2))
      std::this_thread::yield();
  }

  // Runs the job and returns true, or returns false at once when another
  // thread's job is running (the caller then runs serially).
  bool try_run(int64_t begin, int64_t end, int64_t grain, detail::RangeFn fn) {
    std::unique_lock<std::mutex> lock(submit_, std::try_to_lock);
    if (!lock.owns_lock()) return false;
    State& s = *s_;
    const int64_t range = end - begin;
    const int64_t k = std::min<int64_t>({s.workers + 1, 32, (range + grain - 1) / grain});
    // Close the previous job first (a new number, every chunk claimed): a
    // worker late for it has read its word, and once it reads the new chunk
    // count below, its claim must fail. Setting the count while the old job's
    // word stood let that claim succeed: it ran a chunk of this job, which was
    // then published unclaimed and ran twice (3+ threads; found by review).
    // (job numbers are the word's upper 32 bits: they wrap there, or the caller
    // would wait for a job its own work() no longer recognises)
    const uint64_t closed = uint32_t((s.word.load(std::memory_order_relaxed) >> 32) + 1), job = uint32_t(closed + 1);
    s.word.store((closed << 32) | 0xffffffffu, std::memory_order_release);
    s.fn = &fn;
    s.begin = begin;
    s.range = range;
    s.chunks.store(k, std::memory_order_release);
    s.error = nullptr;
    s.done.store(0, std::memory_order_relaxed);
    s.word.store(job << 32, std::memory_order_release);  // publish: nothing claimed yet
    if (s.sleeping.load(std::memory_order_acquire) > 0) s.word.notify_all();
    s.work(job, 0);
    // Wait for chunks other threads claimed: spin briefly, then yield.
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; s.done.load(std::memory_order_acquire) < k; ++i) {
      if (i < 64 || std::chrono::steady_clock::now() - t0 < kSpin)
        cpu_relax();
      else
        std::this_thread::yield();
    }
    if (s.error) std::rethrow_exception(s.error);
    return true;
  }

 private:
  std::shared_ptr<State> s_;
  tbb::task_arena arena_;
  std::mutex submit_;
};

std::mutex g_mu;
std::atomic<int> g_threads{int(std::max(1u, std::thread::hardware_concurrency()))};
std::shared_ptr<Pool> g_pool;

std::shared_ptr<Pool> pool() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (!g_pool) g_pool = std::make_shared<Pool>(g_threads);
  return g_pool;
}

}  // namespace

void set_num_threads(int n) {
  TG_CHECK(n >= 1, "set_num_threads: expected n >= 1, got ", n);
  std::lock_guard<std::mutex> lock(g_mu);
  if (n != g_threads) {
    g_threads = n;
    g_pool.reset();
  }
}

int get_num_threads() { return g_threads; }
int get_effective_num_threads() { return std::min<int>(g_threads, max_tbb_threads()); }

// ---------------------------------------------------------------- region profile
namespace {
struct SiteTotals {
  int64_t calls = 0, ns = 0;
};
struct Profile {
  std::mutex mu;
  std::map<std::pair<const std::type_info*, bool>, SiteTotals> sites;  // (site, serial)
  bool from_env = false;
};
void print_at_exit() { std::fputs(format_region_profile().c_str(), stderr); }
// Never destroyed, so a region that ends during exit (another static's
// destructor, a thread not joined) still finds it; the table is printed by an
// atexit hook.
Profile& profile() {
  static Profile* const p = [] {
    auto* q = new Profile;
    const char* v = std::getenv("TG_PROFILE_REGIONS");
    q->from_env = v && *v && std::string(v) != "0";
    if (q->from_env) std::atexit(print_at_exit);
    return q;
  }();
  return *p;
}

// "tg::raw::relu_backward(tg::Tensor const&, ...)::{lambda(auto:1)#1}::operator()<float>(float) const::{lambda(long, long)#2}"
// -> "tg::raw::relu_backward::{lambda}::{lambda}": argument and template
// lists dropped (an operator's own symbol, as in operator< or operator(),
// is kept whole), then "::operator()", " const" and lambda numbers.
std::string short_site(const std::type_info& t) {
  int status = 0;
  char* d = abi::__cxa_demangle(t.name(), nullptr, nullptr, &status);
  std::string full = status == 0 && d ? d : t.name();
  std::free(d);
  const std::string anon = "(anonymous namespace)";
  for (size_t at; (at = full.find(anon)) != std::string::npos;) full.replace(at, anon.size(), "{anon}");
  auto ident = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  std::string out;
  int paren = 0, angle = 0;
  for (size_t i = 0; i < full.size();) {
    if (full.compare(i, 8, "operator") == 0 && (i == 0 || !ident(full[i - 1])) &&
        (i + 8 == full.size() || !ident(full[i + 8]))) {
      size_t j = i + 8;
      if (full.compare(j, 2, "()") == 0 || full.compare(j, 2, "[]") == 0)
        j += 2;
      else
        while (j < full.size() && std::strchr("<>=!+-*/%&|^~,", full[j])) ++j;
      if (paren == 0 && angle == 0) out.append(full, i, j - i);
      i = j;
      continue;
    }
    const char c = full[i++];
    if (c == '(') ++paren;
    else if (c == ')') paren = std::max(0, paren - 1);
    else if (c == '<' && paren == 0) ++angle;
    else if (c == '>' && paren == 0) angle = std::max(0, angle - 1);
    else if (paren == 0 && angle == 0) out += c;
  }
  for (size_t at; (at = out.find(" const")) != std::string::npos;) out.erase(at, 6);
  for (size_t at; (at = out.find("::operator()")) != std::string::npos;) out.erase(at, 12);
  for (size_t at = 0; (at = out.find("{lambda#", at)) != std::string::npos;) {
    const size_t close = out.find('}', at);
    if (close == std::string::npos) break;
    out.replace(at, close - at + 1, "{lambda}");
    at += 8;
  }
  return out;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

thread_local int t_timed = 0;  // > 0 inside a timed region on this thread

// Times one region and adds it to its site's totals (the depth is restored
// when fn throws).
class RegionTimer {
 public:
  RegionTimer(const std::type_info& site, bool serial) : site_(site), serial_(serial), t0_(now_ns()) { ++t_timed; }
  ~RegionTimer() {
    --t_timed;
    const int64_t ns = now_ns() - t0_;
    Profile& p = profile();
    std::lock_guard<std::mutex> lock(p.mu);
    SiteTotals& s = p.sites[{&site_, serial_}];
    ++s.calls;
    s.ns += ns;
  }
  RegionTimer(const RegionTimer&) = delete;
  RegionTimer& operator=(const RegionTimer&) = delete;

 private:
  const std::type_info& site_;
  bool serial_;
  int64_t t0_;
};
}  // namespace

namespace detail {
// constinit: a set_region_profiling() from another file's static initializer
// cannot be overwritten by this one's; the environment is read just below.
constinit std::atomic<bool> g_region_profiling{false};
namespace {
[[maybe_unused]] const bool g_profile_from_env = [] {
  if (profile().from_env) g_region_profiling.store(true, std::memory_order_relaxed);
  return true;
}();
}  // namespace

bool timed_range(int64_t begin, int64_t end, int64_t grain, RangeFn fn, const std::type_info& site) {
  if (in_parallel_region() || t_timed > 0) return false;
  const RegionTimer timer(site, /*serial=*/false);
  if (end - begin <= grain || get_num_threads() == 1)
    fn(begin, end);
  else
    parallel_for_impl(begin, end, grain, fn);
  return true;
}

bool timed_call(RangeFn fn, const std::type_info& site) {
  if (in_parallel_region() || t_timed > 0) return false;
  const RegionTimer timer(site, /*serial=*/true);
  fn(0, 1);
  return true;
}
}  // namespace detail

void set_region_profiling(bool on) { detail::g_region_profiling.store(on, std::memory_order_relaxed); }
bool region_profiling() { return detail::g_region_profiling.load(std::memory_order_relaxed); }

std::vector<RegionStat> region_profile() {
  Profile& p = profile();
  std::map<std::string, RegionStat> by_name;  // two lambda types can print alike
  {
    std::lock_guard<std::mutex> lock(p.mu);
    for (const auto& [site, t] : p.sites) {
      RegionStat& r = by_name[short_site(*site.first) + (site.second ? " [serial]" : "")];
      r.calls += t.calls;
      r.total_us += double(t.ns) / 1e3;
    }
  }
  std::vector<RegionStat> out;
  for (auto& [name, r] : by_name) {
    r.site = name;
    out.push_back(r);
  }
  std::sort(out.begin(), out.end(), [](const RegionStat& a, const RegionStat& b) { return a.total_us > b.total_us; });
  return out;
}

void reset_region_profile() {
  Profile& p = profile();
  std::lock_guard<std::mutex> lock(p.mu);
  p.sites.clear();
}

std::string format_region_profile() {
  const std::vector<RegionStat> stats = region_profile();
  double total = 0;
  for (const RegionStat& r : stats) total += r.total_us;
  std::ostringstream os;
  char head[160];
  std::snprintf(head, sizeof(head), "parallel regions (%d thread(s); wall time on the calling thread, %.1f ms in all):\n",
                get_num_threads(), total / 1e3);
  os << head
     << "| site | calls | total ms | us per call | share |\n|---|---|---|---|---|\n";
  char buf[128];
  for (const RegionStat& r : stats) {
    std::snprintf(buf, sizeof(buf), " | %lld | %.2f | %.2f | %.1f%% |\n", static_cast<long long>(r.calls),
                  r.total_us / 1e3, r.total_us / double(std::max<int64_t>(r.calls, 1)),
                  total > 0 ? 100.0 * r.total_us / total : 0.0);
    os << "| " << r.site << buf;
  }
  return os.str();
}

SerialScope::SerialScope() { ++t_depth; }
SerialScope::~SerialScope() { --t_depth; }

namespace detail {

bool in_parallel_region() { return t_depth > 0; }

void parallel_for_impl(int64_t begin, int64_t end, int64_t grain, RangeFn fn) {
  const std::shared_ptr<Pool> p = pool();
  if (p->try_run(begin, end, std::max<int64_t>(1, grain), fn)) return;
  ++t_depth;
  try {
    fn(begin, end);
  } catch (...) {
    --t_depth;
    throw;
  }
  --t_depth;
}

}  // namespace detail
}  // namespace tg
