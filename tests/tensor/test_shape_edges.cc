// Shape, view and indexing edge cases found by the session-12 review, each
// against PyTorch 1.13's behaviour: slice and narrow with huge steps and
// lengths (signed overflow), narrow's negative start, 0-d tensors in view,
// flatten, cat and narrow, index_add's src shape, and undefined tensors
// given to ops (an error, not a crash).
#include <cstdint>
#include <limits>

#include "../common/test_util.h"

using tg::Tensor;

namespace {
std::vector<double> v(const Tensor& t) { return t.to_vector<double>(); }
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
}  // namespace

TEST_CASE("slice with a huge step: the size counts the start element (end - start + step - 1 overflowed)") {
  const Tensor x = tg::arange(0, 10, 1, {.dtype = tg::kFloat64}).reshape({2, 5});
  const Tensor s = x.slice(1, 1, 5, kMax);  // x[:, 1:5:2**63-1] is [2, 1]
  CHECK(s.shape() == tg::Shape{2, 1});
  CHECK(v(s) == std::vector<double>{1, 6});
  const Tensor r = x.slice(0, 0, 2, kMax / 2);  // one row: the stride is not multiplied (overflowed)
  CHECK(r.shape() == tg::Shape{1, 5});
  CHECK(v(r) == std::vector<double>{0, 1, 2, 3, 4});
  // and the backward puts the gradient in the right place
  Tensor w = tg::arange(0, 6, 1, {.dtype = tg::kFloat64});
  w.requires_grad_();
  (w.slice(0, 2, 6, kMax) * 3.0).sum().backward();
  CHECK(v(w.grad()) == std::vector<double>{0, 0, 3, 0, 0, 0});
  CHECK(x.slice(1, 3, 3, 2).shape() == tg::Shape{2, 0});
  CHECK(v(x.slice(1, 0, 5, 2)) == std::vector<double>{0, 2, 4, 5, 7, 9});
}

TEST_CASE("narrow: a negative start counts from the end, a huge length is an error") {
  const Tensor x = tg::arange(0, 10, 1, {.dtype = tg::kFloat64});
  CHECK(v(x.narrow(0, -2, 2)) == std::vector<double>{8, 9});  // PyTorch: [8, 9]
  CHECK(v(x.narrow(0, -10, 1)) == std::vector<double>{0});
  CHECK(x.narrow(0, 10, 0).numel() == 0);
  // start + length wrapped negative and passed the check (an empty result)
  CHECK_THROWS_WITH_AS(x.narrow(0, 2, kMax), doctest::Contains("narrow: start (2) + length ("), tg::Error);
  CHECK_THROWS_WITH_AS(x.narrow(0, -11, 1), doctest::Contains("narrow: start -11 is out of range for dim 0 of size 10"),
                       tg::Error);
  CHECK_THROWS_WITH_AS(x.narrow(0, 0, -1), doctest::Contains("exceeds dim 0 of size 10"), tg::Error);
  // a 0-d tensor: the message named a size read from a stale slot
  const Tensor z = x.select(0, 1);
  CHECK_THROWS_WITH_AS(z.narrow(0, 0, 9), doctest::Contains("narrow: cannot narrow a 0-d tensor"), tg::Error);
}

TEST_CASE("0-d tensors: view to [1] and [1, 1], flatten checks its dims, cat refuses them by name") {
  const Tensor s = tg::scalar_tensor(5.0);
  CHECK(s.view({1}).shape() == tg::Shape{1});
  CHECK(s.view({-1}).shape() == tg::Shape{1});
  CHECK(v(s.view({1, 1})) == std::vector<double>{5});
  CHECK(s.flatten().shape() == tg::Shape{1});
  CHECK(s.flatten(-1, 0).shape() == tg::Shape{1});
  CHECK_THROWS_AS(s.flatten(5, -9), tg::Error);  // PyTorch: IndexError
  CHECK_THROWS_AS(s.flatten(0, 1), tg::Error);
  CHECK_THROWS_WITH_AS(tg::cat({s, s}), doctest::Contains("cat: tensor 0 is 0-d and cannot be concatenated"), tg::Error);
  const Tensor one = tg::tensor({1.0});
  CHECK_THROWS_WITH_AS(tg::cat({one, s}), doctest::Contains("cat: tensor 1 is 0-d"), tg::Error);
}

TEST_CASE("index_add: src must match the input outside dim (it broadcast, then its backward threw)") {
  const Tensor x = tg::zeros({3, 4}, {.dtype = tg::kFloat64});
  const Tensor idx = tg::tensor(std::vector<int64_t>{0, 2});
  CHECK_THROWS_WITH_AS(tg::index_add(x, 0, idx, tg::ones({2, 1}, {.dtype = tg::kFloat64})),
                       doctest::Contains("index_add: src shape [2,1] does not match 2 indices along dim 0 of input [3,4] (every other dim"),
                       tg::Error);
  CHECK_THROWS_AS(tg::index_add(x, 0, tg::tensor(std::vector<int64_t>{}), tg::ones({0, 7}, {.dtype = tg::kFloat64})),
                  tg::Error);
  Tensor src = tg::tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0}, {2, 4});
  src.requires_grad_();
  const Tensor y = tg::index_add(x, 0, idx, src);
  CHECK(v(y.select(0, 2)) == std::vector<double>{5, 6, 7, 8});
  (y * 2.0).sum().backward();
  CHECK(v(src.grad()) == std::vector<double>(8, 2.0));
}

TEST_CASE("an undefined tensor given to an op is a tg::Error naming it, not a crash") {
  const Tensor u, a = tg::ones({2, 2});
  const Tensor i = tg::zeros({2, 2}, {.dtype = tg::kInt64});
  const char* msg = "the tensor is undefined";
  CHECK_THROWS_WITH_AS(tg::reshape(u, {4}), doctest::Contains(msg), tg::Error);
  CHECK_THROWS_WITH_AS(u.view({4}), doctest::Contains(msg), tg::Error);
  CHECK_THROWS_WITH_AS(tg::transpose(u, 0, 1), doctest::Contains(msg), tg::Error);
  CHECK_THROWS_WITH_AS(tg::permute(u, {0}), doctest::Contains(msg), tg::Error);
  CHECK_THROWS_WITH_AS(tg::expand(u, {2}), doctest::Contains(msg), tg::Error);
  CHECK_THROWS_WITH_AS(u.slice(0, 0, 1), doctest::Contains(msg), tg::Error);
  CHECK_THROWS_WITH_AS(tg::cat({a, u}), doctest::Contains("cat: tensor 1 is undefined"), tg::Error);
  CHECK_THROWS_WITH_AS(tg::stack({a, u}), doctest::Contains(msg), tg::Error);
  CHECK_THROWS_WITH_AS(tg::index_select(u, 0, i.select(0, 0)), doctest::Contains(msg), tg::Error);
  CHECK_THROWS_WITH_AS(tg::gather(u, 0, i), doctest::Contains(msg), tg::Error);
  CHECK_THROWS_WITH_AS(tg::scatter_add(a, 0, i, u), doctest::Contains(msg), tg::Error);
  CHECK_THROWS_WITH_AS(tg::index_add(a, 0, i.select(0, 0), u), doctest::Contains("index_add: src is undefined"),
                       tg::Error);
  CHECK_THROWS_WITH_AS(tg::add(a, u), doctest::Contains("add: undefined tensor argument"), tg::Error);
  CHECK_THROWS_WITH_AS(u.sum(), doctest::Contains(msg), tg::Error);
  Tensor w;
  CHECK_THROWS_WITH_AS(w.grad(), doctest::Contains(msg), tg::Error);
  CHECK_THROWS_WITH_AS(w.is_leaf(), doctest::Contains(msg), tg::Error);
  CHECK_THROWS_WITH_AS(w.bump_version(), doctest::Contains(msg), tg::Error);
  CHECK_THROWS_WITH_AS(w.set_grad(Tensor()), doctest::Contains(msg), tg::Error);
  CHECK(!w.requires_grad());  // a question with an answer: no
}
