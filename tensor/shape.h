// Shape: a small inline vector of int64 sizes (rank <= 8), also used for strides.
// No heap allocation: creating a tensor's shape costs a few stores.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

namespace tg {

class Shape {
 public:
  static constexpr int kMaxDims = 8;
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  explicit Shape(const std::vector<int64_t>& dims);
  Shape(const int64_t* dims, int n);

  int size() const { return n_; }
  bool empty() const { return n_ == 0; }
  int64_t operator[](int i) const { return d_[i]; }
  int64_t& operator[](int i) { return d_[i]; }
  const int64_t* begin() const { return d_; }
  const int64_t* end() const { return d_ + n_; }
  int64_t* data() { return d_; }
  const int64_t* data() const { return d_; }
  void push_back(int64_t v);
  void insert(int pos, int64_t v);
  void erase(int pos);
  void resize(int n, int64_t fill = 0);
  int64_t back() const { return d_[n_ - 1]; }
  int64_t numel() const {
    int64_t p = 1;
    for (int i = 0; i < n_; ++i) p *= d_[i];
    return p;
  }
  std::vector<int64_t> vec() const { return std::vector<int64_t>(begin(), end()); }
  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }

 private:
  int64_t d_[kMaxDims] = {};
  int n_ = 0;
};

std::ostream& operator<<(std::ostream& os, const Shape& s);  // [3,4]
std::string to_string(const Shape& s);

// Row-major (C-contiguous) strides of a shape.
Shape contiguous_strides(const Shape& s);
// Every size >= 0, and the element count (and the product of the non-zero
// sizes, which the strides reach) fits in int64 with room for 8-byte
// elements; else a tg::Error naming op and the shape. numel() does not check:
// [2^62, 4] wrapped to 0 elements and a 64-byte buffer.
void check_sizes(const Shape& s, const char* op);
// The non-throwing test behind check_sizes (negative sizes aside).
bool sizes_fit(const Shape& s);
// An in-place target must not have an expanded (stride-0) dimension of size > 1:
// one element would be written once per position along it (as PyTorch refuses).
void check_writable(const Shape& shape, const Shape& strides, const char* op);
// NumPy broadcasting of two shapes; throws tg::Error naming `op` on mismatch.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Whether a and b broadcast together (for callers with their own message), and
// whether `from` broadcasts to `to` without enlarging it.
bool broadcastable(const Shape& a, const Shape& b);
bool broadcasts_to(const Shape& from, const Shape& to);
// Wraps a possibly negative dim into [0, rank); throws naming `op` when out of range.
int wrap_dim(int64_t dim, int rank, const char* op);

}  // namespace tg
