// The caching allocator: per-thread free lists by power-of-two size class.
// Blocks larger than kMaxCached bytes bypass the cache.
#include "tensor/storage.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

#include "tensor/error.h"

namespace tg {
namespace {

constexpr size_t kAlign = 64;
constexpr int kClasses = 40;
constexpr size_t kMaxCached = size_t(1) << 30;
constexpr size_t kMaxBlocksPerClass = 64;

std::atomic<uint64_t> g_system_allocs{0}, g_cache_hits{0};

struct Cache {
  std::vector<void*> lists[kClasses];
  size_t bytes = 0;
  ~Cache() { release(); }
  void release() {
    for (int c = 0; c < kClasses; ++c) {
      for (void* p : lists[c]) std::free(p);
      lists[c].clear();
    }
    bytes = 0;
  }
};

struct CacheHolder {
  Cache cache;
  bool alive = true;
  ~CacheHolder() { alive = false; }
};
thread_local CacheHolder t_holder;

int size_class(size_t cap) {
  int c = 0;
  while ((size_t(kAlign) << c) < cap) ++c;
  return c;
}

}  // namespace

void* alloc_buffer(size_t nbytes, size_t* capacity) {
  // (near SIZE_MAX the rounding below wrapped to a 64-byte block)
  if (nbytes > SIZE_MAX - 2 * size_t(kAlign)) throw std::bad_alloc();
  size_t need = ((nbytes + kAlign - 1) / kAlign) * kAlign + kAlign;
  if (need <= kMaxCached) {
    const int c = size_class(need);
    const size_t cap = size_t(kAlign) << c;
    *capacity = cap;
    if (t_holder.alive) {
      auto& list = t_holder.cache.lists[c];
      if (!list.empty()) {
        void* p = list.back();
        list.pop_back();
        t_holder.cache.bytes -= cap;
        g_cache_hits.fetch_add(1, std::memory_order_relaxed);
        return p;
      }
    }
    need = cap;
  }
  *capacity = need;
  void* p = std::aligned_alloc(kAlign, need);
  if (!p) throw std::bad_alloc();
  g_system_allocs.fetch_add(1, std::memory_order_relaxed);
  return p;
}

void free_buffer(void* p, size_t capacity) {
  if (!p) return;
  if (capacity <= kMaxCached && t_holder.alive) {
    const int c = size_class(capacity);
    auto& list = t_holder.cache.lists[c];
    if (list.size() < kMaxBlocksPerClass) {
      list.push_back(p);
      t_holder.cache.bytes += capacity;
      return;
    }
  }
  std::free(p);
}

// ---------------------------------------------------------------- small objects
namespace detail {
namespace {
constexpr size_t kSmallMax = 512;
constexpr size_t kSmallClasses = kSmallMax / 16;
constexpr size_t kSmallCap = 8192;  // blocks kept per class and thread

struct FreeBlock {
  FreeBlock* next;
};
struct SmallPool {
  FreeBlock* head[kSmallClasses] = {};
  size_t count[kSmallClasses] = {};
  bool alive = true;
  ~SmallPool() {
    alive = false;
    for (size_t c = 0; c < kSmallClasses; ++c)
      while (head[c]) {
        FreeBlock* b = head[c];
        head[c] = b->next;
        ::operator delete(b);
      }
  }
};
thread_local SmallPool t_small;
}  // namespace

void* small_alloc(size_t n) {
  if (n == 0 || n > kSmallMax) return ::operator new(n);
  const size_t c = (n - 1) / 16;
  if (t_small.alive && t_small.head[c]) {
    FreeBlock* b = t_small.head[c];
    t_small.head[c] = b->next;
    --t_small.count[c];
    return b;
  }
  return ::operator new((c + 1) * 16);
}

void small_free(void* p, size_t n) {
  if (!p) return;
  if (n == 0 || n > kSmallMax) return ::operator delete(p);
  const size_t c = (n - 1) / 16;
  if (!t_small.alive || t_small.count[c] >= kSmallCap) return ::operator delete(p);
  auto* b = static_cast<FreeBlock*>(p);
  b->next = t_small.head[c];
  t_small.head[c] = b;
  ++t_small.count[c];
}
}  // namespace detail

AllocStats alloc_stats() {
  AllocStats s;
  s.system_allocs = g_system_allocs.load();
  s.cache_hits = g_cache_hits.load();
  s.bytes_cached = t_holder.alive ? t_holder.cache.bytes : 0;
  return s;
}

void empty_cache() {
  if (t_holder.alive) t_holder.cache.release();
}

Storage::Storage(size_t nbytes) : nbytes_(nbytes) { data_ = alloc_buffer(nbytes, &capacity_); }
Storage::~Storage() { free_buffer(data_, capacity_); }

}  // namespace tg
