// Gradient descent, from one parameter to a small regression.
//
// Part 1: θ starts at a random (seeded) value; the loss (θ − 2)² is
// minimised by plain gradient descent, θ ← θ − lr·dL/dθ with lr = 0.01, for
// 1000 steps, printing a few of them: θ approaches 2.
//
// Part 2: fits y = w·x + b to 256 synthetic points y = 3x − 1 + noise with the
// mean squared error, comparing, for the same number of passes (epochs) over
// the data:
//   batch gradient descent      one step per epoch on all 256 points
//   stochastic gradient descent one step per point (batch 1, shuffled)
//   mini-batch gradient descent one step per 32 points
//   Adam                        mini-batches of 32
// The first three are the same tg::optim::SGD: only the batch fed to the loss
// changes. See docs/optim.md.
#include <cstdio>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "example_main.h"
#include "optim/adam.h"
#include "optim/sgd.h"
#include "tensor/random.h"

using tg::Tensor;

namespace {

void part1() {
  std::printf("== Part 1: minimise (theta - 2)^2 with gradient descent, lr = 0.01 ==\n");
  tg::Generator gen(2024);
  Tensor theta = tg::uniform({1}, -10.0, 10.0, gen, {.dtype = tg::kFloat64});
  theta.requires_grad_(true);
  tg::optim::SGD opt({theta}, {.lr = 0.01});
  for (int step = 0; step <= 1000; ++step) {
    Tensor loss = tg::square(theta - 2.0).sum();
    if (step == 0 || step == 1 || step == 10 || step == 100 || step == 250 || step == 500 || step == 1000)
      std::printf("step %4d  theta = %9.6f  loss = %.3e\n", step, theta.item<double>(), loss.item_double());
    if (step == 1000) break;
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  std::printf("(the exact minimiser is theta = 2)\n\n");
}

struct Data {
  Tensor x, y;  // [N, 1] float32
};

Data make_data(int64_t n, tg::Generator& gen) {
  Tensor x = tg::uniform({n, 1}, -1.0, 1.0, gen);
  Tensor noise = tg::normal({n, 1}, 0.0, 0.1, gen);
  return {x, x * 3.0 - 1.0 + noise};
}

Tensor mse(const Tensor& w, const Tensor& b, const Tensor& x, const Tensor& y) {
  return tg::mean(tg::square(x * w + b - y));
}

// Trains w, b (from the same start) for `epochs` passes with batches of
// `batch`, shuffled each epoch; prints the full-data loss after some epochs.
template <class Opt, class Options>
void fit(const char* label, const Data& d, int64_t batch, Options options, int epochs) {
  tg::Generator gen(7);  // same start and same shuffles for every method
  Tensor w = tg::zeros({1});
  Tensor b = tg::zeros({1});
  w.requires_grad_(true);
  b.requires_grad_(true);
  Opt opt({w, b}, options);
  const int64_t n = d.x.size(0);
  int64_t updates = 0;
  std::printf("%-28s", label);
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    const Tensor perm = tg::randperm(n, gen);
    for (int64_t start = 0; start < n; start += batch) {
      const Tensor idx = perm.narrow(0, start, std::min(batch, n - start));
      const Tensor xb = tg::index_select(d.x, 0, idx), yb = tg::index_select(d.y, 0, idx);
      opt.zero_grad();
      mse(w, b, xb, yb).backward();
      opt.step();
      ++updates;
    }
    if (epoch == 1 || epoch == 5 || epoch == epochs) {
      const double loss = mse(w, b, d.x, d.y).item_double();
      std::printf("  ep%-2d %.5f", epoch, loss);
    }
  }
  std::printf("  | w = %.4f  b = %.4f  (%lld updates)\n", w.item<float>(), b.item<float>(), (long long)updates);
}

void part2() {
  std::printf("== Part 2: linear regression y = 3x - 1 + noise, 256 points, 20 epochs each ==\n");
  tg::Generator gen(1);
  const Data d = make_data(256, gen);
  const int epochs = 20;
  std::printf("%-28s  full-data MSE after epoch 1, 5, %d\n", "method", epochs);
  fit<tg::optim::SGD>("batch GD (batch 256)", d, 256, tg::optim::SGDOptions{.lr = 0.1}, epochs);
  fit<tg::optim::SGD>("SGD (batch 1)", d, 1, tg::optim::SGDOptions{.lr = 0.1}, epochs);
  fit<tg::optim::SGD>("mini-batch GD (batch 32)", d, 32, tg::optim::SGDOptions{.lr = 0.1}, epochs);
  fit<tg::optim::Adam>("Adam (batch 32)", d, 32, tg::optim::AdamOptions{.lr = 0.1}, epochs);
  std::printf("(noise variance 0.01 is the best reachable MSE)\n");
}

}  // namespace

int main(int argc, char** argv) {
  return example_main(argc, argv, "gradient_descent", "(no arguments)", 0, [](const std::vector<std::string>&) {
    part1();
    part2();
    return 0;
  });
}
