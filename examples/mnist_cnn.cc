// LeNet-5 on Fashion-MNIST (or an MNIST-layout folder given as the first
// argument): conv 1->6 5x5 pad 2, ReLU, max-pool 2, conv 6->16 5x5, ReLU,
// max-pool 2, 400-120-84-10; Adam 1e-3, batch 64, one epoch.
#include <chrono>
#include <cstdio>
#include <iostream>

#include "example_main.h"
#include "tapegrad/tapegrad.h"

namespace nn = tg::nn;

static int run(const std::vector<std::string>& args) {
  const std::string root = args.empty() ? tg::data::FashionMNIST::kSystemRoot : args[0];
  auto train = std::make_shared<tg::data::MNIST>(root, tg::data::Split::Train);
  tg::data::MNIST test(root, tg::data::Split::Test);

  tg::manual_seed(0);
  nn::Sequential model({
      // x: [B, 1, 28, 28]
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 1, .out = 6, .kernel = 5, .padding = 2}),  // [B,6,28,28]
      std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),                             // [B,6,14,14]
      std::make_shared<nn::Conv2d>(6, 16, 5), std::make_shared<nn::ReLU>(),                         // [B,16,10,10]
      std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Flatten>(),                          // [B,400]
      std::make_shared<nn::Linear>(400, 120), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(120, 84), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(84, 10)});                                                        // [B,10]
  std::cout << model << "\n";
  tg::optim::Adam opt(model.parameters(), {.lr = 1e-3});
  tg::data::DataLoader loader(train, {.batch_size = 64, .shuffle = true, .seed = 0});

  const auto t0 = std::chrono::steady_clock::now();
  double loss_sum = 0;
  int64_t steps = 0;
  for (const auto& batch : loader) {
    tg::Tensor loss = tg::F::cross_entropy(model.forward(batch.data), batch.target);
    opt.zero_grad();
    loss.backward();
    opt.step();
    loss_sum += loss.item<double>();
    if (++steps % 200 == 0) std::printf("step %lld: mean loss %.4f\n", (long long)steps, loss_sum / double(steps));
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  tg::NoGradGuard no_grad;
  model.eval();
  std::vector<int64_t> all(size_t(test.size()));
  for (int64_t i = 0; i < test.size(); ++i) all[size_t(i)] = i;
  tg::data::Example t = test.get_batch(all);
  const double acc = tg::mean(tg::eq(tg::argmax(model.forward(t.data), 1), t.target).to(tg::kFloat64)).item<double>();
  std::printf("one epoch: train loss %.4f, test accuracy %.2f%%, %.2f s\n", loss_sum / double(steps), 100 * acc, secs);
  return 0;
}

int main(int argc, char** argv) {
  return example_main(argc, argv, "mnist_cnn", "[MNIST-layout folder (default: Fashion-MNIST, /usr/share/datasets/fashion-mnist)]", 1,
                      run);
}
