// A multilayer perceptron on Fashion-MNIST (or any MNIST-layout folder given as
// the first argument): 784-256-128-10, ReLU, cross-entropy from logits,
// Adam 1e-3, batch 64, two epochs. Prints loss and test accuracy per epoch.
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
  nn::Sequential model({std::make_shared<nn::Flatten>(),                      // [B,1,28,28] -> [B,784]
                        std::make_shared<nn::Linear>(784, 256), std::make_shared<nn::ReLU>(),
                        std::make_shared<nn::Linear>(256, 128), std::make_shared<nn::ReLU>(),
                        std::make_shared<nn::Linear>(128, 10)});                // -> [B,10] logits
  std::cout << model << "\n";
  tg::optim::Adam opt(model.parameters(), {.lr = 1e-3});
  tg::data::DataLoader loader(train, {.batch_size = 64, .shuffle = true, .seed = 0});

  for (int epoch = 0; epoch < 2; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    double loss_sum = 0;
    int64_t steps = 0;
    for (const auto& batch : loader) {
      tg::Tensor loss = tg::F::cross_entropy(model.forward(batch.data), batch.target);
      opt.zero_grad();
      loss.backward();
      opt.step();
      loss_sum += loss.item<double>();
      ++steps;
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    tg::NoGradGuard no_grad;
    std::vector<int64_t> all(size_t(test.size()));
    for (int64_t i = 0; i < test.size(); ++i) all[size_t(i)] = i;
    tg::data::Example t = test.get_batch(all);
    const double acc = tg::mean(tg::eq(tg::argmax(model.forward(t.data), 1), t.target).to(tg::kFloat64)).item<double>();
    std::printf("epoch %d: train loss %.4f, test accuracy %.2f%%, %.2f s\n", epoch + 1, loss_sum / double(steps),
                100 * acc, secs);
  }
  return 0;
}

int main(int argc, char** argv) {
  return example_main(argc, argv, "mnist_mlp", "[MNIST-layout folder (default: Fashion-MNIST, /usr/share/datasets/fashion-mnist)]", 1,
                      run);
}
