// conv2d forward/backward time for the LeNet-5 layers at batch 64, 1 and 2
// threads: median of 7 measurements, each repeating the call for >= 30 ms.
//   conv1: 1 -> 6, 5x5, pad 2, on 28x28      conv2: 6 -> 16, 5x5, on 14x14
// Backward is timed as its two halves: dx (input gradient; training skips it
// for conv1, whose input is the image) and dw + db. Usage: bench_conv
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "tensor/conv.h"
#include "tensor/gemm.h"
#include "tensor/parallel.h"

namespace {

template <class F>
double median_ms(F&& f, int runs = 7) {
  using clk = std::chrono::steady_clock;
  f();
  int reps = 1;
  for (;;) {
    auto t0 = clk::now();
    for (int i = 0; i < reps; ++i) f();
    double s = std::chrono::duration<double>(clk::now() - t0).count();
    if (s >= 0.03 || reps >= (1 << 20)) break;
    reps = s <= 0 ? reps * 16 : std::max(reps * 2, int(reps * 0.035 / s) + 1);
  }
  std::vector<double> t;
  for (int r = 0; r < runs; ++r) {
    auto t0 = clk::now();
    for (int i = 0; i < reps; ++i) f();
    t.push_back(std::chrono::duration<double>(clk::now() - t0).count() * 1e3 / reps);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

std::vector<float> rand_vec(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

}  // namespace

int main() {
  std::printf("tapegrad GEMM target: %s\n", tg::gemm_target_name());
  struct Layer {
    const char* name;
    tg::Conv2dGeometry g;
  };
  tg::Conv2dGeometry c1{64, 1, 28, 28, 6, 5, 5};
  c1.pad_h = c1.pad_w = 2;
  tg::Conv2dGeometry c2{64, 6, 14, 14, 16, 5, 5};
  std::printf("%-28s | %8s %8s %8s | %8s %8s %8s\n", "layer (batch 64), ms", "fwd 1t", "dx 1t", "dw+db 1t",
              "fwd 2t", "dx 2t", "dw+db 2t");
  for (const Layer& l : {Layer{"conv1 1->6 5x5 pad2 28x28", c1}, Layer{"conv2 6->16 5x5 14x14", c2}}) {
    const auto& g = l.g;
    const size_t xs = g.N * g.C * g.H * g.W, ws = g.OC * g.C / g.groups * g.KH * g.KW;
    const size_t ys = g.N * g.OC * g.OH() * g.OW();
    auto x = rand_vec(xs, 1), w = rand_vec(ws, 2), b = rand_vec(g.OC, 3), dy = rand_vec(ys, 4);
    std::vector<float> y(ys), dx(xs), dw(ws), db(g.OC);
    double ms[2][3];
    for (int t = 1; t <= 2; ++t) {
      tg::set_num_threads(t);
      ms[t - 1][0] = median_ms([&] { tg::conv2d_forward<float>(g, x.data(), w.data(), b.data(), y.data()); });
      ms[t - 1][1] = median_ms([&] {
        tg::conv2d_backward<float>(g, nullptr, w.data(), dy.data(), dx.data(), nullptr, nullptr);
      });
      ms[t - 1][2] = median_ms([&] {
        tg::conv2d_backward<float>(g, x.data(), nullptr, dy.data(), nullptr, dw.data(), getenv("NODB") ? nullptr : db.data());
      });
    }
    std::printf("%-28s | %8.3f %8.3f %8.3f | %8.3f %8.3f %8.3f\n", l.name, ms[0][0], ms[0][1], ms[0][2],
                ms[1][0], ms[1][1], ms[1][2]);
  }
  return 0;
}
