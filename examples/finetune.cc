// The seed article's second example, done right: load a pretrained model, put
// a new dense head on it, "compile" an Adam optimizer, fit on 1,000 MNIST
// digits, evaluate, print the test accuracy. The head outputs logits and the
// loss is a cross-entropy from logits (not a softmax fed to a loss that
// expects logits, the article's bug).
//   finetune [pretrained.safetensors] [digits folder]
// Without a pretrained file (default runs/demo/pretrain-seed0/model.safetensors) it
// pretrains LeNet-5 on Fashion-MNIST for one epoch first.
#include <cstdio>
#include <iostream>
#include <filesystem>

#include "example_main.h"
#include "tapegrad/tapegrad.h"

namespace nn = tg::nn;

static std::shared_ptr<nn::Sequential> lenet() {
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 1, .out = 6, .kernel = 5, .padding = 2}),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Conv2d>(6, 16, 5),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Linear>(400, 120), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(120, 84),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(84, 10)});
}

static void fit(nn::Module& model, tg::optim::Optimizer& opt, tg::data::DatasetPtr data, int epochs) {
  tg::data::DataLoader loader(data, {.batch_size = 64, .shuffle = true, .seed = 1});
  for (int e = 0; e < epochs; ++e)
    for (const auto& b : loader) {
      tg::Tensor loss = tg::F::cross_entropy(model.forward(b.data), b.target);
      opt.zero_grad();
      loss.backward();
      opt.step();
    }
}

static double accuracy(nn::Module& model, const tg::data::MNIST& test) {
  tg::NoGradGuard g;
  model.eval();
  std::vector<int64_t> all(size_t(test.size()));
  for (int64_t i = 0; i < test.size(); ++i) all[size_t(i)] = i;
  tg::data::Example t = test.get_batch(all);
  return tg::mean(tg::eq(tg::argmax(model.forward(t.data), 1), t.target).to(tg::kFloat64)).item<double>();
}

static int run(const std::vector<std::string>& args) {
  const std::string pretrained = args.size() > 0 ? args[0] : "runs/demo/pretrain-seed0/model.safetensors";
  std::string digits = args.size() > 1 ? args[1] : "data/mnist-digits";
#ifdef TAPEGRAD_SOURCE_DIR  // scripts/get-data's folder when run outside the source tree
  if (args.size() <= 1 && !std::filesystem::is_directory(digits)) digits = TAPEGRAD_SOURCE_DIR "/data/mnist-digits";
#endif
  // The digits first: a missing folder should fail before a pretraining epoch.
  auto train = tg::data::take(std::make_shared<tg::data::MNIST>(digits, tg::data::Split::Train), 1000);
  tg::data::MNIST test(digits, tg::data::Split::Test);
  tg::manual_seed(0);
  auto model = lenet();
  if (std::filesystem::exists(pretrained)) {
    tg::load(*model, pretrained, {.strict = false});
    std::printf("loaded the pretrained backbone from %s\n", pretrained.c_str());
  } else {
    std::printf("%s not found: pretraining on Fashion-MNIST for one epoch first\n", pretrained.c_str());
    tg::optim::Adam opt(model->parameters(), {.lr = 1e-3});
    fit(*model, opt, std::make_shared<tg::data::FashionMNIST>(), 1);
  }
  // The new head: a fresh Linear(84 -> 10) in place of the old classifier.
  model->replace(-1, std::make_shared<nn::Linear>(84, 10));
  // "Compile": Adam over all parameters (full fine-tuning).
  tg::optim::Adam opt(model->parameters(), {.lr = 1e-3});
  model->train();
  fit(*model, opt, train, 10);
  std::printf("test accuracy on %lld digits after fine-tuning on 1,000: %.2f%%\n", (long long)test.size(),
              100 * accuracy(*model, test));
  return 0;
}

int main(int argc, char** argv) {
  return example_main(argc, argv, "finetune", "[pretrained.safetensors] [digits folder]", 2, run);
}
