// Storage: a reference-counted, 64-byte-aligned byte buffer that tensors view,
// and the caching allocator behind it.
//
// Every buffer is padded to a whole number of 64-byte lines plus one more
// line, so a SIMD kernel may load a full vector starting at any element of a
// tensor without leaving the allocation. Freed buffers go back to per-thread,
// per-size-class free lists (powers of two), so after warm-up a training step
// allocates no memory from the system. alloc_stats() makes that measurable.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

namespace tg {

struct AllocStats {
  uint64_t system_allocs = 0;  // buffers obtained from the system (aligned_alloc)
  uint64_t cache_hits = 0;     // buffers served from the free lists
  uint64_t bytes_cached = 0;   // bytes sitting in this thread's free lists now
};
AllocStats alloc_stats();       // summed over all threads
void empty_cache();             // return this thread's cached buffers to the system

void* alloc_buffer(size_t nbytes, size_t* capacity);  // capacity >= nbytes + padding
void free_buffer(void* p, size_t capacity);

namespace detail {
// Small-object pool for the tensor and tape bookkeeping (TensorImpl, Storage,
// autograd nodes): per-thread free lists in 16-byte classes up to 512 bytes,
// so creating and dropping a tensor or a tape node does not call malloc after
// warm-up. Larger requests go to operator new.
void* small_alloc(size_t n);
void small_free(void* p, size_t n);

template <class T>
struct PoolAllocator {
  using value_type = T;
  PoolAllocator() = default;
  template <class U>
  PoolAllocator(const PoolAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(small_alloc(n * sizeof(T))); }
  void deallocate(T* p, size_t n) { small_free(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const PoolAllocator<U>&) const { return true; }
};

template <class T, class... Args>
std::shared_ptr<T> make_pooled(Args&&... args) {
  return std::allocate_shared<T>(PoolAllocator<T>(), std::forward<Args>(args)...);
}
}  // namespace detail

class Storage {
 public:
  explicit Storage(size_t nbytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  // Bumped by every in-place write through any view of this storage; autograd
  // compares it to detect a tensor saved for backward being modified.
  uint32_t version = 0;

 private:
  void* data_;
  size_t nbytes_;
  size_t capacity_;
};

}  // namespace tg
