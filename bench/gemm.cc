// GEMM throughput: tg::sgemm next to OpenBLAS cblas_sgemm (when linked), GFLOP/s
// = 2*M*N*K / median seconds, for 1 and 2 threads, square shapes and the MLP
// shapes of the MNIST examples. Plain timing loops: each measurement repeats
// the call until it has run for >= 30 ms, and the median of 7 measurements is
// printed. The machine may be shared: run it twice and look at both. Thread counts are pinned with tg::set_num_threads and
// openblas_set_num_threads. Usage: bench_gemm [--quick] [--double]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tensor/gemm.h"
#include "tensor/parallel.h"

#ifdef TG_HAVE_BLAS
#include <cblas.h>
#endif

namespace {

struct Shape {
  int64_t M, N, K;
  bool ta, tb;
  const char* note;
};

template <class F>
double median_seconds(F&& f, int runs = 7) {
  using clk = std::chrono::steady_clock;
  f();  // warm-up (workspaces, caches, thread pool)
  // calibrate repeats so one measurement lasts >= 30 ms
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
    t.push_back(std::chrono::duration<double>(clk::now() - t0).count() / reps);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// OpenBLAS worker threads busy-wait for a while after each call (and TBB's
// briefly): let the other library's threads fall asleep before timing, so
// neither measures the other's spinning.
void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(300)); }

template <class T>
void fill(std::vector<T>& v, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  for (auto& x : v) x = T(u(rng));
}

template <class T>
void gemm_ours(const Shape& s, const T* A, const T* B, T* C) {
  const int64_t lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N;
  if constexpr (sizeof(T) == 4)
    tg::sgemm(s.ta, s.tb, s.M, s.N, s.K, 1.0f, A, lda, B, ldb, 0.0f, C, s.N);
  else
    tg::dgemm(s.ta, s.tb, s.M, s.N, s.K, 1.0, A, lda, B, ldb, 0.0, C, s.N);
}

#ifdef TG_HAVE_BLAS
template <class T>
void gemm_blas(const Shape& s, const T* A, const T* B, T* C) {
  const int lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N;
  const auto ta = s.ta ? CblasTrans : CblasNoTrans, tb = s.tb ? CblasTrans : CblasNoTrans;
  if constexpr (sizeof(T) == 4)
    cblas_sgemm(CblasRowMajor, ta, tb, s.M, s.N, s.K, 1.0f, A, lda, B, ldb, 0.0f, C, s.N);
  else
    cblas_dgemm(CblasRowMajor, ta, tb, s.M, s.N, s.K, 1.0, A, lda, B, ldb, 0.0, C, s.N);
}
#endif

template <class T>
void run(const std::vector<Shape>& shapes) {
  std::printf("%-28s %-9s | %8s %8s %6s | %8s %8s %6s\n", "shape (M x K . K x N)", "op",
              "ours 1t", "blas 1t", "ratio", "ours 2t", "blas 2t", "ratio");
  for (const Shape& s : shapes) {
    std::vector<T> A(s.M * s.K), B(s.K * s.N), C(s.M * s.N);
    fill(A, 1);
    fill(B, 2);
    const double flops = 2.0 * s.M * s.N * s.K;
    double g[2][2] = {{0, 0}, {0, 0}};
    for (int t = 1; t <= 2; ++t) {
      tg::set_num_threads(t);
      settle();
      g[t - 1][0] = flops / median_seconds([&] { gemm_ours<T>(s, A.data(), B.data(), C.data()); }) * 1e-9;
#ifdef TG_HAVE_BLAS
      openblas_set_num_threads(t);
      settle();
      g[t - 1][1] = flops / median_seconds([&] { gemm_blas<T>(s, A.data(), B.data(), C.data()); }) * 1e-9;
#endif
    }
    char name[64];
    std::snprintf(name, sizeof name, "%lldx%lld . %lldx%lld", (long long)s.M, (long long)s.K,
                  (long long)s.K, (long long)s.N);
    std::string op = std::string(s.ta ? "At" : "A") + "." + (s.tb ? "Bt" : "B");
    std::printf("%-28s %-9s | %8.1f %8.1f %5.2fx | %8.1f %8.1f %5.2fx  %s\n", name, op.c_str(),
                g[0][0], g[0][1], g[0][1] > 0 ? g[0][0] / g[0][1] : 0.0, g[1][0], g[1][1],
                g[1][1] > 0 ? g[1][0] / g[1][1] : 0.0, s.note);
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, dbl = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    if (!std::strcmp(argv[i], "--double")) dbl = true;
  }
  std::printf("tapegrad GEMM target: %s\n", tg::gemm_target_name());
#ifdef TG_HAVE_BLAS
  std::printf("OpenBLAS core: %s (OPENBLAS_CORETYPE=%s)\n", openblas_get_corename(),
              std::getenv("OPENBLAS_CORETYPE") ? std::getenv("OPENBLAS_CORETYPE") : "<unset>");
#else
  std::printf("OpenBLAS: not linked\n");
#endif
  std::vector<Shape> shapes = {
      {256, 256, 256, false, false, ""},
      {512, 512, 512, false, false, ""},
      {1024, 1024, 1024, false, false, ""},
      {2048, 2048, 2048, false, false, ""},
      {128, 256, 784, false, false, "MLP fc1 fwd"},
      {784, 256, 128, true, false, "MLP dW1 = Xt.dY"},
      {128, 784, 256, false, false, "MLP"},
      {64, 256, 784, false, false, "MLP b64"},
      {64, 128, 256, false, false, "MLP b64"},
      {64, 10, 128, false, false, "MLP b64 head"},
      {128, 784, 256, false, true, "MLP dX = dY.Wt"},
      {1024, 1024, 1024, true, true, ""},
  };
  if (quick) shapes.resize(4);
  std::printf("\nfloat32 GFLOP/s (median of 7)\n");
  run<float>(shapes);
  if (dbl) {
    std::printf("\nfloat64 GFLOP/s (median of 7)\n");
    run<double>(shapes);
  }
  return 0;
}
