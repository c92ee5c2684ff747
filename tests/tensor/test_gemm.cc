// tg::sgemm / tg::dgemm against their plain triple-loop twins (sgemm_ref /
// dgemm_ref) on every compiled Highway target: random shapes 0..300, all four
// transpose variants, padded leading dimensions, misaligned base pointers,
// alpha/beta, the bias+ReLU epilogue, batched products with broadcast (stride
// 0) operands, and bit identity between 1 and 2 threads.
//
// Tolerance: each element of C must be within 2*(K+3)*eps of the reference,
// relative to the same product computed on absolute values
// (|alpha| |A|·|B| + |beta| |C| + |bias|), the classical bound for a sum of K
// products. Not a loose relative tolerance: a wrong element, a missed tail or a
// skipped KC block is off by O(1) of that bound.
#include <doctest/doctest.h>
#include <hwy/targets.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "tensor/gemm.h"
#include "tensor/parallel.h"
#include "tests/common/test_util.h"

namespace {

template <class T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc, tg::GemmEpilogue ep = {}) {
  if constexpr (sizeof(T) == 4)
    tg::sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep);
  else
    tg::dgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep);
}
template <class T>
void gemm_ref(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
              int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc,
              tg::GemmEpilogue ep = {}) {
  if constexpr (sizeof(T) == 4)
    tg::sgemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep);
  else
    tg::dgemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep);
}

struct Case {
  bool ta = false, tb = false;
  int64_t M = 0, N = 0, K = 0;
  int64_t pad_a = 0, pad_b = 0, pad_c = 0;  // extra leading-dimension elements
  int64_t off = 0;                          // misalignment of every base pointer
  double alpha = 1, beta = 0;
  bool bias = false, relu = false;
};

template <class T>
std::vector<T> random_vec(std::mt19937& rng, size_t n) {
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<T> v(n);
  for (auto& x : v) x = T(u(rng));
  return v;
}

// Runs one case with tg::?gemm and the reference; returns the number of bad
// elements (and reports the first).
template <class T>
int check_case(const Case& c, std::mt19937& rng) {
  const int64_t lda = (c.ta ? c.M : c.K) + c.pad_a, ldb = (c.tb ? c.K : c.N) + c.pad_b;
  const int64_t ldc = c.N + c.pad_c;
  const int64_t rows_a = c.ta ? c.K : c.M, rows_b = c.tb ? c.N : c.K;
  std::vector<T> A = random_vec<T>(rng, c.off + rows_a * lda + 1);
  std::vector<T> B = random_vec<T>(rng, c.off + rows_b * ldb + 1);
  std::vector<T> C0 = random_vec<T>(rng, c.off + c.M * ldc + 1);
  std::vector<T> bias = random_vec<T>(rng, c.off + c.N + 1);
  const T alpha = T(c.alpha), beta = T(c.beta);
  tg::GemmEpilogue ep{c.bias ? bias.data() + c.off : nullptr, c.relu};

  std::vector<T> C = C0, R = C0;
  if (beta == T(0))  // C is write-only: poison it
    for (int64_t i = 0; i < c.M * ldc; ++i) C[c.off + i] = std::numeric_limits<T>::quiet_NaN();
  gemm<T>(c.ta, c.tb, c.M, c.N, c.K, alpha, A.data() + c.off, lda, B.data() + c.off, ldb, beta,
          C.data() + c.off, ldc, ep);
  gemm_ref<T>(c.ta, c.tb, c.M, c.N, c.K, alpha, A.data() + c.off, lda, B.data() + c.off, ldb,
              beta, R.data() + c.off, ldc, ep);

  // Error bound: the same product on absolute values.
  std::vector<T> aA(A), aB(B), aC(C0), abias(bias);
  for (auto* v : {&aA, &aB, &aC, &abias})
    for (auto& x : *v) x = std::abs(x);
  tg::GemmEpilogue aep{c.bias ? abias.data() + c.off : nullptr, false};
  gemm_ref<T>(c.ta, c.tb, c.M, c.N, c.K, std::abs(alpha), aA.data() + c.off, lda,
              aB.data() + c.off, ldb, std::abs(beta), aC.data() + c.off, ldc, aep);

  const double eps = std::numeric_limits<T>::epsilon();
  int bad = 0;
  for (int64_t i = 0; i < int64_t(C.size()); ++i) {
    const int64_t j = i - c.off;
    const bool inside = j >= 0 && j < c.M * ldc && (j % ldc) < c.N;
    if (!inside) {  // untouched memory (padding, before/after) must stay as it was
      if (!(C[i] == C0[i] || (std::isnan(C[i]) && beta == T(0) && j >= 0 && j < c.M * ldc))) {
        if (bad++ == 0)
          FAIL_CHECK("wrote outside C at offset ", j, " M=", c.M, " N=", c.N, " K=", c.K);
      }
      continue;
    }
    const double tol = 2.0 * double(c.K + 3) * eps * double(aC[i]) + 1e-30;
    const double err = std::abs(double(C[i]) - double(R[i]));
    if (!(err <= tol)) {
      if (bad++ == 0)
        FAIL_CHECK("M=", c.M, " N=", c.N, " K=", c.K, " ta=", c.ta, " tb=", c.tb,
                   " alpha=", c.alpha, " beta=", c.beta, " bias=", c.bias, " relu=", c.relu,
                   " at (", j / ldc, ",", j % ldc, "): got ", C[i], " want ", R[i],
                   " tol ", tol);
    }
  }
  return bad;
}

template <class T>
void random_cases(std::mt19937& rng, int count) {
  std::uniform_int_distribution<int> dim(0, 300), small(0, 3), coin(0, 1), off(0, 3);
  const double alphas[] = {1.0, -0.5, 2.0};
  const double betas[] = {0.0, 1.0, -0.75};
  for (int v = 0; v < 4; ++v) {
    for (int i = 0; i < count; ++i) {
      Case c;
      c.ta = v & 1;
      c.tb = v & 2;
      c.M = dim(rng);
      c.N = dim(rng);
      c.K = dim(rng);
      c.pad_a = coin(rng) ? small(rng) * 7 : 0;
      c.pad_b = coin(rng) ? small(rng) * 5 : 0;
      c.pad_c = coin(rng) ? small(rng) * 3 : 0;
      c.off = off(rng);
      c.alpha = alphas[i % 3];
      c.beta = betas[(i / 3) % 3];
      c.bias = coin(rng);
      c.relu = coin(rng);
      REQUIRE(check_case<T>(c, rng) == 0);
    }
  }
}

// Small and awkward sizes: 0, 1, primes, and the sizes around the register
// blocking of every target (MR in {4, 6, 14}, NR in {4..32}).
template <class T>
void edge_cases(std::mt19937& rng) {
  const int64_t dims[] = {0, 1, 2, 3, 5, 7, 13, 14, 15, 17, 31, 33, 47, 97};
  std::uniform_int_distribution<int> pick(0, sizeof(dims) / sizeof(dims[0]) - 1), coin(0, 1);
  for (int v = 0; v < 4; ++v)
    for (int i = 0; i < 40; ++i) {
      Case c;
      c.ta = v & 1;
      c.tb = v & 2;
      c.M = dims[pick(rng)];
      c.N = dims[pick(rng)];
      c.K = dims[pick(rng)];
      c.beta = coin(rng) ? 0.0 : 0.5;
      c.bias = coin(rng);
      c.relu = coin(rng);
      c.off = coin(rng);
      REQUIRE(check_case<T>(c, rng) == 0);
    }
  // K == 0 and alpha == 0: C = beta * C (+ bias) (ReLU), A and B not read.
  for (double beta : {0.0, 2.0}) {
    Case c;
    c.M = 5, c.N = 7, c.K = 0, c.beta = beta, c.bias = true, c.relu = true;
    REQUIRE(check_case<T>(c, rng) == 0);
    c.K = 9, c.alpha = 0;
    REQUIRE(check_case<T>(c, rng) == 0);
  }
}

template <class T>
void batched_case(std::mt19937& rng, bool ta, bool tb, int64_t batch, int64_t M, int64_t N,
                  int64_t K, bool broadcast_a, bool broadcast_b) {
  const int64_t lda = ta ? M : K, ldb = tb ? K : N, ldc = N;
  const int64_t sa = broadcast_a ? 0 : M * K, sb = broadcast_b ? 0 : K * N, sc = M * N;
  std::vector<T> A = random_vec<T>(rng, std::max<int64_t>(1, M * K) * batch);
  std::vector<T> B = random_vec<T>(rng, std::max<int64_t>(1, K * N) * batch);
  std::vector<T> C = random_vec<T>(rng, std::max<int64_t>(1, M * N) * batch), R = C;
  const T alpha = T(1.5), beta = T(0.5);
  if constexpr (sizeof(T) == 4)
    tg::sgemm_batched(ta, tb, batch, M, N, K, alpha, A.data(), lda, sa, B.data(), ldb, sb, beta,
                      C.data(), ldc, sc);
  else
    tg::dgemm_batched(ta, tb, batch, M, N, K, alpha, A.data(), lda, sa, B.data(), ldb, sb, beta,
                      C.data(), ldc, sc);
  for (int64_t i = 0; i < batch; ++i) {
    gemm_ref<T>(ta, tb, M, N, K, alpha, A.data() + i * sa, lda, B.data() + i * sb, ldb, beta,
                R.data() + i * sc, ldc);
  }
  const double eps = std::numeric_limits<T>::epsilon();
  for (size_t i = 0; i < C.size(); ++i)
    REQUIRE(std::abs(double(C[i]) - double(R[i])) <= 2.0 * (K + 3) * eps * (1.5 * K + 1.0));
}

using tgtest::ThreadsGuard;

}  // namespace

TEST_CASE("gemm: matches the reference on every Highway target") {
  ThreadsGuard guard;
  tg::set_num_threads(2);
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    const std::string target_name = hwy::TargetName(target);
    CAPTURE(target_name);
    MESSAGE("gemm target ", target_name);
    CHECK(std::string(tg::gemm_target_name()) == target_name);
    std::mt19937 rng(1234 + unsigned(target % 1000));
    edge_cases<float>(rng);
    random_cases<float>(rng, 10);
    edge_cases<double>(rng);
    random_cases<double>(rng, 6);
  }
  hwy::SetSupportedTargetsForTest(0);
}

TEST_CASE("gemm: large K spans several KC blocks, large N several NC blocks") {
  std::mt19937 rng(7);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Case c;
      c.ta = ta, c.tb = tb, c.M = 37, c.N = 1100, c.K = 700, c.beta = 0.5, c.bias = true,
      c.relu = true, c.pad_c = 3, c.off = 1;
      REQUIRE(check_case<float>(c, rng) == 0);
      REQUIRE(check_case<double>(c, rng) == 0);
    }
}

// K > 2 KC (1100 floats, 600 doubles) runs in blocks of up to KC = 512 floats
// (256 doubles) instead of KC / 2 (even_kc): 1100 = 3 x 367, 600 = 3 x 200.
// Every transpose, beta, alpha, bias and ReLU, packed A (rows 4 KiB apart) and
// in place, on every Highway target, against the reference. (A block longer
// than KC would overrun the packed-B area of the workspace: with blocks of 550
// the packed-A case fails.)
TEST_CASE("gemm: K beyond 2 KC runs in blocks of up to KC on every Highway target") {
  std::mt19937 rng(43);
  tgtest::for_each_target([&](const std::string& target_name) {
    CAPTURE(target_name);
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        Case c;
        c.ta = ta, c.tb = tb, c.M = 45, c.N = 70, c.K = 1100, c.alpha = 0.5, c.beta = 0.5, c.bias = true,
        c.relu = true, c.off = 1;
        REQUIRE(check_case<float>(c, rng) == 0);
        c.K = 600;
        REQUIRE(check_case<double>(c, rng) == 0);
        // lda a multiple of 1024: A packed, a block at a time (N > NC), next
        // to full KC x NC blocks of packed B in the workspace.
        c.K = 1100, c.M = 14, c.N = 530, c.pad_a = 1024 - (ta ? c.M : c.K) % 1024;
        REQUIRE(check_case<float>(c, rng) == 0);
      }
  });
}

// A row-major B is read in place by tiles of up to 512 rows when its rows are
// at most 4 KiB apart (kernels::read_b_in_place), packed otherwise: the first
// M rows of a product, computed alone (B in place) and as part of a 600-row
// product (B packed), must have the same bits, and match the reference. N =
// 600 and 1024 (rows 2400 B and 4 KiB apart) take the in-place path at M =
// 300 and 512; N = 2048 (8 KiB) packs at both sizes. Several KC blocks, a
// last panel narrower than NR, beta, bias and ReLU; every Highway target.
TEST_CASE("gemm: B read in place by up to 512 rows gives the bits of packed B") {
  ThreadsGuard guard;
  tg::set_num_threads(1);
  std::mt19937 rng(41);
  for (int64_t N : {600, 1024, 2048 + 8})
    for (int64_t M : {300, 512}) {
      CAPTURE(N);
      CAPTURE(M);
      const int64_t K = 300, big = 600;
      const std::vector<float> A = random_vec<float>(rng, size_t(big * K)), B = random_vec<float>(rng, size_t(K * N));
      const std::vector<float> bias = random_vec<float>(rng, size_t(N)), C0 = random_vec<float>(rng, size_t(big * N));
      std::vector<float> R = C0;
      tg::sgemm_ref(false, false, M, N, K, 0.5f, A.data(), K, B.data(), N, 0.25f, R.data(), N, {bias.data(), true});
      tgtest::for_each_target([&](const std::string& target_name) {
        CAPTURE(target_name);
        std::vector<float> Cs = C0, Cb = C0;
        tg::sgemm(false, false, M, N, K, 0.5f, A.data(), K, B.data(), N, 0.25f, Cs.data(), N, {bias.data(), true});
        tg::sgemm(false, false, big, N, K, 0.5f, A.data(), K, B.data(), N, 0.25f, Cb.data(), N, {bias.data(), true});
        int differ = 0, bad = 0;
        for (int64_t i = 0; i < M * N; ++i) {
          differ += Cs[size_t(i)] != Cb[size_t(i)];
          bad += std::abs(Cs[size_t(i)] - R[size_t(i)]) > 1e-4f * (1 + std::abs(R[size_t(i)]));
        }
        CHECK(differ == 0);
        CHECK(bad == 0);
      });
    }
}

// Rows of A 4 KiB apart (padded leading dimension) make GemmTile pack A
// instead of reading it in place: a block of MC rows at a time when N spans
// several NC blocks (M = 2100 > MC: two equal blocks), Aᵀ panels when K > 48.
TEST_CASE("gemm: A packed a block at a time, rows 4 KiB apart, on every Highway target") {
  std::mt19937 rng(17);
  tgtest::for_each_target([&](const std::string& target_name) {
    CAPTURE(target_name);
    for (bool tb : {false, true}) {
      Case c;
      c.tb = tb, c.M = 2100, c.N = 530, c.K = 20, c.beta = 0.5, c.bias = true, c.off = 1;
      c.pad_a = 1024 - c.K;  // lda = 1024: 4 KiB of floats, 8 KiB of doubles
      REQUIRE(check_case<float>(c, rng) == 0);
      REQUIRE(check_case<double>(c, rng) == 0);
      c.ta = true, c.M = 300, c.K = 100, c.pad_a = 1024 - c.M, c.relu = true;
      REQUIRE(check_case<float>(c, rng) == 0);
      REQUIRE(check_case<double>(c, rng) == 0);
    }
  });
}

// The A blocks depend on the rows of the tile (4500 rows: three blocks of
// ~1500; 1000 rows: one): every element still sums the same products in the
// same order, so a product computed whole and the same rows in two calls agree
// bit for bit.
TEST_CASE("gemm: the blocks of packed A do not change the bits") {
  std::mt19937 rng(23);
  const int64_t M = 4500, N = 600, K = 20, lda = 1024;  // lda: 4 KiB of floats, A packed
  const std::vector<float> A = random_vec<float>(rng, M * lda), B = random_vec<float>(rng, K * N);
  std::vector<float> whole(M * N), parts(M * N), ref(M * N);
  tg::sgemm(false, false, M, N, K, 1.f, A.data(), lda, B.data(), N, 0.f, whole.data(), N);
  tg::sgemm(false, false, 1000, N, K, 1.f, A.data(), lda, B.data(), N, 0.f, parts.data(), N);
  tg::sgemm(false, false, M - 1000, N, K, 1.f, A.data() + 1000 * lda, lda, B.data(), N, 0.f,
            parts.data() + 1000 * N, N);
  CHECK(whole == parts);
  tg::sgemm_ref(false, false, M, N, K, 1.f, A.data(), lda, B.data(), N, 0.f, ref.data(), N);
  int bad = 0;
  for (int64_t i = 0; i < M * N; ++i) bad += std::abs(whole[i] - ref[i]) > 1e-4f;
  CHECK(bad == 0);
}

TEST_CASE("gemm: batched, with broadcast (stride 0) operands") {
  std::mt19937 rng(11);
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    const std::string target_name = hwy::TargetName(target);
    CAPTURE(target_name);
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        batched_case<float>(rng, ta, tb, 5, 23, 19, 41, false, false);
        batched_case<float>(rng, ta, tb, 4, 17, 70, 33, true, false);
        batched_case<double>(rng, ta, tb, 3, 30, 9, 65, false, true);
        batched_case<double>(rng, ta, tb, 0, 3, 4, 5, false, false);
      }
  }
  hwy::SetSupportedTargetsForTest(0);
}

TEST_CASE("gemm: 1 and 2 threads give identical bits") {
  ThreadsGuard guard;
  std::mt19937 rng(3);
  struct S {
    bool ta, tb;
    int64_t M, N, K;
  };
  for (S s : {S{false, false, 301, 257, 613}, S{true, false, 784, 256, 128},
              S{false, true, 128, 784, 256}, S{true, true, 64, 999, 130},
              S{false, false, 1000, 40, 300}, S{false, false, 3000, 10, 300},
              S{true, true, 2500, 7, 129},
              // rows cut evenly (128 + 128, 135 + 136), not in whole micro-panels
              S{true, false, 256, 784, 64}, S{true, false, 271, 300, 33}}) {
    const int64_t lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N;
    std::vector<float> A = random_vec<float>(rng, s.M * s.K), B = random_vec<float>(rng, s.K * s.N);
    std::vector<float> bias = random_vec<float>(rng, s.N);
    std::vector<double> Ad(A.begin(), A.end()), Bd(B.begin(), B.end());
    std::vector<float> C1(s.M * s.N), C2(s.M * s.N);
    std::vector<double> D1(s.M * s.N), D2(s.M * s.N);
    tg::set_num_threads(1);
    tg::sgemm(s.ta, s.tb, s.M, s.N, s.K, 1.f, A.data(), lda, B.data(), ldb, 0.f, C1.data(), s.N,
              {bias.data(), true});
    tg::dgemm(s.ta, s.tb, s.M, s.N, s.K, 1., Ad.data(), lda, Bd.data(), ldb, 0., D1.data(), s.N);
    tg::set_num_threads(2);
    tg::sgemm(s.ta, s.tb, s.M, s.N, s.K, 1.f, A.data(), lda, B.data(), ldb, 0.f, C2.data(), s.N,
              {bias.data(), true});
    tg::dgemm(s.ta, s.tb, s.M, s.N, s.K, 1., Ad.data(), lda, Bd.data(), ldb, 0., D2.data(), s.N);
    CHECK(C1 == C2);
    CHECK(D1 == D2);
  }
}

// Large products cut by rows pack B once for all threads (kernels::SharedB):
// each block of B is cut into one part per thread, packed by whoever claims it.
// Every shape below takes that path (tg::detail::shared_b_products counts
// them; a row-major B needs more than Config().direct_b_rows rows per thread,
// fewer read B in place): parts of several KC and NC blocks, a last panel one vector wide
// (N = 520) and wider (700), Bᵀ, Aᵀ, Aᵀ·Bᵀ, and rows 4 KiB apart with 2,100
// rows per thread (two blocks of packed A per tile, the second reusing the
// packed B). 3 threads: the pool has one worker on this 2-core machine, so one
// thread runs two of the three tiles and finds parts already packed or packs
// them itself. Same bits as 1 thread, within the reference's bound; on every
// Highway target too (their panel widths differ), with a last panel of 8.
namespace {
struct SharedCase {
  bool ta, tb;
  int64_t M, N, K, lda_pad;
};
void shared_b_case(const SharedCase& s, int threads, std::mt19937& rng) {
  CAPTURE(threads);
  CAPTURE(s.ta);
  CAPTURE(s.tb);
  CAPTURE(s.M);
  const int64_t lda = (s.ta ? s.M : s.K) + s.lda_pad, ldb = s.tb ? s.K : s.N;
  const int64_t a_elems = (s.ta ? s.K : s.M) * lda;
  const std::vector<float> A = random_vec<float>(rng, a_elems), B = random_vec<float>(rng, s.K * s.N);
  const std::vector<float> bias = random_vec<float>(rng, s.N), C0 = random_vec<float>(rng, s.M * s.N);
  const std::vector<double> Ad(A.begin(), A.end()), Bd(B.begin(), B.end()), D0(C0.begin(), C0.end());
  std::vector<float> C1 = C0, Cn = C0, R = C0;
  std::vector<double> D1 = D0, Dn = D0;
  tg::set_num_threads(1);
  tg::sgemm(s.ta, s.tb, s.M, s.N, s.K, 0.5f, A.data(), lda, B.data(), ldb, 0.25f, C1.data(), s.N,
            {bias.data(), true});
  tg::dgemm(s.ta, s.tb, s.M, s.N, s.K, 1., Ad.data(), lda, Bd.data(), ldb, 0., D1.data(), s.N);
  tg::set_num_threads(threads);
  const int64_t shared_before = tg::detail::shared_b_products.load();
  tg::sgemm(s.ta, s.tb, s.M, s.N, s.K, 0.5f, A.data(), lda, B.data(), ldb, 0.25f, Cn.data(), s.N,
            {bias.data(), true});
  tg::dgemm(s.ta, s.tb, s.M, s.N, s.K, 1., Ad.data(), lda, Bd.data(), ldb, 0., Dn.data(), s.N);
  CHECK(tg::detail::shared_b_products.load() - shared_before == 2);  // float and double
  CHECK(C1 == Cn);
  CHECK(D1 == Dn);
  tg::sgemm_ref(s.ta, s.tb, s.M, s.N, s.K, 0.5f, A.data(), lda, B.data(), ldb, 0.25f, R.data(), s.N,
                {bias.data(), true});
  int bad = 0;
  for (int64_t i = 0; i < s.M * s.N; ++i) bad += std::abs(Cn[size_t(i)] - R[size_t(i)]) > 1e-4f;
  CHECK(bad == 0);
}
}  // namespace

TEST_CASE("gemm: B packed once for all threads gives the bits of one thread") {
  ThreadsGuard guard;
  std::mt19937 rng(29);
  for (int threads : {2, 3})
    for (SharedCase s : {SharedCase{false, false, 1600, 700, 330, 0}, SharedCase{false, true, 900, 520, 300, 0},
                         SharedCase{true, false, 1600, 700, 330, 0}, SharedCase{true, true, 900, 530, 330, 0},
                         SharedCase{false, false, 4200, 600, 64, 1024 - 64}})
      shared_b_case(s, threads, rng);
  tgtest::for_each_target([&](const std::string& target_name) {
    CAPTURE(target_name);
    shared_b_case(SharedCase{false, false, 1100, 520, 440, 0}, 2, rng);
  });
}

// The fused ReLU follows relu's rule on every target: a NaN output (a NaN in a
// row of A or a column of B) and a -0 give +0, as in the reference; wide tiles,
// partial tiles and the transposed store of narrow products (N < NR).
template <class T>
void relu_nan_case(int64_t M, int64_t N, int64_t K) {
  std::mt19937 rng(uint32_t(M * 131 + N * 7 + K));
  std::vector<T> A = random_vec<T>(rng, M * K), B = random_vec<T>(rng, K * N);
  const T nan = std::numeric_limits<T>::quiet_NaN();
  for (int64_t r = 0; r < M; r += 3) A[r * K + r % K] = nan;
  for (int64_t c = 1; c < N; c += 4) B[(c % K) * N + c] = nan;
  std::vector<T> C(M * N, T(5)), R(M * N, T(7));
  gemm<T>(false, false, M, N, K, T(1), A.data(), K, B.data(), N, T(0), C.data(), N, {nullptr, true});
  gemm_ref<T>(false, false, M, N, K, T(1), A.data(), K, B.data(), N, T(0), R.data(), N, {nullptr, true});
  int nan_rows = 0, bad = 0;
  for (int64_t i = 0; i < M * N; ++i) {
    if (i / N % 3 == 0) {  // a NaN row: every output is +0
      ++nan_rows;
      bad += !(C[i] == T(0) && !std::signbit(C[i]) && R[i] == T(0) && !std::signbit(R[i]));
    } else {
      bad += std::isnan(C[i]) != std::isnan(R[i]) || (!std::isnan(R[i]) && std::abs(C[i] - R[i]) > T(1e-4));
    }
  }
  CHECK(nan_rows > 0);
  CHECK(bad == 0);
}

TEST_CASE("gemm: the fused ReLU turns NaN into +0 on every Highway target") {
  tgtest::for_each_target([&](const std::string& target_name) {
    CAPTURE(target_name);
    for (auto [M, N, K] : {std::array<int64_t, 3>{37, 70, 9}, {50, 5, 7}, {3, 33, 4}, {29, 16, 5}}) {
      CAPTURE(M);
      CAPTURE(N);
      relu_nan_case<float>(M, N, K);
      relu_nan_case<double>(M, N, K);
    }
  });
}

TEST_CASE("gemm: argument checks") {
  float a = 1, b = 1, c = 0;
  CHECK_THROWS(tg::sgemm(false, false, 1, 2, 1, 1.f, &a, 1, &b, 2, 0.f, &c, 1));
  CHECK_THROWS(tg::sgemm(false, false, -1, 1, 1, 1.f, &a, 1, &b, 1, 0.f, &c, 1));
  CHECK_THROWS(tg::sgemm(false, false, 1, 2, 3, 1.f, &a, 2, &b, 2, 0.f, &c, 2));
}
