// core/linear.cpp: the fast fully connected layer, built on the GEMMs of core/matmul.cpp (which
// own the threading) plus SIMD bias broadcast and column sums.
#include "core/linear.hpp"

#include "core/matmul.hpp"
#include "core/parallel.hpp"
#include "core/reduce.hpp"
#include "core/simd.hpp"

namespace dqn {

using simd::VecF;

namespace {
// GEMM work of each backward product above which dX and dW run as two tasks on two threads:
// 1 MFLOP is ~10 us on one core, several times an OpenMP fork/join. The MLP's 256x256 layer at
// batch 64 (8.4 MFLOP each) qualifies; its 4->256 and 256->2 layers (0.1 MFLOP) stay inline.
constexpr std::int64_t kTaskGrainFlops = std::int64_t{1} << 20;
// Row pieces of dW when the backward is scheduled piece by piece: dX + 14 pieces + db fill
// parallel_for_pieces' 16 pieces at two threads, one index each; a piece of the Nature CNN's
// 3136x512 layer is about 0.06 ms, the finest the waiting can come down to.
constexpr std::int64_t kWeightGradPieces = 14;
// Row pieces of dW when the pieces also form dw's clipping-norm terms (SqNormParts): one row
// tile each where the rows allow (8 rows of the Nature CNN's layer, 100 KB), so that a piece is
// still in L1/L2 when its terms are formed, right after its stores.
constexpr std::int64_t kNormPieces = 64;
}  // namespace

void linear_forward_fast(float* out, const float* x, const float* w, const float* b, std::int64_t N,
                         std::int64_t C_in, std::int64_t C_out) {
  if (b) {
    // out rows start as the bias, then the GEMM accumulates onto them: one pass over out.
    for (std::int64_t i = 0; i < N; ++i) {
      float* row = out + i * C_out;
      std::int64_t o = 0;
      for (; o + VecF::kLanes <= C_out; o += VecF::kLanes) VecF::load(b + o).store(row + o);
      for (; o < C_out; ++o) row[o] = b[o];
    }
  }
  matmul_nt_fast(out, x, w, N, C_in, C_out, /*accumulate=*/b != nullptr);
}

namespace {
void linear_backward(float* dx, float* dw, float* db, const float* dout, const float* x,
                     const float* w, std::int64_t N, std::int64_t C_in, std::int64_t C_out,
                     bool accumulate_dw, SqNormParts* dw_norm = nullptr) {
  auto dx_whole = [&] {  // (N,C_out).(C_out,C_in)
    if (dx) matmul_nn_fast(dx, dout, w, N, C_out, C_in, /*accumulate=*/true);
  };
  auto dw_whole = [&] {
    matmul_tn_fast(dw, dout, x, C_out, N, C_in, accumulate_dw);  // (N,C_out)^T.(N,C_in)
    if (db) linear_bias_grad_fast(db, dout, N, C_out, accumulate_dw);
  };
  // dX and dW (+ db) are independent: on two threads they run side by side instead of each GEMM
  // splitting its rows in two (one fork/join instead of two, and products of full height).
  const bool parallel = dx != nullptr && 2 * N * C_in * C_out >= kTaskGrainFlops;
  // Where dW streams (the Nature CNN's 3136x512 layer at batch 32), it goes as row pieces that
  // the threads take as they come free, after dX whole. As two whole tasks the dW thread made
  // the other wait: dW writes a weight-sized C and took 0.89 ms against dX's 0.67 ms (the
  // two-thread update, timed per task on a 2-vCPU Zen 5 VM; the region went from 0.92 to 0.84 ms
  // an update). Each piece has the bits of its rows of the whole product (see matmul_tn_pieces),
  // and dX is computed whole, so the result does not depend on who ran what. (A first version
  // cut both products by columns and measured no better than the two tasks; row pieces keep
  // dW's writes in memory order, as broadcast_gemm's rows_outer does.)
  // With dw_norm (reset for dw), dW goes in pieces at any thread count, each forming its
  // norm terms right after it is written; where dW does not stream, the terms are left to
  // dw_norm->finish(), which then reads dw whole as sqnorm_fast would.
  const bool norm = dw_norm != nullptr && dw_norm->data() == dw &&
                    dw_norm->size() == C_out * C_in &&
                    matmul_tn_pieces(C_out, N, C_in, kNormPieces) > 0;
  const std::int64_t dw_pieces =
      matmul_tn_pieces(C_out, N, C_in, norm ? kNormPieces : kWeightGradPieces);
  if (!norm && (!parallel || dw_pieces == 0 || parallel_chunks(2, 1) < 2)) {
    parallel_tasks(parallel, dx_whole, dw_whole);
    return;
  }
  // Piece 0 is dX, pieces 1 .. dw_pieces dW's rows, the last db.
  const std::int64_t total = 1 + dw_pieces + (db ? 1 : 0);
  parallel_for_pieces(0, total, 1, 1, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t p = lo; p < hi; ++p) {
      if (p == 0)
        dx_whole();  // inside a piece: its GEMM stays on this thread (see parallel.hpp)
      else if (p <= dw_pieces) {
        matmul_tn_piece(dw, dout, x, C_out, N, C_in, accumulate_dw, p - 1, dw_pieces);
        if (norm) {
          std::int64_t lo = 0, hi = 0;
          matmul_tn_piece_rows(C_out, p - 1, dw_pieces, &lo, &hi);
          dw_norm->form(lo * C_in, hi * C_in);
        }
      } else
        linear_bias_grad_fast(db, dout, N, C_out, accumulate_dw);
    }
  });
}

}  // namespace

void linear_bias_grad_fast(float* db, const float* dout, std::int64_t N, std::int64_t C_out,
                           bool accumulate) {
  std::int64_t i = 0;
  if (!accumulate) {  // db = row 0, then rows 1.. added in the same order
    for (std::int64_t o = 0; o < C_out; ++o) db[o] = N > 0 ? dout[o] : 0.0f;
    i = 1;
  }
  for (; i < N; ++i) {
    const float* g = dout + i * C_out;
    std::int64_t o = 0;
    for (; o + VecF::kLanes <= C_out; o += VecF::kLanes)
      (VecF::load(db + o) + VecF::load(g + o)).store(db + o);
    for (; o < C_out; ++o) db[o] += g[o];
  }
}

void linear_backward_fast(float* dx, float* dw, float* db, const float* dout, const float* x,
                          const float* w, std::int64_t N, std::int64_t C_in, std::int64_t C_out) {
  linear_backward(dx, dw, db, dout, x, w, N, C_in, C_out, /*accumulate_dw=*/true);
}

void linear_backward_overwrite_fast(float* dx, float* dw, float* db, const float* dout,
                                    const float* x, const float* w, std::int64_t N,
                                    std::int64_t C_in, std::int64_t C_out, SqNormParts* dw_norm) {
  linear_backward(dx, dw, db, dout, x, w, N, C_in, C_out, /*accumulate_dw=*/false, dw_norm);
}

}  // namespace dqn
