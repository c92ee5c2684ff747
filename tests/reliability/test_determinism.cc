// Determinism: the same seed gives bit-identical weights after 200 training
// steps with 1 and with 2 threads, and across two runs in the same process
// (an MLP and a small LeNet on fixture data, through the nn/optim/data APIs).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "../data/fixtures.h"
#include "tapegrad/tapegrad.h"

namespace {

namespace nn = tg::nn;

std::shared_ptr<nn::Sequential> make_net(bool lenet, tg::Generator& g) {
  auto s = std::make_shared<nn::Sequential>();
  if (lenet) {
    s->push_back(std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 1, .out = 4, .kernel = 5, .padding = 2}, g));
    s->push_back(std::make_shared<nn::ReLU>());
    s->push_back(std::make_shared<nn::MaxPool2d>(2));
    s->push_back(std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 4, .out = 8, .kernel = 5}, g));
    s->push_back(std::make_shared<nn::ReLU>());
    s->push_back(std::make_shared<nn::MaxPool2d>(2));
    s->push_back(std::make_shared<nn::Flatten>());
    s->push_back(std::make_shared<nn::Linear>(nn::LinearOptions{.in = 200, .out = 32}, g));
    s->push_back(std::make_shared<nn::ReLU>());
    s->push_back(std::make_shared<nn::Linear>(nn::LinearOptions{.in = 32, .out = 10}, g));
  } else {
    s->push_back(std::make_shared<nn::Linear>(nn::LinearOptions{.in = 784, .out = 256}, g));
    s->push_back(std::make_shared<nn::ReLU>());
    s->push_back(std::make_shared<nn::Linear>(nn::LinearOptions{.in = 256, .out = 128}, g));
    s->push_back(std::make_shared<nn::ReLU>());
    s->push_back(std::make_shared<nn::Linear>(nn::LinearOptions{.in = 128, .out = 10}, g));
  }
  return s;
}

// 200 steps of Adam on shuffled batches; returns the weights' bytes by name.
std::map<std::string, std::vector<uint8_t>> train(const std::string& root, bool lenet, int threads) {
  const int prev = tg::get_num_threads();
  tg::set_num_threads(threads);
  tg::Generator gen(42);
  auto model = make_net(lenet, gen);
  tg::optim::Adam opt(model->parameters(), {.lr = 1e-3});
  auto ds = std::make_shared<tg::data::MNIST>(root, tg::data::Split::Train);
  tg::data::DataLoader loader(ds, {.batch_size = lenet ? 16 : 32, .shuffle = true, .seed = 7, .prefetch = true});
  int64_t epoch = 0;
  loader.set_epoch(epoch);
  for (int step = 0, b = 0; step < 200; ++step, ++b) {
    if (b == loader.batches_per_epoch()) loader.set_epoch(++epoch), b = 0;
    tg::data::Example batch = loader.next();
    tg::Tensor x = lenet ? batch.data : batch.data.reshape({batch.data.size(0), 784});
    tg::Tensor loss = tg::F::cross_entropy(model->forward(x), batch.target);
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  std::map<std::string, std::vector<uint8_t>> out;
  for (const auto& [k, p] : model->named_parameters()) {
    const tg::Tensor c = p.detach().contiguous();
    const auto* d = static_cast<const uint8_t*>(c.raw_data());
    out[k].assign(d, d + size_t(c.numel()) * tg::dtype_size(c.dtype()));
  }
  tg::set_num_threads(prev);
  return out;
}

void check_same(const std::map<std::string, std::vector<uint8_t>>& a,
                const std::map<std::string, std::vector<uint8_t>>& b, const char* what) {
  CAPTURE(what);
  REQUIRE(a.size() == b.size());
  for (const auto& [k, v] : a) {
    CAPTURE(k);
    REQUIRE(b.count(k));
    CHECK(v == b.at(k));
  }
}

}  // namespace

TEST_CASE("reliability: 200 training steps are bit-identical for 1 and 2 threads and across runs") {
  tg_test::TempDir dir;
  tg_test::write_mnist_fixture(dir.path.string(), "train", 300);
  tg_test::write_mnist_fixture(dir.path.string(), "t10k", 10);
  for (bool lenet : {false, true}) {
    CAPTURE(lenet);
    const auto one = train(dir.path.string(), lenet, 1);
    const auto two = train(dir.path.string(), lenet, 2);
    const auto again = train(dir.path.string(), lenet, 2);
    check_same(one, two, "1 vs 2 threads");
    check_same(two, again, "run 1 vs run 2");
    // The weights moved (the comparison is not of untouched initial values).
    tg::Generator gen(42);
    auto fresh = make_net(lenet, gen);
    bool moved = false;
    for (const auto& [k, p] : fresh->named_parameters()) {
      const tg::Tensor c = p.detach().contiguous();
      const auto* d = static_cast<const uint8_t*>(c.raw_data());
      if (!std::equal(d, d + one.at(k).size(), one.at(k).begin())) moved = true;
    }
    CHECK(moved);
  }
}
