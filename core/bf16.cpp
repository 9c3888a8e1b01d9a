// core/bf16.cpp: bfloat16 rounding, the pair packing and GEMM of core/bf16_pack.hpp, and the
// linear layer's bfloat16 kernels (the convolution's are in conv2d.cpp, beside the FP32 ones
// whose helpers they share).
//
// The GEMM's register tile. VDPBF16PS has a latency of about 6 cycles and two pipes issue it on
// Zen 5 and on Xeons with two 512-bit FMA ports (one on Zen 4, whose 512-bit ops take both
// 256-bit halves), so 2 x 6 = 12 independent sums keep the pipes full; 24 leave room for the
// loads and hide a longer latency. 24 accumulators + the column vectors + one broadcast fit the
// 32 vector registers of AVX-512 for both shapes used: 12 rows x 2 vectors (32 output columns,
// the batch of the linear forward) and 8 rows x 3 vectors (everything wider). Per pair step a
// tile issues rows + vectors loads against rows x vectors VDPBF16PS: 14 or 11 loads for 24, within
// the two to three loads a cycle these cores sustain while the pipes take 12 cycles.
#include "core/bf16.hpp"

#include <algorithm>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "core/bf16_pack.hpp"
#include "core/error.hpp"
#include "core/matmul.hpp"
#include "core/parallel.hpp"
#include "core/reduce.hpp"
#include "core/simd.hpp"

namespace dqn {

using simd::VecF;

namespace {
constexpr int kLanes = VecF::kLanes;

inline std::uint32_t pair_of(float lo, float hi) {
  return std::uint32_t{bf16_bits(lo)} | (std::uint32_t{bf16_bits(hi)} << 16);
}
}  // namespace

void bf16_round_fast(float* dst, const float* src, std::int64_t n) {
  std::int64_t i = 0;
#if defined(DQN_HAVE_BF16_DOT)
  for (; i + kLanes <= n; i += kLanes) {
    const __m512i h = simd::bf16_lanes(VecF::load(src + i));
    _mm512_storeu_si512(dst + i, _mm512_slli_epi32(h, 16));
  }
#endif
  for (; i < n; ++i) dst[i] = bf16_round(src[i]);
}

bool bf16_dot_available() {
#if defined(DQN_HAVE_BF16_DOT)
  return true;
#else
  return false;
#endif
}

bool bf16_amx_available() {
#if defined(__x86_64__)
  // CPUID leaf 7, subleaf 0: EDX bit 22 is AMX-BF16. Read directly: clang 14's
  // __builtin_cpu_supports (the fuzz build's compiler) does not know "amx-bf16".
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
  return (edx >> 22) & 1u;
#else
  return false;
#endif
}

const char* bf16_kernel_name() {
#if defined(DQN_HAVE_BF16_DOT)
  return "avx512_bf16 (VDPBF16PS register tiles)";
#else
  return "fp32 fallback (operands rounded to bfloat16, then the FP32 kernels)";
#endif
}

// ---------------------------------------------------------------- packing

namespace bf16 {

namespace {

// pack_pairs over elements of type T: vec(p) reads kLanes of them at p as floats, one(v) one.
// Captured by value (see simd_loop.hpp's trap on may_alias stores).
template <class T, class Vec, class One>
void pack_pairs_of(std::uint32_t* dst, std::int64_t ldd, const T* src, std::int64_t lds,
                   std::int64_t K, std::int64_t N, Vec vec, One one) {
  for (std::int64_t q = 0; q < pairs(K); ++q) {
    const T* lo = src + 2 * q * lds;
    const T* hi = 2 * q + 1 < K ? lo + lds : nullptr;
    std::uint32_t* d = dst + q * ldd;
    std::int64_t j = 0;
#if defined(DQN_HAVE_BF16_DOT)
    for (; j + kLanes <= N; j += kLanes)
      _mm512_storeu_si512(d + j, simd::bf16_pairs(vec(lo + j), hi ? vec(hi + j) : VecF::zero()));
#else
    (void)vec;
#endif
    for (; j < N; ++j) d[j] = pair_of(one(lo[j]), hi ? one(hi[j]) : 0.0f);
  }
}

}  // namespace

void pack_pairs(std::uint32_t* dst, std::int64_t ldd, const float* src, std::int64_t lds,
                std::int64_t K, std::int64_t N) {
  pack_pairs_of(
      dst, ldd, src, lds, K, N, [](const float* p) { return VecF::load(p); },
      [](float v) { return v; });
}

void pack_pairs_u8(std::uint32_t* dst, std::int64_t ldd, const std::uint8_t* src, std::int64_t lds,
                   std::int64_t K, std::int64_t N, float scale) {
  const VecF sv = VecF::set1(scale);
  pack_pairs_of(
      dst, ldd, src, lds, K, N, [=](const std::uint8_t* p) { return VecF::load_u8(p) * sv; },
      [=](std::uint8_t v) { return static_cast<float>(v) * scale; });
}

void pack_rows(std::uint32_t* dst, std::int64_t ldd, const float* src, std::int64_t lds,
               std::int64_t M, std::int64_t K) {
  for (std::int64_t i = 0; i < M; ++i) {
    const float* s = src + i * lds;
    std::uint32_t* d = dst + i * ldd;
    std::int64_t k = 0;
#if defined(DQN_HAVE_BF16_DOT)
    // 32 floats -> 16 pairs: VCVTNE2PS2BF16 puts the second source in the low half, so the
    // pairs come out in order.
    for (; k + 2 * kLanes <= K; k += 2 * kLanes)
      _mm512_storeu_si512(d + k / 2, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(
                                         _mm512_loadu_ps(s + k + kLanes), _mm512_loadu_ps(s + k))));
#endif
    for (; k < K; k += 2) d[k / 2] = pair_of(s[k], k + 1 < K ? s[k + 1] : 0.0f);
  }
}

void pack_cols(std::uint32_t* dst, std::int64_t ldd, const float* src, std::int64_t lds,
               std::int64_t N, std::int64_t K) {
  // Each row is paired 16 pairs at a time, as pack_rows does, and the pairs stored down
  // column n: the rows are few (a batch), the stores plain.
  for (std::int64_t n = 0; n < N; ++n) {
    const float* s = src + n * lds;
    std::int64_t k = 0;
#if defined(DQN_HAVE_BF16_DOT)
    alignas(64) std::uint32_t tmp[kLanes];
    for (; k + 2 * kLanes <= K; k += 2 * kLanes) {
      _mm512_store_si512(tmp, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(
                                  _mm512_loadu_ps(s + k + kLanes), _mm512_loadu_ps(s + k))));
      for (int l = 0; l < kLanes; ++l) dst[(k / 2 + l) * ldd + n] = tmp[l];
    }
#endif
    for (; k < K; k += 2) dst[(k / 2) * ldd + n] = pair_of(s[k], k + 1 < K ? s[k + 1] : 0.0f);
  }
}

void zero_cols(std::uint32_t* dst, std::int64_t ld, std::int64_t rows, std::int64_t from,
               std::int64_t to) {
  if (to <= from) return;
  for (std::int64_t r = 0; r < rows; ++r) std::fill(dst + r * ld + from, dst + r * ld + to, 0u);
}

// ---------------------------------------------------------------- the GEMM over pairs

#if defined(DQN_HAVE_BF16_DOT)
namespace {

// Work per thread below which splitting does not pay (as matmul.cpp's grain).
constexpr std::int64_t kGrainFlops = std::int64_t{2} << 20;

struct GemmArgs {
  float* c;
  std::int64_t ldc;
  const std::uint32_t* a;
  std::int64_t a_row, a_q;
  const std::uint32_t* b;
  std::int64_t ldb, M, Q, N;
  bool accumulate;
};

// FP32 rows a tile pulls toward L2 while it runs (tile<..., true>): rows [0, rows) of length len,
// ld apart. Only hints: the bits do not change.
struct RowPrefetch {
  const float* src = nullptr;
  std::int64_t ld = 0, rows = 0, len = 0;
};

// One tile: rows [i0, i0 + R) x columns [j0, j0 + 16 BC). A last tile with fewer rows repeats
// its last row, whose results are dropped; columns past N are computed from B's padding and
// dropped.
template <int R, int BC, bool kPrefetch = false>
[[gnu::noinline]] void tile(const GemmArgs& g, std::int64_t i0, std::int64_t j0,
                            RowPrefetch pf = {}) {
  const std::int64_t rows = std::min<std::int64_t>(R, g.M - i0);
  std::int64_t off[R];
  for (int i = 0; i < R; ++i) off[i] = (i0 + std::min<std::int64_t>(i, rows - 1)) * g.a_row;
  VecF acc[R][BC];
  // The loops over the tile unrolled so that acc lives in registers (the tile trap in
  // core/simd.hpp).
#pragma GCC unroll 64
  for (auto& r : acc)
#pragma GCC unroll 64
    for (VecF& v : r) v = VecF::zero();
  const std::uint32_t* a = g.a;
  const std::uint32_t* b = g.b + j0;
  std::int64_t pf_row = 0, pf_off = 0;  // kPrefetch: two lines of a row each step, rows in turn
  for (std::int64_t q = 0; q < g.Q; ++q, a += g.a_q, b += g.ldb) {
    if constexpr (kPrefetch) {
      if (pf_off < pf.len && pf_row < pf.rows) {
        const float* line = pf.src + pf_row * pf.ld + pf_off;
        __builtin_prefetch(line, 0, 2);  // read, toward L2 (T1)
        __builtin_prefetch(line + kLanes, 0, 2);
      }
      if (++pf_row == R) {
        pf_row = 0;
        pf_off += 2 * kLanes;
      }
    }
    __m512i bv[BC];
    for (int j = 0; j < BC; ++j) bv[j] = simd::load_pairs(b + j * kLanes);
    for (int i = 0; i < R; ++i) {
      const __m512i ai = simd::broadcast_pair(a + off[i]);
      for (int j = 0; j < BC; ++j) acc[i][j] = simd::dot_pairs(acc[i][j], ai, bv[j]);
    }
  }
  // Lanes per column vector, fixed before the stores so that the unrolled stores keep the
  // accumulators in registers (computing them per store spilled all 24 to the stack).
  int lanes[BC];
  for (int j = 0; j < BC; ++j)
    lanes[j] = static_cast<int>(std::clamp<std::int64_t>(g.N - j0 - j * kLanes, 0, kLanes));
  float* row = g.c + i0 * g.ldc + j0;
#pragma GCC unroll 64
  for (int i = 0; i < R; ++i, row += g.ldc) {
    if (i >= rows) break;
#pragma GCC unroll 64
    for (int j = 0; j < BC; ++j) {
      VecF v = acc[i][j];
      if (g.accumulate) v = v + VecF::load_first(row + j * kLanes, lanes[j]);
      v.store_first(row + j * kLanes, lanes[j]);
    }
  }
}

// B that fits this in L2 is read from there by every row tile: rows go outer, so C is written
// in order. The fc layer's dW (a 6.4 MB C over a 200 KB B, 16 pairs deep) spent more on
// scattered stores than on its products with columns outer: 1.5 ms of a 10.6 ms bf16 update.
constexpr std::int64_t kL2ResidentB = std::int64_t{512} << 10;
bool b_stays_in_l2(std::int64_t Q, std::int64_t ldb) {
  return Q * ldb * static_cast<std::int64_t>(sizeof(std::uint32_t)) <= kL2ResidentB;
}

// Threads take runs of consecutive (row tile, column block) items: rows outer when B stays in
// L2 (see above), else column blocks outer, so that a block of B (Q x 16 BC pairs) stays in
// L1/L2 while every row tile passes over it. The runs are parallel_for_pieces', taken as threads
// come free: each tile's sums are the same whoever runs it, and an even split waited 0.1 ms an
// update on the slower vCPU in the fc layer's dW at two threads.
template <int R, int BC>
void run(const GemmArgs& g) {
  const std::int64_t row_tiles = (g.M + R - 1) / R, col_blocks = (g.N + 16 * BC - 1) / (16 * BC);
  const std::int64_t tile_flops = std::max<std::int64_t>(4 * R * BC * kLanes * g.Q, 1);
  const bool rows_outer = b_stays_in_l2(g.Q, g.ldb);
  parallel_for_pieces(0, row_tiles * col_blocks,
                      std::max<std::int64_t>(1, kGrainFlops / tile_flops), 1,
                      [&](std::int64_t lo, std::int64_t hi) {
                        for (std::int64_t t = lo; t < hi; ++t) {
                          const std::int64_t rt = rows_outer ? t / col_blocks : t % row_tiles;
                          const std::int64_t cb = rows_outer ? t % col_blocks : t / row_tiles;
                          tile<R, BC>(g, rt * R, cb * 16 * BC);
                        }
                      });
}

// run's rows-outer order with whole row tiles as the items, each followed by the norm terms of
// its rows (gemm_pairs_norm): 12 rows of the fc layer's dW are 150 KB, still in L2 when the
// terms read them.
template <int R, int BC>
void run_norm(const GemmArgs& g, SqNormParts& norm) {
  const std::int64_t row_tiles = (g.M + R - 1) / R, col_blocks = (g.N + 16 * BC - 1) / (16 * BC);
  const std::int64_t row_flops = std::max<std::int64_t>(4 * R * BC * kLanes * g.Q * col_blocks, 1);
  parallel_for_pieces(0, row_tiles, std::max<std::int64_t>(1, kGrainFlops / row_flops), 1,
                      [&](std::int64_t lo, std::int64_t hi) {
                        for (std::int64_t rt = lo; rt < hi; ++rt) {
                          for (std::int64_t cb = 0; cb < col_blocks; ++cb)
                            tile<R, BC>(g, rt * R, cb * 16 * BC);
                          const std::int64_t r1 = std::min<std::int64_t>(g.M, (rt + 1) * R);
                          norm.form(rt * R * g.N, r1 * g.N);
                        }
                      });
}

}  // namespace

namespace {

// The shape that wastes fewer padded columns: 32 (a batch) fits 2 vectors exactly.
bool two_vector_tiles(std::int64_t N) {
  const std::int64_t waste2 = (N + 31) / 32 * 32 - N, waste3 = (N + 47) / 48 * 48 - N;
  return waste2 < waste3;
}

// Column blocks a packed B panel holds: 128 or 192 columns, so that each of B's FP32 rows is
// read in runs of 8-12 cache lines, and a panel of the fc layer's dX (256 pairs deep) is 128-192
// KB, in L2 while the row tiles pass over it.
constexpr std::int64_t kPanelBlocks = 4;

// Chunks worth running for `flops` of work: at most one per thread and per item.
std::int64_t chunks_for(double flops, std::int64_t items) {
  const auto by_work = static_cast<std::int64_t>(flops / static_cast<double>(kGrainFlops));
  return std::clamp<std::int64_t>(std::min<std::int64_t>(by_work, items), 1, num_threads());
}

// Runs piece(buf, i) for i in [0, pieces), each taken by whichever thread comes free (see
// parallel_for_slots), buf the running thread's gemm_pairs_scratch(K) slice; on as many threads
// as the product's work warrants. A piece's results do not depend on who runs it. (Consecutive
// runs of pieces, one run a thread, left the faster vCPU waiting 0.17 ms an update in the fc
// layer's dX at two threads.)
template <class Piece>
void over_pieces(const GemmArgs& g, std::int64_t K, std::int64_t pieces, std::uint32_t* scratch,
                 Piece&& piece) {
  const std::int64_t threads =
      chunks_for(2.0 * static_cast<double>(g.M) * static_cast<double>(g.N * K), pieces);
  // Inside a task (the update's forward passes), the other task's thread may help with slot 1.
  parallel_for_slots(
      pieces, threads,
      [&](std::int64_t i, std::int64_t slot) { piece(scratch + slot * gemm_pairs_scratch(K), i); },
      num_threads());
}

template <int R, int BC>
void run_pack_a(const GemmArgs& g, const float* a, std::int64_t lda, std::int64_t K,
                std::uint32_t* scratch) {
  const std::int64_t row_tiles = (g.M + R - 1) / R, col_blocks = (g.N + 16 * BC - 1) / (16 * BC);
  over_pieces(g, K, row_tiles, scratch, [&](std::uint32_t* buf, std::int64_t rt) {
    const std::int64_t i0 = rt * R, rows = std::min<std::int64_t>(R, g.M - i0);
    pack_rows(buf, g.Q, a + i0 * lda, lda, rows, K);
    GemmArgs t = g;
    t.c = g.c + i0 * g.ldc;
    t.a = buf;
    t.M = rows;
    // While the first column block runs, the next row tile's FP32 rows come toward L2, so that
    // packing them reads cache instead of waiting on memory (2 lines a step: Q steps cover R
    // rows of up to 32 Q / R floats; the fc layer's 12 x 3136 need 1,176 of its 1,568 steps).
    const std::int64_t next = i0 + R;
    const RowPrefetch pf{a + next * lda, lda, std::min<std::int64_t>(R, g.M - next), K};
    for (std::int64_t cb = 0; cb < col_blocks; ++cb) {
      if (cb == 0 && next < g.M)
        tile<R, BC, true>(t, 0, 0, pf);
      else
        tile<R, BC>(t, 0, cb * 16 * BC);
    }
  });
}

template <int R, int BC>
void run_pack_b(const GemmArgs& g, const float* b, std::int64_t ldbf, std::int64_t K,
                std::uint32_t* scratch) {
  constexpr std::int64_t kPanel = kPanelBlocks * 16 * BC;
  const std::int64_t row_tiles = (g.M + R - 1) / R, panels = (g.N + kPanel - 1) / kPanel;
  over_pieces(g, K, panels, scratch, [&](std::uint32_t* buf, std::int64_t p) {
    const std::int64_t j0 = p * kPanel, cols = std::min(kPanel, g.N - j0);
    const std::int64_t blocks = (cols + 16 * BC - 1) / (16 * BC);
    pack_pairs(buf, kPanel, b + j0, ldbf, K, cols);
    zero_cols(buf, kPanel, g.Q, cols, blocks * 16 * BC);  // read by the last block, dropped
    GemmArgs t = g;
    t.c = g.c + j0;
    t.b = buf;
    t.ldb = kPanel;
    t.N = cols;
    for (std::int64_t rt = 0; rt < row_tiles; ++rt)
      for (std::int64_t cb = 0; cb < blocks; ++cb) tile<R, BC>(t, rt * R, cb * 16 * BC);
  });
}

}  // namespace

std::int64_t gemm_pairs_scratch(std::int64_t K) {
  // A row tile of A (at most 12 rows) or a panel of B (at most 192 columns), pairs(K) deep.
  return pairs(K) * std::max<std::int64_t>(12, kPanelBlocks * 16 * 3);
}

void gemm_pairs(float* c, std::int64_t ldc, const std::uint32_t* a, std::int64_t a_row,
                std::int64_t a_q, const std::uint32_t* b, std::int64_t ldb, std::int64_t M,
                std::int64_t Q, std::int64_t N, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  const GemmArgs g{c, ldc, a, a_row, a_q, b, ldb, M, Q, N, accumulate};
  if (two_vector_tiles(N))
    run<12, 2>(g);
  else
    run<8, 3>(g);
}

void gemm_pairs_norm(float* c, const std::uint32_t* a, std::int64_t a_row, std::int64_t a_q,
                     const std::uint32_t* b, std::int64_t ldb, std::int64_t M, std::int64_t Q,
                     std::int64_t N, bool accumulate, SqNormParts& norm) {
  DQN_CHECK(norm.data() == c && norm.size() == M * N,
            "gemm_pairs_norm: the norm parts must be reset for C (", M * N, " floats at ",
            static_cast<const void*>(c), "), got ", norm.size(), " floats at ",
            static_cast<const void*>(norm.data()));
  if (M <= 0 || N <= 0) return;
  const GemmArgs g{c, N, a, a_row, a_q, b, ldb, M, Q, N, accumulate};
  if (!b_stays_in_l2(Q, ldb))
    gemm_pairs(c, N, a, a_row, a_q, b, ldb, M, Q, N, accumulate);
  else if (two_vector_tiles(N))
    run_norm<12, 2>(g, norm);
  else
    run_norm<8, 3>(g, norm);
}

void gemm_pairs_pack_a(float* c, std::int64_t ldc, const float* a, std::int64_t lda,
                       const std::uint32_t* b, std::int64_t ldb, std::int64_t M, std::int64_t K,
                       std::int64_t N, bool accumulate, std::uint32_t* scratch) {
  if (M <= 0 || N <= 0) return;
  // A's packed rows are pairs(K) apart in the buffer (a_row = Q, a_q = 1).
  const GemmArgs g{c, ldc, nullptr, pairs(K), 1, b, ldb, M, pairs(K), N, accumulate};
  if (two_vector_tiles(N))
    run_pack_a<12, 2>(g, a, lda, K, scratch);
  else
    run_pack_a<8, 3>(g, a, lda, K, scratch);
}

void gemm_pairs_pack_b(float* c, std::int64_t ldc, const std::uint32_t* a, std::int64_t a_row,
                       std::int64_t a_q, const float* b, std::int64_t ldbf, std::int64_t M,
                       std::int64_t K, std::int64_t N, bool accumulate, std::uint32_t* scratch) {
  if (M <= 0 || N <= 0) return;
  const GemmArgs g{c, ldc, a, a_row, a_q, nullptr, 0, M, pairs(K), N, accumulate};
  if (two_vector_tiles(N))
    run_pack_b<12, 2>(g, b, ldbf, K, scratch);
  else
    run_pack_b<8, 3>(g, b, ldbf, K, scratch);
}
#endif

}  // namespace bf16

// ---------------------------------------------------------------- linear

#if defined(DQN_HAVE_BF16_DOT)

// Forward:  out^T (C_out, N) = W (C_out, C_in) . X^T: A = W's rows paired along C_in, a row
//           tile at a time (gemm_pairs_pack_a), B = X paired along C_in, column per sample.
// Backward: dX (N, C_in) += dY (N, C_out) . W: A = dY's rows paired along C_out, B = W's rows
//           paired (rows 2q, 2q+1 interleaved), a panel of columns at a time (gemm_pairs_pack_b);
//           dW (C_out, C_in) (+)= dY^T . X: A = dY paired along N and read down its columns,
//           B = X's rows paired.
std::int64_t linear_bf16_workspace_floats(std::int64_t N, std::int64_t C_in, std::int64_t C_out) {
  using bf16::padded_cols;
  using bf16::pairs;
  const std::int64_t fwd =
      pairs(C_in) * padded_cols(N) + C_out * N + num_threads() * bf16::gemm_pairs_scratch(C_in);
  const std::int64_t bwd = N * pairs(C_out) + num_threads() * bf16::gemm_pairs_scratch(C_out) +
                           pairs(N) * C_out + pairs(N) * padded_cols(C_in);
  return std::max(fwd, bwd);
}

void linear_forward_bf16_fast(float* out, const float* x, const float* w, const float* b,
                              std::int64_t N, std::int64_t C_in, std::int64_t C_out,
                              float* workspace) {
  using bf16::pairs;
  const std::int64_t Q = pairs(C_in), ldb = bf16::padded_cols(N);
  auto* xc = reinterpret_cast<std::uint32_t*>(workspace);
  float* yt = reinterpret_cast<float*>(xc + Q * ldb);
  auto* scratch = reinterpret_cast<std::uint32_t*>(yt + C_out * N);
  bf16::pack_cols(xc, ldb, x, C_in, N, C_in);
  bf16::zero_cols(xc, ldb, Q, N, ldb);
  bf16::gemm_pairs_pack_a(yt, N, w, C_in, xc, ldb, C_out, C_in, N, /*accumulate=*/false, scratch);
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t o = 0; o < C_out; ++o) out[n * C_out + o] = yt[o * N + n] + (b ? b[o] : 0.f);
}

void linear_backward_bf16_fast(float* dx, float* dw, float* db, const float* dout, const float* x,
                               const float* w, std::int64_t N, std::int64_t C_in,
                               std::int64_t C_out, bool accumulate_dw, float* workspace,
                               SqNormParts* dw_norm) {
  using bf16::pairs;
  const std::int64_t ldb = bf16::padded_cols(C_in);
  auto* gr = reinterpret_cast<std::uint32_t*>(workspace);  // dY rows paired along C_out
  std::uint32_t* scratch = gr + N * pairs(C_out);          // W panels, per thread
  std::uint32_t* gp = scratch + num_threads() * bf16::gemm_pairs_scratch(C_out);
  std::uint32_t* xp = gp + pairs(N) * C_out;  // X rows 2q, 2q+1 interleaved
  if (dx) {
    bf16::pack_rows(gr, pairs(C_out), dout, C_out, N, C_out);
    bf16::gemm_pairs_pack_b(dx, C_in, gr, pairs(C_out), 1, w, C_in, N, C_out, C_in,
                            /*accumulate=*/true, scratch);
  }
  if (dw) {
    bf16::pack_pairs(gp, C_out, dout, C_out, N, C_out);  // dY rows 2q, 2q+1 interleaved
    bf16::pack_pairs(xp, ldb, x, C_in, N, C_in);
    bf16::zero_cols(xp, ldb, pairs(N), C_in, ldb);
    if (dw_norm != nullptr && !accumulate_dw && dw_norm->data() == dw &&
        dw_norm->size() == C_out * C_in)
      bf16::gemm_pairs_norm(dw, gp, 1, C_out, xp, ldb, C_out, pairs(N), C_in, false, *dw_norm);
    else
      bf16::gemm_pairs(dw, C_in, gp, 1, C_out, xp, ldb, C_out, pairs(N), C_in, accumulate_dw);
  }
  if (db) linear_bias_grad_fast(db, dout, N, C_out, accumulate_dw);
}

#else  // no AVX512_BF16: round the operands into FP32 copies, then the FP32 kernels

std::int64_t linear_bf16_workspace_floats(std::int64_t N, std::int64_t C_in, std::int64_t C_out) {
  return N * C_in + C_out * C_in + N * C_out;
}

void linear_forward_bf16_fast(float* out, const float* x, const float* w, const float* b,
                              std::int64_t N, std::int64_t C_in, std::int64_t C_out,
                              float* workspace) {
  float* xr = workspace;
  float* wr = xr + N * C_in;
  bf16_round_fast(xr, x, N * C_in);
  bf16_round_fast(wr, w, C_out * C_in);
  linear_forward_fast(out, xr, wr, b, N, C_in, C_out);
}

void linear_backward_bf16_fast(float* dx, float* dw, float* db, const float* dout, const float* x,
                               const float* w, std::int64_t N, std::int64_t C_in,
                               std::int64_t C_out, bool accumulate_dw, float* workspace,
                               SqNormParts* dw_norm) {
  float* xr = workspace;
  float* wr = xr + N * C_in;
  float* gr = wr + C_out * C_in;
  bf16_round_fast(xr, x, N * C_in);
  bf16_round_fast(wr, w, C_out * C_in);
  bf16_round_fast(gr, dout, N * C_out);
  if (dx) matmul_nn_fast(dx, gr, wr, N, C_out, C_in, /*accumulate=*/true);
  (void)dw_norm;  // left unformed: finish() reads dw whole
  if (dw) matmul_tn_fast(dw, gr, xr, C_out, N, C_in, accumulate_dw);
  if (db) linear_bias_grad_fast(db, dout, N, C_out, accumulate_dw);
}

#endif

}  // namespace dqn
