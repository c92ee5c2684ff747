// GEMM throughput: tg::sgemm next to OpenBLAS cblas_sgemm (when linked), GFLOP/s
// = 2*M*N*K / median seconds, for 1 and 2 threads, square shapes and the MLP
// shapes of the MNIST examples. Plain timing loops: each measurement repeats
// the call until it has run for >= 30 ms; ours and OpenBLAS are measured in
// alternation and the median of 7 measurements each is printed. The machine
// may be shared with other jobs: the cpu-* columns give 1-thread GFLOP per
// CPU-second of the calling thread, which time-slicing does not distort (the
// load average is printed at the start and end). Thread counts are pinned with tg::set_num_threads and
// openblas_set_num_threads. It also prints one core's FP32 FMA peak as measured at
// start (the clock moves with the VM) and each float32 1-thread result as a
// share of it. Usage: bench_gemm [--quick] [--double]
#include <algorithm>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <utility>
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

#if defined(__x86_64__)
// One core's FP32 FMA peak as this machine runs it now: 12 independent chains
// of 512-bit FMAs (more than latency x throughput = 4 x 2 needs), in
// registers, for ~0.3 s. The GEMM's share of peak is against this figure
// (the clock, and so the peak, moves with the VM's phase).
__attribute__((target("avx512f"))) double fma_peak_gflops() {
// Twelve distinct chains: with starts 1 + i * 1e-7f, i = 3 and 4 (and 9 and 10)
// rounded to the same float, the compiler merged those chains, the loop ran
// 10 FMAs per step while 12 were counted, and the peak read 20% high (~268
// instead of ~223 GFLOP/s; sessions 9-15 compared the GEMM against that).
// The empty asm hides the starts, so no two chains can be merged.
#define TG_R(i)                                             \
  __m512 a##i = _mm512_set1_ps(1.0f + float(i) * 0.01f); \
  asm volatile("" : "+v"(a##i));
#define TG_F(i) a##i = _mm512_fmadd_ps(a##i, m, c);
#define TG_S(i) sum += _mm512_reduce_add_ps(a##i);
  TG_R(0) TG_R(1) TG_R(2) TG_R(3) TG_R(4) TG_R(5) TG_R(6) TG_R(7) TG_R(8) TG_R(9) TG_R(10) TG_R(11)
  const __m512 m = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
  const long n = 100000000;
  const auto t0 = std::chrono::steady_clock::now();
  for (long k = 0; k < n; ++k) {
    TG_F(0) TG_F(1) TG_F(2) TG_F(3) TG_F(4) TG_F(5) TG_F(6) TG_F(7) TG_F(8) TG_F(9) TG_F(10) TG_F(11)
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  float sum = 0;
  TG_S(0) TG_S(1) TG_S(2) TG_S(3) TG_S(4) TG_S(5) TG_S(6) TG_S(7) TG_S(8) TG_S(9) TG_S(10) TG_S(11)
#undef TG_R
#undef TG_F
#undef TG_S
  volatile float keep = sum;
  (void)keep;
  return double(n) * 12 * 32 / s / 1e9;
}
#endif

struct Shape {
  int64_t M, N, K;
  bool ta, tb;
  const char* note;
};

// OpenBLAS worker threads busy-wait for a while after each call (and TBB's
// briefly): let the other library's threads fall asleep before timing, so
// neither measures the other's spinning.
void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(150)); }

struct Timing {
  double wall;  // median seconds per call
  double cpu;   // median CPU seconds of the calling thread per call
};

// Repeats for one measurement so it lasts >= 30 ms.
template <class F>
int calibrate(F& f) {
  using clk = std::chrono::steady_clock;
  f();  // warm-up (workspaces, caches, thread pool)
  int reps = 1;
  for (;;) {
    auto t0 = clk::now();
    for (int i = 0; i < reps; ++i) f();
    double s = std::chrono::duration<double>(clk::now() - t0).count();
    if (s >= 0.03 || reps >= (1 << 20)) return reps;
    reps = s <= 0 ? reps * 16 : std::max(reps * 2, int(reps * 0.035 / s) + 1);
  }
}

double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// Times f and g in alternation (f, g, f, g, ...), so that load from other
// processes on a shared machine hits both alike; median of `runs` each.
template <class F, class G>
std::pair<Timing, Timing> median_pair(F&& f, G&& g, bool settle_between, int runs = 7) {
  using clk = std::chrono::steady_clock;
  const int rf = calibrate(f), rg = calibrate(g);
  std::vector<double> w[2], c[2];
  for (int r = 0; r < runs; ++r) {
    for (int which = 0; which < 2; ++which) {
      if (settle_between) settle();
      const int reps = which == 0 ? rf : rg;
      const double c0 = thread_cpu_seconds();
      auto t0 = clk::now();
      for (int i = 0; i < reps; ++i) which == 0 ? f() : g();
      w[which].push_back(std::chrono::duration<double>(clk::now() - t0).count() / reps);
      c[which].push_back((thread_cpu_seconds() - c0) / reps);
    }
  }
  auto med = [](std::vector<double>& v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  return {Timing{med(w[0]), med(c[0])}, Timing{med(w[1]), med(c[1])}};
}


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

// One core's FP32 FMA peak measured at start (0 when not measured); the
// float32 table's last columns give each 1-thread result as a share of it.
double g_peak = 0;

template <class T>
void run(const std::vector<Shape>& shapes) {
  const double peak = sizeof(T) == 4 ? g_peak : 0;
  std::printf("%-22s %-5s | %7s %7s %6s | %7s %7s %6s | %7s %7s | %5s %5s\n", "M x K . K x N", "op",
              "ours 1t", "blas 1t", "ratio", "ours 2t", "blas 2t", "ratio", "cpu-ours", "cpu-blas", "%pk", "%pk");
  for (const Shape& s : shapes) {
    std::vector<T> A(s.M * s.K), B(s.K * s.N), C(s.M * s.N);
    fill(A, 1);
    fill(B, 2);
    const double gf = 2.0 * s.M * s.N * s.K * 1e-9;
    double g[2][2] = {{0, 0}, {0, 0}}, cpu[2] = {0, 0};
    for (int t = 1; t <= 2; ++t) {
      tg::set_num_threads(t);
      auto ours = [&] { gemm_ours<T>(s, A.data(), B.data(), C.data()); };
#ifdef TG_HAVE_BLAS
      openblas_set_num_threads(t);
      auto blas = [&] { gemm_blas<T>(s, A.data(), B.data(), C.data()); };
#else
      auto blas = ours;
#endif
      settle();
      const auto [to, tb] = median_pair(ours, blas, /*settle_between=*/t > 1);
      g[t - 1][0] = gf / to.wall;
      g[t - 1][1] = gf / tb.wall;
      if (t == 1) cpu[0] = gf / to.cpu, cpu[1] = gf / tb.cpu;
    }
    char name[64];
    std::snprintf(name, sizeof name, "%lldx%lld.%lldx%lld", (long long)s.M, (long long)s.K,
                  (long long)s.K, (long long)s.N);
    std::string op = std::string(s.ta ? "At" : "A") + "." + (s.tb ? "Bt" : "B");
    char share[32] = "    -     -";
    if (peak > 0) std::snprintf(share, sizeof share, "%4.0f%% %4.0f%%", 100 * g[0][0] / peak, 100 * g[0][1] / peak);
    std::printf("%-22s %-5s | %7.1f %7.1f %5.2fx | %7.1f %7.1f %5.2fx | %7.1f %7.1f | %s  %s\n", name,
                op.c_str(), g[0][0], g[0][1], g[0][0] / g[0][1], g[1][0], g[1][1],
                g[1][0] / g[1][1], cpu[0], cpu[1], share, s.note);
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
  auto loadavg = [] {
    std::ifstream f("/proc/loadavg");
    std::string a;
    std::getline(f, a);
    return a;
  };
  std::printf("load average: %s\n", loadavg().c_str());
  std::printf("tapegrad GEMM target: %s\n", tg::gemm_target_name());
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f"))
  {
    g_peak = fma_peak_gflops();
    std::printf("FP32 FMA peak, one core, now (12 chains of 512-bit FMAs): %.1f GFLOP/s\n", g_peak);
  }
#endif
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
  std::printf("\nfloat32 GFLOP/s (median of 7, wall clock; cpu-* = 1 thread, per CPU-second; %%pk = ours / "
              "OpenBLAS at 1 thread as a share of the FMA peak above)\n");
  run<float>(shapes);
  if (dbl) {
    std::printf("\nfloat64 GFLOP/s (median of 7, wall clock; cpu-* = 1 thread, per CPU-second)\n");
    run<double>(shapes);
  }
  std::printf("load average: %s\n", loadavg().c_str());
  return 0;
}
