// Shape helpers: construction, printing, broadcasting, dim wrapping.
#include "tensor/shape.h"

#include <cstdint>
#include <sstream>

#include "tensor/error.h"

namespace tg {

Shape::Shape(std::initializer_list<int64_t> dims) {
  TG_CHECK(dims.size() <= kMaxDims, "Shape: rank ", dims.size(), " exceeds the maximum of ", kMaxDims);
  for (int64_t v : dims) d_[n_++] = v;
}
Shape::Shape(const std::vector<int64_t>& dims) {
  TG_CHECK(dims.size() <= kMaxDims, "Shape: rank ", dims.size(), " exceeds the maximum of ", kMaxDims);
  for (int64_t v : dims) d_[n_++] = v;
}
Shape::Shape(const int64_t* dims, int n) {
  TG_CHECK(n <= kMaxDims, "Shape: rank ", n, " exceeds the maximum of ", kMaxDims);
  for (int i = 0; i < n; ++i) d_[n_++] = dims[i];
}
void Shape::push_back(int64_t v) {
  TG_CHECK(n_ < kMaxDims, "Shape: rank exceeds the maximum of ", kMaxDims);
  d_[n_++] = v;
}
void Shape::insert(int pos, int64_t v) {
  TG_CHECK(n_ < kMaxDims, "Shape: rank exceeds the maximum of ", kMaxDims);
  for (int i = n_; i > pos; --i) d_[i] = d_[i - 1];
  d_[pos] = v;
  ++n_;
}
void Shape::erase(int pos) {
  for (int i = pos; i + 1 < n_; ++i) d_[i] = d_[i + 1];
  --n_;
}
void Shape::resize(int n, int64_t fill) {
  TG_CHECK(n <= kMaxDims, "Shape: rank ", n, " exceeds the maximum of ", kMaxDims);
  for (int i = n_; i < n; ++i) d_[i] = fill;
  n_ = n;
}
bool Shape::operator==(const Shape& o) const {
  if (n_ != o.n_) return false;
  for (int i = 0; i < n_; ++i)
    if (d_[i] != o.d_[i]) return false;
  return true;
}

std::ostream& operator<<(std::ostream& os, const Shape& s) {
  os << '[';
  for (int i = 0; i < s.size(); ++i) os << (i ? "," : "") << s[i];
  return os << ']';
}
std::string to_string(const Shape& s) {
  std::ostringstream os;
  os << s;
  return os.str();
}

bool sizes_fit(const Shape& s) {
  int64_t nonzero = 1;  // a zero size makes numel 0, but the strides still multiply the others
  for (int d = 0; d < s.size(); ++d)
    if (s[d] > 0 && (__builtin_mul_overflow(nonzero, s[d], &nonzero) || nonzero > INT64_MAX / 8)) return false;
  return true;
}

void check_sizes(const Shape& s, const char* op) {
  for (int d = 0; d < s.size(); ++d) TG_CHECK(s[d] >= 0, op, ": negative size ", s[d], " in shape ", s);
  TG_CHECK(sizes_fit(s), op, ": shape ", s, " has too many elements (the count overflows int64)");
}

void check_writable(const Shape& shape, const Shape& strides, const char* op) {
  for (int d = 0; d < shape.size(); ++d)
    TG_CHECK(strides[d] != 0 || shape[d] <= 1, op, ": the in-place target is expanded (shape ", shape,
             ", strides ", strides, "): one element would be written ", shape[d],
             " times; use the out-of-place op, or .contiguous() first");
}

Shape contiguous_strides(const Shape& s) {
  Shape st;
  st.resize(s.size());
  int64_t acc = 1;
  for (int i = s.size() - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= s[i] > 1 ? s[i] : 1;
  }
  return st;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  TG_CHECK(broadcastable(a, b), op, ": shapes ", a, " and ", b, " cannot broadcast");
  const int n = a.size() > b.size() ? a.size() : b.size();
  Shape out;
  out.resize(n);
  for (int i = 0; i < n; ++i) {
    const int ia = a.size() - n + i, ib = b.size() - n + i;
    const int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    out[i] = da == 1 ? db : da;
  }
  return out;
}

bool broadcastable(const Shape& a, const Shape& b) {
  for (int i = 1; i <= a.size() && i <= b.size(); ++i) {
    const int64_t da = a[a.size() - i], db = b[b.size() - i];
    if (da != db && da != 1 && db != 1) return false;
  }
  return true;
}

bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  for (int i = 1; i <= from.size(); ++i)
    if (from[from.size() - i] != 1 && from[from.size() - i] != to[to.size() - i]) return false;
  return true;
}

int wrap_dim(int64_t dim, int rank, const char* op) {
  const int r = rank == 0 ? 1 : rank;
  TG_CHECK(dim >= -r && dim < r, op, ": dim ", dim, " is out of range for a tensor of rank ", rank,
           " (expected ", -r, "..", r - 1, ")");
  return static_cast<int>(dim < 0 ? dim + r : dim);
}

}  // namespace tg
