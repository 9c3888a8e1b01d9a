// core/matmul.cpp: the fast GEMMs behind matmul_*_fast (Eigen on mapped row-major memory).
//
// Each product is one Eigen GEMM call on Eigen::Map views (no copies). When the product is large
// enough, the output rows are split over parallel_for chunks and each chunk runs its own GEMM on
// its slice of rows; Eigen's own threading is off (EIGEN_DONT_PARALLELIZE), so the only threads
// are ours and small products (batch-1 acting, CartPole) stay on the calling thread.
#include "core/eigen_config.hpp"  // first: configures Eigen before it is included

#include "core/matmul.hpp"
#include "core/parallel.hpp"

namespace dqn {
namespace {

using MatR = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapR = Eigen::Map<MatR>;
using CMapR = Eigen::Map<const MatR>;

// Work per thread below which splitting does not pay: 2 MFLOP is about 20 us of GEMM at one
// core's ~100 GFLOP/s, an order of magnitude above the few microseconds an OpenMP fork/join
// costs. 64x256x256 (8.4 MFLOP) splits in two; a batch-1 256x256 layer (0.13 MFLOP) never does.
constexpr std::int64_t kGemmGrainFlops = std::int64_t{2} << 20;

// Rows of C per chunk so that a chunk holds at least kGemmGrainFlops of work.
std::int64_t row_grain(std::int64_t K, std::int64_t N) {
  const std::int64_t flops_per_row = std::max<std::int64_t>(2 * K * N, 1);
  return std::max<std::int64_t>(1, (kGemmGrainFlops + flops_per_row - 1) / flops_per_row);
}

template <class Lhs, class Rhs>
void assign(MapR c, const Lhs& a, const Rhs& b, bool accumulate) {
  if (accumulate)
    c.noalias() += a * b;
  else
    c.noalias() = a * b;
}

}  // namespace

void matmul_nn_fast(float* c, const float* a, const float* b, std::int64_t M, std::int64_t K,
                    std::int64_t N, bool accumulate) {
  if (M == 0 || N == 0) return;
  const CMapR B(b, K, N);
  parallel_for(0, M, row_grain(K, N), [&](std::int64_t lo, std::int64_t hi) {
    assign(MapR(c + lo * N, hi - lo, N), CMapR(a + lo * K, hi - lo, K), B, accumulate);
  });
}

void matmul_nt_fast(float* c, const float* a, const float* b, std::int64_t M, std::int64_t K,
                    std::int64_t N, bool accumulate) {
  if (M == 0 || N == 0) return;
  const CMapR B(b, N, K);
  parallel_for(0, M, row_grain(K, N), [&](std::int64_t lo, std::int64_t hi) {
    assign(MapR(c + lo * N, hi - lo, N), CMapR(a + lo * K, hi - lo, K), B.transpose(), accumulate);
  });
}

void matmul_tn_fast(float* c, const float* a, const float* b, std::int64_t M, std::int64_t K,
                    std::int64_t N, bool accumulate) {
  if (M == 0 || N == 0) return;
  const CMapR A(a, K, M);
  const CMapR B(b, K, N);
  // Rows [lo, hi) of C are columns [lo, hi) of A: a strided block, still no copy.
  parallel_for(0, M, row_grain(K, N), [&](std::int64_t lo, std::int64_t hi) {
    assign(MapR(c + lo * N, hi - lo, N), A.middleCols(lo, hi - lo).transpose(), B, accumulate);
  });
}

}  // namespace dqn
