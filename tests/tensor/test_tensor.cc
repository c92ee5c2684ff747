// Tensor core: factories, views, broadcasting, reductions, matmul, indexing,
// printing, errors, RNG determinism and 1- vs 2-thread bit identity.
#include "../common/test_util.h"

using tg::Shape;
using tg::Tensor;

TEST_CASE("tensor: factories hold the values they promise") {
  CHECK(tg::zeros({2, 3}).to_vector<float>() == std::vector<float>(6, 0.f));
  CHECK(tg::full({2}, 2.5, {.dtype = tg::kFloat64}).to_vector<double>() == std::vector<double>{2.5, 2.5});
  CHECK(tg::arange(5).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4});
  CHECK(tg::arange(1, 2, 0.25, {.dtype = tg::kFloat32}).to_vector<float>() == std::vector<float>{1, 1.25, 1.5, 1.75});
  CHECK(tg::linspace(0, 1, 5, {.dtype = tg::kFloat64}).to_vector<double>() == std::vector<double>{0, 0.25, 0.5, 0.75, 1});
  CHECK(tg::eye(3).to_vector<float>() == std::vector<float>{1, 0, 0, 0, 1, 0, 0, 0, 1});
  Tensor t = tg::tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {2, 3});
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.at<float>({1, 2}) == 6.f);
  CHECK(t.at<float>({-1, 0}) == 4.f);
  CHECK(tg::tensor({7.0}).item<double>() == 7.0);
  CHECK(reinterpret_cast<uintptr_t>(t.raw_data()) % 64 == 0);
}

TEST_CASE("tensor: views share storage and compute the right elements") {
  Tensor t = tg::arange(0, 24, 1, {.dtype = tg::kFloat32}).reshape({2, 3, 4});
  Tensor tr = t.transpose(0, 2);  // [4,3,2]
  CHECK(tr.shape() == Shape{4, 3, 2});
  CHECK(!tr.is_contiguous());
  CHECK(tr.at<float>({3, 1, 0}) == 7.f);  // t[0][1][3]
  CHECK(tr.impl()->storage == t.impl()->storage);
  CHECK(t.permute({2, 0, 1}).at<float>({1, 1, 2}) == 21.f);  // t[1][2][1]
  CHECK(t.narrow(2, 1, 2).to_vector<float>()[0] == 1.f);
  CHECK(t.slice(1, 0, 3, 2).shape() == Shape{2, 2, 4});
  CHECK(t.slice(1, 0, 3, 2).at<float>({1, 1, 3}) == 23.f);
  CHECK(t[1].shape() == Shape{3, 4});
  CHECK(t[1].at<float>({0, 0}) == 12.f);
  CHECK(t.select(2, -1).to_vector<float>() == std::vector<float>{3, 7, 11, 15, 19, 23});
  Tensor col = tg::tensor({1.f, 2.f}, {2, 1});
  CHECK(col.expand({2, 3}).to_vector<float>() == std::vector<float>{1, 1, 1, 2, 2, 2});
  CHECK(col.expand({2, 3}).strides()[1] == 0);
  CHECK(col.squeeze().shape() == Shape{2});
  CHECK(col.unsqueeze(0).shape() == Shape{1, 2, 1});
  CHECK(t.flatten(1).shape() == Shape{2, 12});
  CHECK(t.reshape({-1, 6}).shape() == Shape{4, 6});
  // reshape of a non-viewable tensor copies; view refuses with a clear message.
  CHECK(tr.reshape({24}).at<float>({1}) == 12.f);
  CHECK_THROWS_WITH_AS(tr.view({24}), doctest::Contains("view: shape [24] is not compatible"), tg::Error);
  Tensor c = tr.contiguous();
  CHECK(c.is_contiguous());
  CHECK(c.to_vector<float>() == tr.to_vector<float>());
  Tensor cl = t.clone();
  CHECK(cl.impl()->storage != t.impl()->storage);
}

TEST_CASE("tensor: broadcasting elementwise ops against hand-computed values") {
  Tensor a = tg::tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {2, 3});
  Tensor b = tg::tensor({10.f, 20.f, 30.f}, {3});
  CHECK((a + b).to_vector<float>() == std::vector<float>{11, 22, 33, 14, 25, 36});
  CHECK((a * tg::tensor({2.f, 3.f}, {2, 1})).to_vector<float>() == std::vector<float>{2, 4, 6, 12, 15, 18});
  CHECK((b - a).to_vector<float>() == std::vector<float>{9, 18, 27, 6, 15, 24});
  CHECK((a / 2.0).to_vector<float>() == std::vector<float>{0.5, 1, 1.5, 2, 2.5, 3});
  CHECK((1.0 - a).to_vector<float>() == std::vector<float>{0, -1, -2, -3, -4, -5});
  CHECK((6.0 / a).to_vector<float>() == std::vector<float>{6, 3, 2, 1.5, 1.2f, 1});
  CHECK((a > 3.0).to_vector<float>() == std::vector<float>{0, 0, 0, 1, 1, 1});
  CHECK(tg::where(a > 3.0, a, -a).to_vector<float>() == std::vector<float>{-1, -2, -3, 4, 5, 6});
  CHECK(tg::clamp(a, 2, 4).to_vector<float>() == std::vector<float>{2, 2, 3, 4, 4, 4});
  CHECK(tg::pow(a, 2.0).to_vector<float>() == std::vector<float>{1, 4, 9, 16, 25, 36});
  CHECK(tg::relu(a - 3.5).to_vector<float>() == std::vector<float>{0, 0, 0, 0.5, 1.5, 2.5});
  CHECK(tg::leaky_relu(a - 3.0, 0.5).to_vector<float>() == std::vector<float>{-1, -0.5, 0, 1, 2, 3});
  // transposed operand (inner stride != 1)
  Tensor at = a.t();  // [3,2]
  CHECK((at + tg::tensor({1.f, 2.f}, {2})).to_vector<float>() == std::vector<float>{2, 6, 3, 7, 4, 8});
  // 3-way broadcast [2,1,3] + [4,1] -> [2,4,3]
  Tensor x = tg::arange(0, 6, 1, {.dtype = tg::kFloat64}).reshape({2, 1, 3});
  Tensor y = tg::arange(0, 4, 1, {.dtype = tg::kFloat64}).reshape({4, 1}) * 10.0;
  Tensor z = x + y;
  CHECK(z.shape() == Shape{2, 4, 3});
  CHECK(z.at<double>({1, 2, 1}) == 4 + 20);
  // in-place with broadcasting
  Tensor m = tg::zeros({2, 3});
  m += b;
  CHECK(m.to_vector<float>() == std::vector<float>{10, 20, 30, 10, 20, 30});
  m *= 0.5;
  CHECK(m.at<float>({1, 2}) == 15.f);
  // unary values
  Tensor u = tg::tensor({0.0, 1.0}, {2});
  CHECK(tg::exp(u).at<double>({1}) == doctest::Approx(std::exp(1.0)).epsilon(1e-15));
  CHECK(tg::sigmoid(u).at<double>({0}) == 0.5);
  CHECK(tg::gelu(u).at<double>({1}) == doctest::Approx(0.8413447460685429).epsilon(1e-14));
  CHECK(tg::gelu(u, tg::GeluApprox::Tanh).at<double>({1}) == doctest::Approx(0.8411919906082768).epsilon(1e-14));
}

TEST_CASE("tensor: reductions over any dims with keepdim") {
  Tensor t = tg::arange(0, 24, 1, {.dtype = tg::kFloat64}).reshape({2, 3, 4});
  CHECK(tg::sum(t).item<double>() == 276);
  CHECK(tg::sum(t, {1}).to_vector<double>() == std::vector<double>{12, 15, 18, 21, 48, 51, 54, 57});
  CHECK(tg::sum(t, {0, 2}, true).shape() == Shape{1, 3, 1});
  CHECK(tg::sum(t, {0, 2}).to_vector<double>() == std::vector<double>{60, 92, 124});
  CHECK(tg::sum(t, {-1}).to_vector<double>() == std::vector<double>{6, 22, 38, 54, 70, 86});
  CHECK(tg::mean(t, {2}).at<double>({1, 2}) == 21.5);
  CHECK(tg::var(t, {2}).at<double>({0, 0}) == doctest::Approx(5.0 / 3.0));
  CHECK(tg::var(t, {2}, 0).at<double>({0, 0}) == doctest::Approx(1.25));
  CHECK(tg::amax(t, {0, 1}).to_vector<double>() == std::vector<double>{20, 21, 22, 23});
  CHECK(tg::max(t).item<double>() == 23);
  CHECK(tg::min(t).item<double>() == 0);
  Tensor s = tg::tensor({3.0, 9.0, 1.0, 9.0, 2.0, 0.0}, {2, 3});
  auto [v, i] = tg::max(s, 1);
  CHECK(v.to_vector<double>() == std::vector<double>{9, 9});
  CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{1, 0});
  CHECK(tg::argmax(s, 0).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 0});
  CHECK(tg::logsumexp(tg::tensor({0.0, 0.0}, {2}), {0}).item<double>() == doctest::Approx(std::log(2.0)));
  // stable for large values
  CHECK(tg::logsumexp(tg::tensor({1000.0, 1000.0}, {2}), {0}).item<double>() == doctest::Approx(1000 + std::log(2.0)));
  Tensor sm = tg::softmax(tg::tensor({1000.0, 1000.0, 1000.0}, {1, 3}), 1);
  CHECK(sm.at<double>({0, 1}) == doctest::Approx(1.0 / 3));
  Tensor lsm = tg::log_softmax(tg::tensor({1.0, 2.0, 3.0, 4.0}, {2, 2}), 0);
  CHECK(lsm.at<double>({1, 0}) == doctest::Approx(3 - std::log(std::exp(1.0) + std::exp(3.0))));
  // a big full reduction is exact for integers in float64
  Tensor big = tg::ones({100003}, {.dtype = tg::kFloat64});
  CHECK(tg::sum(big).item<double>() == 100003);
}

TEST_CASE("tensor: matmul, cat, stack, index_select, gather, one_hot") {
  Tensor a = tg::tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3});
  Tensor b = tg::tensor({1.0, 0.0, 0.0, 1.0, 1.0, 1.0}, {3, 2});
  CHECK(tg::matmul(a, b).to_vector<double>() == std::vector<double>{4, 5, 10, 11});
  CHECK(tg::matmul(a, a.t()).to_vector<double>() == std::vector<double>{14, 32, 32, 77});  // transposed operand
  CHECK(tg::matmul(a.t(), a).at<double>({2, 2}) == 45);
  Tensor batch = tg::stack({a, a * 2.0});  // [2,2,3]
  Tensor bm = tg::matmul(batch, b);
  CHECK(bm.shape() == Shape{2, 2, 2});
  CHECK(bm.at<double>({1, 1, 1}) == 22);
  CHECK(tg::matmul(batch, tg::stack({b, b})).at<double>({1, 0, 0}) == 8);
  CHECK(tg::matmul(tg::tensor({1.0, 2.0, 3.0}), tg::tensor({4.0, 5.0, 6.0})).item<double>() == 32);
  CHECK(tg::cat({a, a}, 1).shape() == Shape{2, 6});
  CHECK(tg::cat({a, a}, 0).at<double>({3, 0}) == 4);
  Tensor idx = tg::tensor(std::vector<int64_t>{2, 0});
  CHECK(tg::index_select(a, 1, idx).to_vector<double>() == std::vector<double>{3, 1, 6, 4});
  Tensor gi = tg::tensor(std::vector<int64_t>{1, 2}, {2, 1});
  CHECK(tg::gather(a, 1, gi).to_vector<double>() == std::vector<double>{2, 6});
  CHECK(tg::one_hot(tg::tensor(std::vector<int64_t>{2, 0}), 3).to_vector<int64_t>() == std::vector<int64_t>{0, 0, 1, 1, 0, 0});
  Tensor lin = tg::linear(a, b.t(), tg::tensor({0.5, -0.5}));
  CHECK(lin.to_vector<double>() == std::vector<double>{4.5, 4.5, 10.5, 10.5});
}

TEST_CASE("tensor: misuse throws tg::Error naming the op and the shapes") {
  Tensor a = tg::zeros({3, 4}), b = tg::zeros({5});
  CHECK_THROWS_WITH_AS(a + b, "add: shapes [3,4] and [5] cannot broadcast", tg::Error);
  CHECK_THROWS_WITH_AS(tg::matmul(a, a), doctest::Contains("matmul: shapes [3,4] and [3,4] cannot be multiplied"), tg::Error);
  CHECK_THROWS_WITH_AS(a + tg::zeros({3, 4}, {.dtype = tg::kFloat64}), doctest::Contains("add: dtypes float32 and float64 differ"), tg::Error);
  CHECK_THROWS_WITH_AS(a.reshape({5, -1}), doctest::Contains("reshape: shape [5,-1] is invalid for 12 elements"), tg::Error);
  CHECK_THROWS_WITH_AS(a.select(0, 3), doctest::Contains("select: index 3 is out of range for dim 0 of size 3"), tg::Error);
  CHECK_THROWS_WITH_AS(tg::sum(a, {2}), doctest::Contains("sum: dim 2 is out of range for a tensor of rank 2"), tg::Error);
  CHECK_THROWS_WITH_AS(a.item<float>(), doctest::Contains("item: expected a tensor with one element, got shape [3,4]"), tg::Error);
  CHECK_THROWS_WITH_AS(a.data_ptr<double>(), doctest::Contains("data_ptr: tensor has dtype float32, requested float64"), tg::Error);
  CHECK_THROWS_WITH_AS(tg::index_select(a, 0, tg::tensor(std::vector<int64_t>{7})), doctest::Contains("index 7 is out of range"), tg::Error);
  CHECK_THROWS_WITH_AS(tg::one_hot(tg::tensor(std::vector<int64_t>{4}), 3), doctest::Contains("class 4 at position 0 is out of range"), tg::Error);
  CHECK_THROWS_WITH_AS(tg::zeros({2, -1}), doctest::Contains("negative size -1"), tg::Error);
  CHECK_THROWS_WITH_AS(tg::tensor({1.f, 2.f, 3.f}, {2, 2}), doctest::Contains("3 values do not fill shape [2,2]"), tg::Error);
  CHECK_THROWS_WITH_AS(a.expand({3, 5}), doctest::Contains("expand: shape [3,4] cannot expand to [3,5]"), tg::Error);
  CHECK_THROWS_WITH_AS(tg::cat({a, b}, 0), doctest::Contains("cat: tensor 1 has shape [5]"), tg::Error);
  CHECK_THROWS_WITH_AS(tg::exp(tg::arange(3)), doctest::Contains("exp: expected a floating-point tensor, got int64"), tg::Error);
  CHECK_THROWS_WITH_AS(tg::max(tg::zeros({0})), doctest::Contains("max: cannot reduce an empty tensor (shape [0]) over all elements; reduce over a dim with amax / amin instead"), tg::Error);
  CHECK_THROWS_WITH_AS(tg::set_num_threads(0), doctest::Contains("set_num_threads: expected n >= 1"), tg::Error);
}

TEST_CASE("tensor: printing looks like PyTorch and abbreviates large tensors") {
  CHECK(tg::to_string(tg::tensor({1.f, 2.5f}, {2})) == "tensor([1.0000, 2.5000], shape=[2], dtype=float32)");
  CHECK(tg::to_string(tg::arange(3)) == "tensor([0, 1, 2], shape=[3], dtype=int64)");
  const std::string big = tg::to_string(tg::zeros({2000}));
  CHECK(big.find("...") != std::string::npos);
  CHECK(big.size() < 200);
  CHECK(tg::to_string(tg::eye(2)).find("[[1.0000, 0.0000],\n") != std::string::npos);
}

TEST_CASE("tensor: random numbers depend on the seed only, not on the thread count") {
  tg::Generator g1(42), g2(42), g3(43);
  Tensor a = tg::randn({1000}, g1), b = tg::randn({1000}, g2), c = tg::randn({1000}, g3);
  CHECK(tgtest::bit_equal(a, b));
  CHECK(!tgtest::bit_equal(a, c));
  // statistics: mean ~ 0, var ~ 1
  CHECK(std::abs(tg::mean(a).item<double>()) < 0.1);
  CHECK(std::abs(tg::var(a, {0}).item<double>() - 1.0) < 0.15);
  Tensor u = tg::rand({100000}, g1);
  CHECK(tg::min(u).item<double>() >= 0.0);
  CHECK(tg::max(u).item<double>() < 1.0);
  CHECK(std::abs(tg::mean(u).item<double>() - 0.5) < 0.01);
  const int prev = tg::get_num_threads();
  tg::set_num_threads(1);
  tg::Generator h1(7);
  Tensor r1 = tg::randn({50000}, h1);
  tg::set_num_threads(2);
  tg::Generator h2(7);
  Tensor r2 = tg::randn({50000}, h2);
  tg::set_num_threads(prev);
  CHECK(tgtest::bit_equal(r1, r2));
  tg::Generator p(3);
  auto perm = tg::randperm(10, p).to_vector<int64_t>();
  std::sort(perm.begin(), perm.end());
  CHECK(perm == tg::arange(10).to_vector<int64_t>());
  tg::Generator bg(5);
  CHECK(std::abs(tg::mean(tg::bernoulli({20000}, 0.3, bg)).item<double>() - 0.3) < 0.02);
  tg::manual_seed(11);
  Tensor d1 = tg::rand({4});
  tg::manual_seed(11);
  CHECK(tgtest::bit_equal(d1, tg::rand({4})));
}

TEST_CASE("tensor: results are bit-identical with 1 and 2 threads") {
  tg::Generator g(1);
  Tensor x = tg::randn({300, 1000}, g), w = tg::randn({1000, 257}, g);
  auto run = [&] {
    return std::vector<Tensor>{tg::sum(x), tg::sum(x, {0}), tg::sum(x, {1}), tg::exp(x), x * 2.0 + x,
                               tg::softmax(x, 1), tg::matmul(x, w), tg::amax(x, {0}), tg::mean(x)};
  };
  const int prev = tg::get_num_threads();
  tg::set_num_threads(1);
  auto r1 = run();
  tg::set_num_threads(2);
  auto r2 = run();
  tg::set_num_threads(prev);
  for (size_t i = 0; i < r1.size(); ++i) {
    CAPTURE(i);
    CHECK(tgtest::bit_equal(r1[i], r2[i]));
  }
}
