// core/bf16_pack.hpp: core-internal pieces of the bfloat16 kernels (core/bf16.hpp): packing FP32
// matrices into bfloat16 pairs, and the one register-tiled GEMM over pairs that the linear
// layers and the convolution's input gradient share. Nothing outside core/ includes this but
// its tests.
//
// A pair is a uint32 holding bf16(lo) in its low half and bf16(hi) in its high half: the operand
// layout of VDPBF16PS. A product C = A . B over a summed dimension K runs over Q = ceil(K/2)
// pairs of it: A supplies one pair per (row i, q), broadcast to all lanes; B supplies, per q, a
// row of pairs, one per output column, loaded as vectors of 16 columns. An odd K pads its last
// pair with a zero high half.
#pragma once

#include <cstdint>

namespace dqn {
class SqNormParts;  // core/reduce.hpp
}

namespace dqn::bf16 {

inline std::int64_t pairs(std::int64_t k) {
  return (k + 1) / 2;
}

// Columns a packed B must have room for (readable; the extra ones are never stored): N rounded
// up to the widest column block the GEMM uses (48 = 3 vectors of 16).
inline std::int64_t padded_cols(std::int64_t n) {
  return (n + 47) / 48 * 48;
}

// dst[q * ldd + j] = pair(src[2q * lds + j], src[(2q+1) * lds + j]) for q < pairs(K), j < N:
// rows 2q and 2q+1 of the (K, N) matrix src interleaved. Columns [N, ldd) are left alone.
void pack_pairs(std::uint32_t* dst, std::int64_t ldd, const float* src, std::int64_t lds,
                std::int64_t K, std::int64_t N);
// pack_pairs of the (K, N) matrix float(src) * scale: uint8 frames (the tape's input_u8), formed
// as u8_to_float_fast forms them (one product, rounded to FP32) and then rounded to bfloat16,
// so the same bits as u8_to_float_fast into a buffer and pack_pairs from it, without the
// buffer: a quarter of the bytes read, none written in FP32.
void pack_pairs_u8(std::uint32_t* dst, std::int64_t ldd, const std::uint8_t* src, std::int64_t lds,
                   std::int64_t K, std::int64_t N, float scale);
// dst[i * ldd + q] = pair(src[i * lds + 2q], src[i * lds + 2q + 1]) for i < M, q < pairs(K):
// each row of the (M, K) matrix src in bfloat16, consecutive elements paired.
void pack_rows(std::uint32_t* dst, std::int64_t ldd, const float* src, std::int64_t lds,
               std::int64_t M, std::int64_t K);
// dst[q * ldd + n] = pair(src[n * lds + 2q], src[n * lds + 2q + 1]) for n < N, q < pairs(K):
// the rows of the (N, K) matrix src paired along K and laid out column-wise (pack_rows, then
// transposed), the B operand of a product with src^T.
void pack_cols(std::uint32_t* dst, std::int64_t ldd, const float* src, std::int64_t lds,
               std::int64_t N, std::int64_t K);
// Zeroes columns [from, to) of rows [0, rows) of a packed matrix of leading dimension ld.
void zero_cols(std::uint32_t* dst, std::int64_t ld, std::int64_t rows, std::int64_t from,
               std::int64_t to);

// C (M, N) (+)= A . B over Q pairs: C[i, j] (+)= sum_q dot(A(i, q), B(q, j)), where
// A(i, q) = a[i * a_row + q * a_q] and B(q, j) = b[q * ldb + j] with ldb >= padded_cols(N).
// Register tiles of rows x column vectors (see bf16.cpp for the shapes), threads over tiles:
// each output's sum runs whole on one thread, in q order, whatever the thread count.
// Needs AVX512_BF16 (DQN_HAVE_BF16_DOT); not declared otherwise.
void gemm_pairs(float* c, std::int64_t ldc, const std::uint32_t* a, std::int64_t a_row,
                std::int64_t a_q, const std::uint32_t* b, std::int64_t ldb, std::int64_t M,
                std::int64_t Q, std::int64_t N, bool accumulate);

// gemm_pairs writing C (N columns, ldc == N: its rows one after another) that also forms the
// clipping-norm terms of C in `norm` (reset for c, M * N floats; core/reduce.hpp) as it goes:
// the threads take whole row tiles, and each forms the terms of its rows right after storing
// them, while they are in cache. The same C as gemm_pairs; where B would not stay in L2 while
// the row tiles pass over it, this is gemm_pairs and the terms are left to norm->finish().
void gemm_pairs_norm(float* c, const std::uint32_t* a, std::int64_t a_row, std::int64_t a_q,
                     const std::uint32_t* b, std::int64_t ldb, std::int64_t M, std::int64_t Q,
                     std::int64_t N, bool accumulate, SqNormParts& norm);

// The same products with the large operand given in FP32 and packed piece by piece, each piece
// just before the tiles that use it, into a per-thread buffer that stays in cache: a weight
// matrix (the fc layer's 6.4 MB) is then read once from memory and never written back packed
// (pack all, then multiply, wrote 3.2 MB and read it again, per call). The same bits as
// pack_rows / pack_pairs followed by gemm_pairs: every output is still one tile's sum in q order.
// scratch: gemm_pairs_scratch(K) uint32 for each of num_threads() threads.
std::int64_t gemm_pairs_scratch(std::int64_t K);
// C (M, N) (+)= pack_rows(A) . B: A (M, K) FP32 rows (lda), packed a row tile at a time.
void gemm_pairs_pack_a(float* c, std::int64_t ldc, const float* a, std::int64_t lda,
                       const std::uint32_t* b, std::int64_t ldb, std::int64_t M, std::int64_t K,
                       std::int64_t N, bool accumulate, std::uint32_t* scratch);
// C (M, N) (+)= A . pack_pairs(B): B (K, N) FP32 rows (ldbf), packed a panel of columns at a
// time; A as gemm_pairs' (a_row, a_q) over pairs(K).
void gemm_pairs_pack_b(float* c, std::int64_t ldc, const std::uint32_t* a, std::int64_t a_row,
                       std::int64_t a_q, const float* b, std::int64_t ldbf, std::int64_t M,
                       std::int64_t K, std::int64_t N, bool accumulate, std::uint32_t* scratch);

}  // namespace dqn::bf16
