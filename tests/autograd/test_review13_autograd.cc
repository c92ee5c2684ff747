// Autograd edge cases found by the session-13 review, each against what
// PyTorch 1.13 does or a clear error: threads sharing part of a graph, threads
// sharing parameters (Hogwild), a custom Function's gradient in another
// dtype, and a leaf frozen between forward and backward.
#include <atomic>
#include <thread>

#include "../common/test_util.h"

using tg::Tensor;

TEST_CASE("autograd: two threads backward through a shared intermediate get the right gradient or a clear error") {
  // Per-pass state lived on the shared node: a segfault on 2 cores, wrong
  // gradients and false "input was not used" errors on one.
  Tensor x = tg::tensor({1.0, 2.0, 3.0}).requires_grad_();
  const Tensor h = x * x;  // shared: dh/dx = 2x
  std::atomic<int> wrong{0}, refused{0}, other{0};
  auto worker = [&](double k) {
    for (int it = 0; it < 3000; ++it) {
      try {
        const Tensor y = (h * k).sum();
        const auto g = tg::autograd::grad({y}, {x}, {.retain_graph = true})[0].to_vector<double>();
        if (g != std::vector<double>{2 * k, 4 * k, 6 * k}) ++wrong;
      } catch (const tg::Error& e) {
        if (std::string(e.what()).find("another thread is running a backward pass through this graph") !=
            std::string::npos)
          ++refused;
        else
          ++other;
      }
    }
  };
  std::thread a(worker, 1.0), b(worker, 3.0);
  a.join();
  b.join();
  CHECK(wrong == 0);
  CHECK(other == 0);
  MESSAGE("concurrent passes refused: ", refused.load(), " of 6000");
  // one thread at a time: every pass works, and the graph is free again
  CHECK(tg::autograd::grad({(h * 2.0).sum()}, {x}, {.retain_graph = true})[0].to_vector<double>() ==
        std::vector<double>{4, 8, 12});
}

TEST_CASE("autograd: threads with their own graphs on shared parameters add every gradient into .grad (Hogwild)") {
  for (int round = 0; round < 10; ++round) {
    Tensor w = tg::zeros({64}, {.dtype = tg::kFloat64, .requires_grad = true});
    auto worker = [&] {
      for (int it = 0; it < 500; ++it) (w * 1.0 + 1.0).sum().backward();
    };
    std::thread a(worker), b(worker);
    a.join();
    b.join();
    for (double g : w.grad().to_vector<double>()) CHECK(g == 1000.0);  // some were 500 + a part
  }
}

namespace {
// y = 2x, but the backward hands back a float32 gradient whatever x's dtype
struct TwiceF32Grad : tg::autograd::Function<TwiceF32Grad> {
  static Tensor forward(tg::autograd::FunctionCtx&, const Tensor& x) { return x * 2.0; }
  static std::vector<Tensor> backward(tg::autograd::FunctionCtx&, const Tensor& dy) {
    return {(dy * 2.0).to(tg::kFloat32)};
  }
};
}  // namespace

TEST_CASE("autograd: a custom Function's gradient in another dtype is converted to its input's (as PyTorch)") {
  Tensor x = tg::tensor({1.0, 2.0}).requires_grad_();  // float64
  TwiceF32Grad::apply(x).sum().backward();
  REQUIRE(x.grad().dtype() == tg::kFloat64);  // was a float32 .grad on a float64 leaf
  CHECK(x.grad().to_vector<double>() == std::vector<double>{2.0, 2.0});
  // through another op: was "mul: dtypes float32 and float64 differ"
  Tensor z = tg::tensor({1.0, 2.0}).requires_grad_();
  (tg::exp(TwiceF32Grad::apply(z * 1.0)) * 0.0 + TwiceF32Grad::apply(z)).sum().backward();
  CHECK(z.grad().to_vector<double>() == std::vector<double>{2.0, 2.0});
}

TEST_CASE("autograd: a leaf frozen between forward and backward gets no gradient (as PyTorch)") {
  Tensor a = tg::tensor({1.0, 2.0}).requires_grad_();
  Tensor b = tg::tensor({3.0, 4.0}).requires_grad_();
  const Tensor y = (a * a + b).sum();
  a.requires_grad_(false);
  y.backward();
  CHECK_FALSE(a.grad().defined());  // was [2, 4]
  CHECK(b.grad().to_vector<double>() == std::vector<double>{1.0, 1.0});
}
