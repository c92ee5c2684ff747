// A tour of reverse-mode autodiff in tapegrad, micrograd-style first.
//
// Part 1 works with scalars (0-d tensors): a small expression, its tape, and
// its gradients, each checked against a derivative worked out by hand in the
// comments. Part 2 runs a 2-layer network on a tiny batch, prints the tape,
// and checks one weight's gradient against a finite difference.
#include <cmath>
#include <cstdio>
#include <iostream>

#include "example_main.h"
#include "tapegrad/tapegrad.h"

static int run(const std::vector<std::string>&) {
  // ---------------------------------------------------------------- part 1: scalars
  // f(a, b) = tanh(a * b + a)   at a = 2, b = -0.75
  //   u = a*b + a = -1.5 + 2 = 0.5,   f = tanh(0.5) = 0.46211715726
  //   df/du = 1 - tanh²(u) = 0.78644773296
  //   df/da = df/du * (b + 1) = 0.78644773296 * 0.25 = 0.19661193324
  //   df/db = df/du * a       = 0.78644773296 * 2    = 1.57289546593
  tg::Tensor a = tg::scalar_tensor(2.0, tg::kFloat64).requires_grad_();
  tg::Tensor b = tg::scalar_tensor(-0.75, tg::kFloat64).requires_grad_();
  tg::Tensor f = tg::tanh(a * b + a);
  std::cout << "f = " << f.item<double>() << "\n" << tg::autograd::tape(f);
  f.backward();
  std::printf("df/da = %.11f (by hand 0.19661193324)\n", a.grad().item<double>());
  std::printf("df/db = %.11f (by hand 1.57289546593)\n\n", b.grad().item<double>());

  // ---------------------------------------------------------------- part 2: a tiny network
  // x: [4, 3] -> Linear(3, 5) -> ReLU -> Linear(5, 2) -> cross-entropy-like loss
  tg::Generator gen(0);
  tg::Tensor x = tg::randn({4, 3}, gen, {.dtype = tg::kFloat64});
  tg::Tensor w1 = (tg::randn({5, 3}, gen, {.dtype = tg::kFloat64}) * 0.5).requires_grad_();
  tg::Tensor b1 = tg::zeros({5}, {.dtype = tg::kFloat64, .requires_grad = true});
  tg::Tensor w2 = (tg::randn({2, 5}, gen, {.dtype = tg::kFloat64}) * 0.5).requires_grad_();
  tg::Tensor target = tg::tensor({1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0}, {4, 2});
  auto loss_fn = [&]() {
    tg::Tensor h = tg::relu(tg::linear(x, w1, b1));         // [4, 5]
    tg::Tensor logp = tg::log_softmax(tg::linear(h, w2), 1);  // [4, 2]
    return -tg::mean(tg::sum(logp * target, {1}));            // scalar
  };
  tg::Tensor loss = loss_fn();
  std::cout << "loss = " << loss.item<double>() << "\n" << tg::autograd::tape(loss);
  loss.backward();

  // Finite-difference check of dloss/dw1[0][1].
  const double eps = 1e-6;
  double* p = w1.raw_ptr<double>() + 1;
  const double orig = *p;
  double lp, lm;
  {
    tg::NoGradGuard g;
    *p = orig + eps;
    lp = loss_fn().item<double>();
    *p = orig - eps;
    lm = loss_fn().item<double>();
    *p = orig;
  }
  const double numeric = (lp - lm) / (2 * eps), analytic = w1.grad().at<double>({0, 1});
  std::printf("dloss/dw1[0][1]: backward %.10f, finite difference %.10f, |diff| %.2e\n", analytic, numeric,
              std::abs(analytic - numeric));
  std::cout << "\nGraphviz of the graph (paste into dot -Tsvg):\n" << tg::autograd::to_dot(loss_fn());
  return std::abs(analytic - numeric) < 1e-7 ? 0 : 1;
}

int main(int argc, char** argv) { return example_main(argc, argv, "autodiff_tour", "(no arguments)", 0, run); }
