// core/matmul.cpp: the fast GEMMs behind matmul_*_fast: streaming register tiles when one
// dimension is a small batch and the other operand a large weight matrix, Eigen on mapped
// row-major memory otherwise.
//
// Eigen path: one GEMM call on Eigen::Map views (no copies). When the product is large enough,
// the output rows are split over parallel_for chunks and each chunk runs its own GEMM on its slice
// of rows; Eigen's own threading is off (EIGEN_DONT_PARALLELIZE), so the only threads are ours and
// small products (batch-1 acting, CartPole) stay on the calling thread.
//
// Streaming path (see "Streaming tiles" below): the layer products of a DQN update multiply a
// weight matrix that is used once per call (its rows change every Adam step) by a batch of 32-64
// rows. Eigen packs both operands into panels first, and for these shapes packing the weight
// costs about as much as the arithmetic it feeds (the Nature CNN's 3136x512 layer forward ran at
// 60 GFLOP/s, 1.7 ms). The tiles read the weight where it lies, once, from memory order.
#include "core/eigen_config.hpp"  // first: configures Eigen before it is included

#include "core/matmul.hpp"

#include <algorithm>
#include <vector>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/simd.hpp"

namespace dqn {
namespace {

using MatR = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapR = Eigen::Map<MatR>;
using CMapR = Eigen::Map<const MatR>;

// Work per thread below which splitting does not pay: 2 MFLOP is about 20 us of GEMM at one
// core's ~100 GFLOP/s, an order of magnitude above the few microseconds an OpenMP fork/join
// costs. 64x256x256 (8.4 MFLOP) splits in two; a batch-1 256x256 layer (0.13 MFLOP) never does.
constexpr std::int64_t kGemmGrainFlops = std::int64_t{2} << 20;

// Elements of a formed B per thread when it is formed whole (matmul_nt_formed_fast's fallback):
// a memory-bound pass, split like the element-wise kernels (kElementwiseGrain).
constexpr std::int64_t kFormGrain = std::int64_t{1} << 17;

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

// ---------------------------------------------------------------- streaming tiles
//
// One tile: C[r, j*kLanes ..] (+)= sum_k A(r, k) * B[k, j*kLanes ..] for R rows and BC column
// vectors, with A(r, k) = a[r*a_row + k*a_step] broadcast (so NN reads A's rows, TN its
// columns, without a copy) and B's rows loaded as vectors. The R x BC accumulators stay in
// registers over the whole sum: per k, BC loads and R broadcasts feed R*BC FMAs.
//   NN  C = A.B     (dX = dY.W):   A(r,k) = a[r*K + k], B = b
//   TN  C = A^T.B   (dW = dY^T.X): A(r,k) = a[k*M + r], B = b
//   NT  C = A.B^T   (Y = X.W^T):   computed as C^T = B.A^T, the weight B broadcast by rows and
//                                  A^T (K x M, M padded to whole vectors) as the vector operand.
// Trap: [[gnu::noinline]] as conv2d's tiles: inlined into a parallel_for lambda, GCC may keep
// the accumulators in memory.

using simd::VecF;
constexpr std::int64_t kLanes = VecF::kLanes;
// Accumulator registers of a tile: 24 of AVX-512's 32 (the rest hold the BC loaded vectors and
// the broadcast), 12 of AVX2's 16.
constexpr int kAccumulators = kLanes == 16 ? 24 : kLanes == 8 ? 12 : 4;
// The batch dimension of a streamed product is at most this many rows (NT pads it to whole
// vectors and holds it in at most 4 vectors), and the weight at least kStreamMinWeight elements;
// below that Eigen's packing is cheap and its GEMM the faster one. The MLP's 256x256 layer
// (65,536) at batch 64 and the Nature CNN's 3136x512 layer at batch 32 stream.
constexpr std::int64_t kStreamMaxBatch = 4 * kLanes;
constexpr std::int64_t kStreamMinWeight = std::int64_t{1} << 16;

bool streams(std::int64_t batch, std::int64_t weight_elements, std::int64_t vector_dim) {
  return batch >= 2 && batch <= kStreamMaxBatch && weight_elements >= kStreamMinWeight &&
         vector_dim >= kLanes;
}

// kPartial (with BC = 1) makes the tile one partial vector: masked loads and stores touch columns
// [0, lanes) only. A template choice, not a run-time test inside the k loop, which GCC would have
// to unswitch to keep the accumulators in registers.
//
// kPrefetch: while the tile runs, pull the next tile's source rows toward L2 (R rows of each of
// pf.a and pf.b, R * K floats each, R floats a k step: one prefetch a cache line and a bit), so
// that forming them (matmul_nt_formed_fast) reads cache instead of waiting on memory. Only
// hints: the bits do not change.
struct TilePrefetch {
  const float* a = nullptr;
  const float* b = nullptr;
};

template <int R, int BC, bool kPartial = false, bool kPrefetch = false>
[[gnu::noinline]] void broadcast_tile(float* c, std::int64_t ldc, const float* a,
                                      std::int64_t a_row, std::int64_t a_step, const float* b,
                                      std::int64_t ldb, std::int64_t K, bool accumulate,
                                      int lanes = kLanes, TilePrefetch pf = {}) {
  static_assert(!kPartial || BC == 1);
  auto load = [lanes](const float* p) {
    if constexpr (kPartial)
      return VecF::load_first(p, lanes);
    else
      return VecF::load(p);
  };
  VecF acc[R][BC];
  // Every loop over the tile unrolled, so that acc lives in registers (the tile trap in
  // core/simd.hpp).
#pragma GCC unroll 64
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 64
    for (int j = 0; j < BC; ++j)
      acc[r][j] = accumulate ? load(c + r * ldc + j * kLanes) : VecF::zero();
  const float* rows[R];
  for (int r = 0; r < R; ++r) rows[r] = a + r * a_row;
  for (std::int64_t k = 0; k < K; ++k) {
    if constexpr (kPrefetch) {
      __builtin_prefetch(pf.a + k * R, 0, 2);  // read, keep in L2 (T1)
      __builtin_prefetch(pf.b + k * R, 0, 2);
    }
    VecF v[BC];
#pragma GCC unroll 64
    for (int j = 0; j < BC; ++j) v[j] = load(b + k * ldb + j * kLanes);
#pragma GCC unroll 64
    for (int r = 0; r < R; ++r) {
      const VecF x = VecF::set1(rows[r][k * a_step]);
#pragma GCC unroll 64
      for (int j = 0; j < BC; ++j) acc[r][j] = x.fma(v[j], acc[r][j]);
    }
  }
#pragma GCC unroll 64
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 64
    for (int j = 0; j < BC; ++j) {
      if constexpr (kPartial)
        acc[r][j].store_first(c + r * ldc + j * kLanes, lanes);
      else
        acc[r][j].store(c + r * ldc + j * kLanes);
    }
}

// Rows [0, M) and columns [col_lo, col_hi) of C (M, ldc) (+)= A(M,K) B(K, ldb) through tiles of
// R x BC vectors, then single vectors, then one partial vector (the last N mod kLanes).
template <int BC>
void broadcast_block(float* c, std::int64_t ldc, const float* a, std::int64_t a_row,
                     std::int64_t a_step, const float* b, std::int64_t ldb, std::int64_t M,
                     std::int64_t K, std::int64_t col_lo, std::int64_t col_hi, bool accumulate,
                     bool rows_outer) {
  constexpr int R = kAccumulators / BC;
  const int last = static_cast<int>((col_hi - col_lo) % kLanes);  // lanes of a partial vector
  auto tile = [&]<int H, int W, bool kPartial = false>(std::int64_t i, std::int64_t j) {
    broadcast_tile<H, W, kPartial>(c + i * ldc + j, ldc, a + i * a_row, a_row, a_step, b + j, ldb,
                                   K, accumulate, last);
  };
  auto columns = [&]<int H>(std::int64_t i) {  // every column block of the H rows at i
    std::int64_t j = col_lo;
    for (; j + BC * kLanes <= col_hi; j += BC * kLanes) tile.template operator()<H, BC>(i, j);
    for (; j + kLanes <= col_hi; j += kLanes) tile.template operator()<H, 1>(i, j);
    if (last > 0) tile.template operator()<H, 1, true>(i, j);
  };
  auto rows = [&]<int W, bool kPartial = false>(std::int64_t j) {  // the column block at j
    std::int64_t i = 0;
    for (; i + R <= M; i += R) tile.template operator()<R, W, kPartial>(i, j);
    for (; i < M; ++i) tile.template operator()<1, W, kPartial>(i, j);
  };
  if (rows_outer) {
    std::int64_t i = 0;
    for (; i + R <= M; i += R) columns.template operator()<R>(i);
    for (; i < M; ++i) columns.template operator()<1>(i);
  } else {
    std::int64_t j = col_lo;
    for (; j + BC * kLanes <= col_hi; j += BC * kLanes) rows.template operator()<BC>(j);
    for (; j + kLanes <= col_hi; j += kLanes) rows.template operator()<1>(j);
    if (last > 0) rows.template operator()<1, true>(j);
  }
}

// The tile shape of broadcast_gemm and of matmul_tn_piece.
constexpr int kGemmBC = kAccumulators / (kLanes == 16 ? 8 : 4);  // 8 (or 4) rows x 3 vectors
constexpr std::int64_t kGemmBlock = kGemmBC * kLanes;            // columns of one tile
constexpr std::int64_t kGemmRows = kAccumulators / kGemmBC;      // rows of one tile

// C (M, N) (+)= A(M,K) B(K,N) with A(r,k) = a[r*a_row + k*a_step], columns split over threads in
// whole tiles of BC vectors. Each element of C is summed by one thread in k order: the same bits
// for any thread count. rows_outer walks C row tile by row tile, so that a large C (TN's weight
// gradient, read and written once) streams through memory in order; otherwise column block by
// column block, so that a large B (NN's weight) is read once while the small C stays in cache.
// Measured with cold caches on the 3136x512 layer at batch 32: TN 2.04 -> 1.53 ms rows outer,
// NN 1.55 -> 2.63 ms (worse) rows outer; software prefetching of B only slowed both.
void broadcast_gemm(float* c, const float* a, std::int64_t a_row, std::int64_t a_step,
                    const float* b, std::int64_t M, std::int64_t K, std::int64_t N, bool accumulate,
                    bool rows_outer) {
  const std::int64_t flops_per_block = std::max<std::int64_t>(2 * M * K * kGemmBlock, 1);
  const std::int64_t grain = std::max<std::int64_t>(1, kGemmGrainFlops / flops_per_block);
  const std::int64_t blocks = (N + kGemmBlock - 1) / kGemmBlock;
  parallel_for(0, blocks, grain, [&](std::int64_t lo, std::int64_t hi) {
    broadcast_block<kGemmBC>(c, N, a, a_row, a_step, b, N, M, K, lo * kGemmBlock,
                             std::min(N, hi * kGemmBlock), accumulate, rows_outer);
  });
}

// NT for a small batch M: C^T (N, Mp) = B (N,K) . A^T (K, Mp) with A^T padded with zero columns
// to Mp = whole vectors, B's rows broadcast (read once, in order), then C (+)= the first M
// columns of C^T, transposed. The scratch grows once per thread and is then reused.
// rows_of_b(j, count) gives rows [j, j + count) of B (count x K, contiguous) when a tile needs
// them: B itself for a stored weight, or rows formed just then into a buffer the tile then reads
// from cache (matmul_nt_formed_fast). Every element of C^T is one tile's sum in k order, so the
// bits do not depend on the thread count, the tile shape or where B's rows came from.
template <int BC, class Rows>
void nt_streaming(float* c, const float* a, const Rows& rows_of_b, TilePrefetch src, std::int64_t M,
                  std::int64_t K, std::int64_t N, bool accumulate) {
  constexpr std::int64_t Mp = BC * kLanes;
  constexpr int R = kAccumulators / BC;
  static thread_local std::vector<float> scratch;
  scratch.resize(static_cast<std::size_t>((K + N) * Mp));
  float* at = scratch.data();  // A^T (K, Mp)
  float* ct = at + K * Mp;     // C^T (N, Mp)
  for (std::int64_t k = 0; k < K; ++k) {
    float* row = at + k * Mp;
    for (std::int64_t i = 0; i < M; ++i) row[i] = a[i * K + k];
    std::fill(row + M, row + Mp, 0.0f);
  }
  const std::int64_t tiles = (N + R - 1) / R;
  const std::int64_t grain = std::max<std::int64_t>(1, kGemmGrainFlops / (2 * R * K * Mp));
  // Inside a task (the update's forward passes) pieces of two tiles that the other task's thread
  // may help with, once done with its own (the Nature CNN's fc layer is a pass's last 15%).
  parallel_for_helped(0, tiles, grain, 2, [&](std::int64_t lo, std::int64_t hi) {
    std::int64_t j = lo * R;
    const std::int64_t end = std::min(N, hi * R);
    for (; j + R <= end; j += R) {
      const float* rows = rows_of_b(j, R);
      if (src.a != nullptr && src.b != nullptr && j + 2 * R <= end)  // the next tile's sources
        broadcast_tile<R, BC, false, true>(ct + j * Mp, Mp, rows, K, 1, at, Mp, K, false, kLanes,
                                           TilePrefetch{src.a + (j + R) * K, src.b + (j + R) * K});
      else
        broadcast_tile<R, BC>(ct + j * Mp, Mp, rows, K, 1, at, Mp, K, false);
    }
    for (; j < end; ++j)
      broadcast_tile<1, BC>(ct + j * Mp, Mp, rows_of_b(j, 1), K, 1, at, Mp, K, false);
  });
  for (std::int64_t i = 0; i < M; ++i)
    for (std::int64_t j = 0; j < N; ++j)
      c[i * N + j] = (accumulate ? c[i * N + j] : 0.0f) + ct[j * Mp + i];
}

template <class Rows>
void nt_streaming(float* c, const float* a, const Rows& rows_of_b, TilePrefetch src, std::int64_t M,
                  std::int64_t K, std::int64_t N, bool accumulate) {
  switch ((M + kLanes - 1) / kLanes) {  // M <= kStreamMaxBatch: 1 to 4 vectors
    case 1:
      return nt_streaming<1>(c, a, rows_of_b, src, M, K, N, accumulate);
    case 2:
      return nt_streaming<2>(c, a, rows_of_b, src, M, K, N, accumulate);
    case 3:
      return nt_streaming<3>(c, a, rows_of_b, src, M, K, N, accumulate);
    default:
      return nt_streaming<4>(c, a, rows_of_b, src, M, K, N, accumulate);
  }
}

}  // namespace

void matmul_nn_fast(float* c, const float* a, const float* b, std::int64_t M, std::int64_t K,
                    std::int64_t N, bool accumulate) {
  if (M == 0 || N == 0) return;
  if (streams(M, K * N, N)) return broadcast_gemm(c, a, K, 1, b, M, K, N, accumulate, false);
  const CMapR B(b, K, N);
  parallel_for(0, M, row_grain(K, N), [&](std::int64_t lo, std::int64_t hi) {
    assign(MapR(c + lo * N, hi - lo, N), CMapR(a + lo * K, hi - lo, K), B, accumulate);
  });
}

void matmul_nt_fast(float* c, const float* a, const float* b, std::int64_t M, std::int64_t K,
                    std::int64_t N, bool accumulate) {
  if (M == 0 || N == 0) return;
  if (K > 0 && streams(M, N * K, M)) {
    const auto stored = [b, K](std::int64_t j, std::int64_t) { return b + j * K; };
    return nt_streaming(c, a, stored, TilePrefetch{}, M, K, N, accumulate);
  }
  const CMapR B(b, N, K);
  parallel_for(0, M, row_grain(K, N), [&](std::int64_t lo, std::int64_t hi) {
    assign(MapR(c + lo * N, hi - lo, N), CMapR(a + lo * K, hi - lo, K), B.transpose(), accumulate);
  });
}

void matmul_nt_formed_fast(float* c, const float* a, std::int64_t M, std::int64_t K, std::int64_t N,
                           bool accumulate, float* keep, const RowFormer& form, const float* src_a,
                           const float* src_b) {
  if (M == 0 || N == 0) return;
  if (K > 0 && streams(M, N * K, M)) {
    // Each tile forms its R rows of B (R x K: 12 x 3136 floats = 150 KB for the Nature CNN's fc
    // at batch 32, within L2) just before it broadcasts them, so a formed weight that is not
    // kept is never written to memory and read back, and a kept one is read from cache.
    const auto formed = [keep, K, &form](std::int64_t j, std::int64_t count) -> const float* {
      static thread_local std::vector<float> rows;  // this worker's tile of B
      float* dst = keep;
      if (dst != nullptr) {
        dst += j * K;
      } else {
        if (rows.size() < static_cast<std::size_t>(count * K))
          rows.resize(static_cast<std::size_t>(count * K));
        dst = rows.data();
      }
      form(j, count, dst);
      return dst;
    };
    return nt_streaming(c, a, formed, TilePrefetch{src_a, src_b}, M, K, N, accumulate);
  }
  // Otherwise form B whole (rows split over threads as an element-wise pass would be), then
  // the ordinary product.
  static thread_local std::vector<float> whole;
  float* b = keep;
  if (b == nullptr) {
    whole.resize(static_cast<std::size_t>(N * K));
    b = whole.data();
  }
  const std::int64_t grain = std::max<std::int64_t>(1, kFormGrain / std::max<std::int64_t>(K, 1));
  parallel_for(0, N, grain,
               [&](std::int64_t lo, std::int64_t hi) { form(lo, hi - lo, b + lo * K); });
  matmul_nt_fast(c, a, b, M, K, N, accumulate);
}

void matmul_tn_fast(float* c, const float* a, const float* b, std::int64_t M, std::int64_t K,
                    std::int64_t N, bool accumulate) {
  if (M == 0 || N == 0) return;
  if (streams(K, M * N, N)) return broadcast_gemm(c, a, 1, M, b, M, K, N, accumulate, true);
  const CMapR A(a, K, M);
  const CMapR B(b, K, N);
  // Rows [lo, hi) of C are columns [lo, hi) of A: a strided block, still no copy.
  parallel_for(0, M, row_grain(K, N), [&](std::int64_t lo, std::int64_t hi) {
    assign(MapR(c + lo * N, hi - lo, N), A.middleCols(lo, hi - lo).transpose(), B, accumulate);
  });
}

std::int64_t matmul_tn_pieces(std::int64_t M, std::int64_t K, std::int64_t N, std::int64_t most) {
  if (!streams(K, M * N, N)) return 0;
  return std::clamp<std::int64_t>((M + kGemmRows - 1) / kGemmRows, 0, most);
}

void matmul_tn_piece_rows(std::int64_t M, std::int64_t p, std::int64_t pieces, std::int64_t* lo,
                          std::int64_t* hi) {
  const std::int64_t tiles = (M + kGemmRows - 1) / kGemmRows;
  *lo = std::min(M, tiles * p / pieces * kGemmRows);
  *hi = std::min(M, tiles * (p + 1) / pieces * kGemmRows);
}

void matmul_tn_piece(float* c, const float* a, const float* b, std::int64_t M, std::int64_t K,
                     std::int64_t N, bool accumulate, std::int64_t p, std::int64_t pieces) {
  DQN_CHECK(matmul_tn_pieces(M, K, N, pieces) == pieces && p >= 0 && p < pieces,
            "matmul_tn_piece: piece ", p, " of ", pieces, " for (", K, "x", M, ")^T.(", K, "x", N,
            "); take the count from matmul_tn_pieces");
  // Rows [lo, hi) of C are columns [lo, hi) of A: C, A and M start at lo, B stays whole.
  std::int64_t lo = 0, hi = 0;
  matmul_tn_piece_rows(M, p, pieces, &lo, &hi);
  broadcast_block<kGemmBC>(c + lo * N, N, a + lo, 1, M, b, N, hi - lo, K, 0, N, accumulate,
                           /*rows_outer=*/true);
}

}  // namespace dqn
