// index_select, index_add, gather and scatter_add (tensor/raw_index.cc), whose
// per-index view copies and per-element offset walks became block copies and
// odometer loops: checked bit for bit against a plain reference written here
// (row-major multi-index loops over to_vector values, additions in index
// order, int64 wrapping around) on odd shapes, every dim, every dtype,
// contiguous / permuted / strided / offset / expanded inputs and indices, empty
// and 0-d cases, and 1 vs 2 threads; plus the error messages, which name the
// first bad index in index order as the one-index-at-a-time code did.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "../common/test_util.h"

using tg::Shape;
using tg::Tensor;

namespace {

// ---- a plain reference on row-major values ----

std::vector<int64_t> coords(int64_t flat, const Shape& s) {
  std::vector<int64_t> c(size_t(s.size()), 0);
  for (int d = s.size() - 1; d >= 0; --d) {
    c[size_t(d)] = flat % s[d];
    flat /= s[d];
  }
  return c;
}

int64_t ravel(const std::vector<int64_t>& c, const Shape& s) {
  int64_t f = 0;
  for (int d = 0; d < s.size(); ++d) f = f * s[d] + c[size_t(d)];
  return f;
}

template <class T>
T ref_add(T a, T b) {
  if constexpr (std::is_same_v<T, int64_t>) return int64_t(uint64_t(a) + uint64_t(b));
  else return a + b;
}

template <class T>
std::vector<T> ref_index_select(const Tensor& x, int dim, const Tensor& index) {
  const std::vector<T> xv = x.to_vector<T>();
  const std::vector<int64_t> iv = index.to_vector<int64_t>();
  Shape s = x.shape();
  s[dim] = int64_t(iv.size());
  std::vector<T> out(static_cast<size_t>(s.numel()));
  for (int64_t f = 0; f < s.numel(); ++f) {
    std::vector<int64_t> c = coords(f, s);
    c[size_t(dim)] = iv[size_t(c[size_t(dim)])];
    out[size_t(f)] = xv[size_t(ravel(c, x.shape()))];
  }
  return out;
}

template <class T>
std::vector<T> ref_gather(const Tensor& x, int dim, const Tensor& index) {
  const std::vector<T> xv = x.to_vector<T>();
  const std::vector<int64_t> iv = index.to_vector<int64_t>();
  std::vector<T> out(iv.size());
  for (int64_t f = 0; f < index.numel(); ++f) {
    std::vector<int64_t> c = coords(f, index.shape());
    c[size_t(dim)] = iv[size_t(f)];
    out[size_t(f)] = xv[size_t(ravel(c, x.shape()))];
  }
  return out;
}

// out = x; out[p with p[dim] = index[p]] += src[p] for p in row-major order
template <class T>
std::vector<T> ref_scatter_add(const Tensor& x, int dim, const Tensor& index, const Tensor& src) {
  std::vector<T> out = x.to_vector<T>();
  const std::vector<T> sv = src.to_vector<T>();
  const std::vector<int64_t> iv = index.to_vector<int64_t>();
  for (int64_t f = 0; f < index.numel(); ++f) {
    std::vector<int64_t> c = coords(f, index.shape());
    c[size_t(dim)] = iv[size_t(f)];
    T& o = out[size_t(ravel(c, x.shape()))];
    o = ref_add(o, sv[size_t(f)]);
  }
  return out;
}

// out = x; for i in order: out[..., index[i], ...] += src[..., i, ...]
template <class T>
std::vector<T> ref_index_add(const Tensor& x, int dim, const Tensor& index, const Tensor& src) {
  std::vector<T> out = x.to_vector<T>();
  const std::vector<T> sv = src.to_vector<T>();
  const std::vector<int64_t> iv = index.to_vector<int64_t>();
  for (size_t i = 0; i < iv.size(); ++i)
    for (int64_t f = 0; f < src.numel(); ++f) {
      std::vector<int64_t> c = coords(f, src.shape());
      if (c[size_t(dim)] != int64_t(i)) continue;
      c[size_t(dim)] = iv[i];
      T& o = out[size_t(ravel(c, x.shape()))];
      o = ref_add(o, sv[size_t(f)]);
    }
  return out;
}

template <class T>
bool same_bits(const Tensor& y, const std::vector<T>& ref) {
  const std::vector<T> v = y.to_vector<T>();
  return v.size() == ref.size() && (v.empty() || std::memcmp(v.data(), ref.data(), v.size() * sizeof(T)) == 0);
}

// ---- inputs ----

// Values whose sums depend on the order of the additions (floats over twelve
// decades; int64 over the whole range, so sums wrap).
Tensor values(const Shape& s, tg::DType dt, std::mt19937_64& rng) {
  const int64_t n = s.numel();
  if (dt == tg::kInt64) {
    std::vector<int64_t> v(static_cast<size_t>(n));
    for (auto& e : v) e = int64_t(rng());
    return tg::tensor(v, s);
  }
  std::normal_distribution<double> g;
  std::uniform_int_distribution<int> e10(-6, 6);
  std::vector<double> v(static_cast<size_t>(n));
  for (auto& e : v) e = g(rng) * std::pow(10.0, e10(rng));
  return tg::tensor(v, s).to(dt);
}

Tensor indices(const Shape& s, int64_t size, std::mt19937_64& rng) {
  std::vector<int64_t> v(static_cast<size_t>(s.numel()));
  for (auto& e : v) e = size > 0 ? int64_t(rng() % uint64_t(size)) : 0;  // repeats on purpose
  return tg::tensor(v, s);
}

// The same values as c in other layouts: permuted strides, every other element
// of a wider buffer, and an offset into a taller one.
std::vector<std::pair<std::string, Tensor>> layouts(const Tensor& c) {
  std::vector<std::pair<std::string, Tensor>> out = {{"contiguous", c}};
  const int r = c.dim();
  if (r >= 2) {
    std::vector<int64_t> rev;
    for (int d = r - 1; d >= 0; --d) rev.push_back(d);
    out.push_back({"permuted", c.permute(Shape(rev)).contiguous().permute(Shape(rev))});
  }
  if (r >= 1) {
    Shape wide = c.shape();
    wide[r - 1] = 2 * wide[r - 1] + 1;
    Tensor w = tg::zeros(wide, {.dtype = c.dtype()});
    Tensor view = w.slice(r - 1, 1, 1 + 2 * c.shape()[r - 1], 2);
    view.copy_(c);
    out.push_back({"strided", view});
    Shape tall = c.shape();
    tall[0] += 2;
    Tensor t = tg::zeros(tall, {.dtype = c.dtype()});
    Tensor nv = t.narrow(0, 1, c.shape()[0]);
    nv.copy_(c);
    out.push_back({"offset", nv});
  }
  return out;
}

const std::vector<Shape>& shapes() {
  static const std::vector<Shape> s = {{7}, {1}, {5, 3}, {3, 1, 4}, {2, 3, 5, 2}, {4, 0, 3}, {3, 129}, {2, 2, 2, 2, 3}};
  return s;
}

template <class T>
void check_all_ops(tg::DType dt, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (const Shape& s : shapes())
    for (int dim = 0; dim < s.size(); ++dim) {
      const Tensor base = values(s, dt, rng);
      for (const auto& [lname, x] : layouts(base)) {
        CAPTURE(s);
        CAPTURE(dim);
        CAPTURE(lname);
        const int64_t size = s[dim];
        // index_select / index_add, with repeats, empty index, odd counts
        for (int64_t n : {int64_t(0), int64_t(1), int64_t(5), int64_t(9)}) {
          if (size == 0 && n > 0) continue;
          CAPTURE(n);
          const Tensor idx = indices({n}, size, rng);
          const Tensor y = tg::index_select(x, dim, idx);
          Shape ys = s;
          ys[dim] = n;
          CHECK(y.shape() == ys);
          CHECK(same_bits(y, ref_index_select<T>(x, dim, idx)));
          // a strided index
          const Tensor idx2 = indices({2 * n}, size, rng).slice(0, 0, 2 * n, 2);
          CHECK(same_bits(tg::index_select(x, dim, idx2), ref_index_select<T>(x, dim, idx2)));
          for (const auto& [sname, src] : layouts(values(ys, dt, rng))) {
            CAPTURE(sname);
            const Tensor z = tg::index_add(x, dim, idx, src);
            CHECK(z.shape() == s);
            CHECK(same_bits(z, ref_index_add<T>(x, dim, idx, src)));
          }
        }
        if (size > 0) {  // a 0-d index keeps the dim, size 1
          const Tensor i0 = tg::scalar_tensor(double(size - 1), tg::kInt64);
          const Tensor y = tg::index_select(x, dim, i0);
          CHECK(same_bits(y, ref_index_select<T>(x, dim, i0)));
          CHECK(y.shape()[dim] == 1);
        }
        // gather / scatter_add: index no larger than x outside dim, any length along it
        for (int rep = 0; rep < 3; ++rep) {
          Shape is = s;
          for (int d = 0; d < s.size(); ++d)
            is[d] = d == dim ? (size == 0 ? 0 : int64_t(rng() % 7)) : int64_t(rng() % uint64_t(s[d] + 1));
          if (rep == 0)  // the full shape once
            for (int d = 0; d < s.size(); ++d) is[d] = d == dim && size == 0 ? 0 : s[d];
          CAPTURE(is);
          for (const auto& [iname, idx] : layouts(indices(is, size, rng))) {
            CAPTURE(iname);
            const Tensor g = tg::gather(x, dim, idx);
            CHECK(g.shape() == is);
            CHECK(same_bits(g, ref_gather<T>(x, dim, idx)));
            const Tensor src = layouts(values(is, dt, rng))[size_t(rep) % 3].second;
            CHECK(same_bits(tg::scatter_add(x, dim, idx, src), ref_scatter_add<T>(x, dim, idx, src)));
          }
        }
      }
    }
}

}  // namespace

TEST_CASE("index ops: every dtype, shape, dim and layout match the reference bit for bit, 1 and 2 threads") {
  tgtest::ThreadsGuard guard;
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    tg::set_num_threads(threads);
    check_all_ops<float>(tg::kFloat32, 1);
    check_all_ops<double>(tg::kFloat64, 2);
    check_all_ops<int64_t>(tg::kInt64, 3);
  }
}

TEST_CASE("index ops: expanded (stride-0) inputs, indices and sources") {
  std::mt19937_64 rng(4);
  auto run = [&](auto z, tg::DType dt) {
    using T = decltype(z);
    CAPTURE(dt);
    const Tensor xr = values({1, 5}, dt, rng).expand({4, 5}), xc = values({4, 1}, dt, rng).expand({4, 5});
    const Tensor xa = values({}, dt, rng).expand({3, 2, 4});
    for (const Tensor& x : {xr, xc, xa}) {
      CAPTURE(x.shape());
      CAPTURE(x.strides());
      for (int dim = 0; dim < x.dim(); ++dim) {
        CAPTURE(dim);
        const Tensor id = indices({7}, x.shape()[dim], rng);
        const Tensor y = tg::index_select(x, dim, id);
        CHECK(same_bits(y, ref_index_select<T>(x, dim, id)));
        // an expanded src (as sum's backward hands one over)
        const Tensor src = values({}, dt, rng).expand(y.shape());
        CHECK(same_bits(tg::index_add(x.contiguous(), dim, id, src), ref_index_add<T>(x.contiguous(), dim, id, src)));
        Shape is = x.shape();
        is[dim] = 3;
        Shape one = is;
        for (int d = 0; d < one.size(); ++d) one[d] = d == dim ? is[d] : 1;
        const Tensor ie = indices(one, x.shape()[dim], rng).expand(is);  // the same index along every other dim
        CHECK(same_bits(tg::gather(x, dim, ie), ref_gather<T>(x, dim, ie)));
        const Tensor se = values({}, dt, rng).expand(is);
        CHECK(same_bits(tg::scatter_add(x, dim, ie, se), ref_scatter_add<T>(x, dim, ie, se)));
      }
    }
  };
  run(float{}, tg::kFloat32);
  run(double{}, tg::kFloat64);
  run(int64_t{}, tg::kInt64);
}

TEST_CASE("index ops: 0-d tensors and empty shapes") {
  const Tensor x0 = tg::scalar_tensor(7.5), i0 = tg::scalar_tensor(0, tg::kInt64);
  CHECK(tg::gather(x0, 0, i0).item<float>() == 7.5f);
  CHECK(tg::gather(x0, 0, i0).dim() == 0);
  CHECK(tg::scatter_add(x0, 0, i0, tg::scalar_tensor(1.0)).item<float>() == 8.5f);
  CHECK_THROWS_WITH_AS(tg::index_select(x0, 0, i0), doctest::Contains("index_select: cannot index a 0-d tensor"),
                       tg::Error);
  CHECK_THROWS_WITH_AS(tg::index_add(x0, 0, i0, x0), doctest::Contains("index_add: cannot index a 0-d tensor"), tg::Error);
  // empty x outside dim, empty index, empty both
  const Tensor e = tg::zeros({0, 4});
  const Tensor two = tg::tensor(std::vector<int64_t>{3, 1});
  CHECK(tg::index_select(e, 1, two).shape() == Shape{0, 2});
  CHECK(tg::index_add(e, 1, two, tg::zeros({0, 2})).shape() == Shape{0, 4});
  const Tensor none = tg::tensor(std::vector<int64_t>{});
  const Tensor x = tg::ones({3, 4});
  CHECK(tg::index_select(x, 0, none).shape() == Shape{0, 4});
  CHECK(tg::index_add(x, 1, none, tg::zeros({3, 0})).to_vector<float>() == std::vector<float>(12, 1.0f));
  const Tensor ie = tg::zeros({3, 0}, {.dtype = tg::kInt64});
  CHECK(tg::gather(x, 0, ie).shape() == Shape{3, 0});
  CHECK(tg::scatter_add(x, 1, ie, tg::zeros({3, 0})).to_vector<float>() == std::vector<float>(12, 1.0f));
  // a dim of size 0 with no indices into it
  const Tensor z = tg::zeros({2, 0, 3});
  CHECK(tg::index_select(z, 1, none).shape() == Shape{2, 0, 3});
  CHECK(tg::gather(z, 1, tg::zeros({2, 0, 3}, {.dtype = tg::kInt64})).shape() == Shape{2, 0, 3});
}

TEST_CASE("index ops: the range error names the first bad index in index order") {
  const Tensor x = tg::arange(0, 15, 1, {.dtype = tg::kFloat32}).reshape({5, 3});
  const Tensor bad = tg::tensor(std::vector<int64_t>{1, 7, -2, 9});
  CHECK_THROWS_WITH_AS(tg::index_select(x, 0, bad), "index_select: index 7 is out of range for dim 0 of size 5", tg::Error);
  CHECK_THROWS_WITH_AS(tg::index_select(x, 1, tg::tensor(std::vector<int64_t>{0, -1, 3})),
                       "index_select: index -1 is out of range for dim 1 of size 3", tg::Error);
  CHECK_THROWS_WITH_AS(tg::index_add(x, 0, bad, tg::ones({4, 3})),
                       "index_add: index 7 is out of range for dim 0 of size 5", tg::Error);
  // gather / scatter_add: row-major order of the index's positions, whatever its layout
  // (storage order of this transposed index meets -4 first; row-major order meets 6)
  const Tensor it = tg::tensor(std::vector<int64_t>{0, -4, 6, 1}, {2, 2}).t();  // [[0, 6], [-4, 1]]
  CHECK_THROWS_WITH_AS(tg::gather(x, 1, it), "gather: index 6 is out of range for dim 1 of size 3", tg::Error);
  CHECK_THROWS_WITH_AS(tg::scatter_add(x, 1, it, tg::ones({2, 2})),
                       "scatter_add: index 6 is out of range for dim 1 of size 3", tg::Error);
  CHECK_THROWS_WITH_AS(tg::gather(x, 0, tg::tensor(std::vector<int64_t>{4, 5, -1}, {1, 3})),
                       "gather: index 5 is out of range for dim 0 of size 5", tg::Error);
  const int64_t big = std::numeric_limits<int64_t>::min();
  CHECK_THROWS_WITH_AS(tg::index_select(x, 0, tg::tensor(std::vector<int64_t>{big})),
                       doctest::Contains("index_select: index -9223372036854775808 is out of range"), tg::Error);
  // index_add with a src of another dtype: index 0's range first, then the dtypes, then the rest
  const Tensor s64 = tg::ones({2, 3}, {.dtype = tg::kFloat64});
  CHECK_THROWS_WITH_AS(tg::index_add(x, 0, tg::tensor(std::vector<int64_t>{5, 0}), s64),
                       "index_add: index 5 is out of range for dim 0 of size 5", tg::Error);
  CHECK_THROWS_WITH_AS(tg::index_add(x, 0, tg::tensor(std::vector<int64_t>{0, 5}), s64),
                       "index_add: dtypes float32 and float64 differ; convert one with .to(float32)", tg::Error);
}

TEST_CASE("index ops under autograd: embedding's forward and backward with repeated indices") {
  // y = weight[idx]   dweight[k] = sum of dy rows with idx = k, in index order
  std::mt19937_64 rng(5);
  Tensor w = values({11, 6}, tg::kFloat32, rng);
  w.requires_grad_();
  const Tensor idx = indices({3, 5}, 11, rng);
  const Tensor y = tg::nn::functional::embedding(idx, w);
  CHECK(y.shape() == Shape{3, 5, 6});
  CHECK(same_bits(y.detach().reshape({15, 6}), ref_index_select<float>(w.detach(), 0, idx.reshape({15}))));
  const Tensor dy = values({3, 5, 6}, tg::kFloat32, rng);
  y.backward(dy);
  CHECK(same_bits(w.grad(), ref_index_add<float>(tg::zeros({11, 6}), 0, idx.reshape({15}), dy.reshape({15, 6}))));
}
