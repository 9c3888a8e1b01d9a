// core/matmul.hpp: the three matrix products a linear layer needs.
//
// Legend: M rows of the output, N columns of the output, K the summed dimension.
// All matrices are row-major and contiguous. `accumulate` false writes C, true adds into C.
//
//   NN: C(M,N) (+)= A(M,K) . B(K,N)      linear backward dX = dY . W
//   NT: C(M,N) (+)= A(M,K) . B(N,K)^T    linear forward  Y  = X . W^T
//   TN: C(M,N) (+)= A(K,M)^T . B(K,N)    linear backward dW = dY^T . X
//
// *_ref are the textbook triple loops (any T, no threads, no intrinsics): the oracle.
// *_fast: for a small batch (2 to 64 rows on AVX-512) against a weight of 2^16 elements or more,
// register tiles that read the weight in place (no packing; see matmul.cpp); otherwise Eigen's
// GEMM on mapped memory, split over rows with parallel_for when large enough.
#pragma once

#include <cstdint>
#include <type_traits>

namespace dqn {

template <class T>
void matmul_nn_ref(T* c, const T* a, const T* b, std::int64_t M, std::int64_t K, std::int64_t N,
                   bool accumulate) {
  for (std::int64_t i = 0; i < M; ++i)
    for (std::int64_t j = 0; j < N; ++j) {
      T sum = accumulate ? c[i * N + j] : T(0);
      for (std::int64_t k = 0; k < K; ++k) sum += a[i * K + k] * b[k * N + j];
      c[i * N + j] = sum;
    }
}

template <class T>
void matmul_nt_ref(T* c, const T* a, const T* b, std::int64_t M, std::int64_t K, std::int64_t N,
                   bool accumulate) {
  for (std::int64_t i = 0; i < M; ++i)
    for (std::int64_t j = 0; j < N; ++j) {
      T sum = accumulate ? c[i * N + j] : T(0);
      for (std::int64_t k = 0; k < K; ++k) sum += a[i * K + k] * b[j * K + k];
      c[i * N + j] = sum;
    }
}

template <class T>
void matmul_tn_ref(T* c, const T* a, const T* b, std::int64_t M, std::int64_t K, std::int64_t N,
                   bool accumulate) {
  for (std::int64_t i = 0; i < M; ++i)
    for (std::int64_t j = 0; j < N; ++j) {
      T sum = accumulate ? c[i * N + j] : T(0);
      for (std::int64_t k = 0; k < K; ++k) sum += a[k * M + i] * b[k * N + j];
      c[i * N + j] = sum;
    }
}

void matmul_nn_fast(float* c, const float* a, const float* b, std::int64_t M, std::int64_t K,
                    std::int64_t N, bool accumulate);
void matmul_nt_fast(float* c, const float* a, const float* b, std::int64_t M, std::int64_t K,
                    std::int64_t N, bool accumulate);

// A non-owning reference to the callable (no allocation, unlike std::function with captures:
// the update must not allocate after its first step); the callable must outlive the call.
class RowFormer {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, RowFormer>>>
  RowFormer(const F& f)  // NOLINT(google-explicit-constructor): passed as a lambda
      : ctx_(&f), call_([](const void* ctx, std::int64_t j, std::int64_t count, float* dst) {
          (*static_cast<const F*>(ctx))(j, count, dst);
        }) {}
  void operator()(std::int64_t j, std::int64_t count, float* dst) const {
    call_(ctx_, j, count, dst);
  }

 private:
  const void* ctx_;
  void (*call_)(const void*, std::int64_t, std::int64_t, float*);
};

// NT with B's rows formed on demand from other arrays (the noisy layer's W = mu + sigma . noise,
// core/noisy_linear.hpp): form(j, count, dst) must write rows [j, j + count) of B (count x K)
// to dst, and is called from several threads for disjoint rows. With `keep` (N x K) B is formed
// into it and left there whole; with null, into a per-thread tile buffer and then dropped. The
// result has the bits of forming B whole and calling matmul_nt_fast. On the streaming path
// (see above) each register tile forms its own rows right before reading them, so B is read
// from cache instead of being written to memory and read back; otherwise B is formed whole
// first. src_a, src_b (N x K each, both or neither): the arrays row j of B is formed from (mu
// and sigma); each tile prefetches the next tile's rows of them while it computes, so that
// forming overlaps the arithmetic instead of waiting on memory.
void matmul_nt_formed_fast(float* c, const float* a, std::int64_t M, std::int64_t K, std::int64_t N,
                           bool accumulate, float* keep, const RowFormer& form,
                           const float* src_a = nullptr, const float* src_b = nullptr);
void matmul_tn_fast(float* c, const float* a, const float* b, std::int64_t M, std::int64_t K,
                    std::int64_t N, bool accumulate);

// TN cut into pieces that the caller schedules itself: linear_backward hands dW's pieces to
// threads as they come free, beside dX, so that the two products' unequal times (dW writes a
// weight-sized C) leave no thread waiting. matmul_tn_pieces(M, K, N, most) is how many pieces
// C's rows cut into, at most `most`, where the product streams (see the file comment), and 0
// where it does not (Eigen's GEMM has no piece form). matmul_tn_piece computes piece p of
// `pieces` on the calling thread: whole register tiles of rows, each piece C's rows whole, so
// that it still writes memory in order. Every element of C is one tile's sum in k order, so the
// pieces, in any order on any threads, give matmul_tn_fast's bits.
std::int64_t matmul_tn_pieces(std::int64_t M, std::int64_t K, std::int64_t N, std::int64_t most);
void matmul_tn_piece(float* c, const float* a, const float* b, std::int64_t M, std::int64_t K,
                     std::int64_t N, bool accumulate, std::int64_t p, std::int64_t pieces);
// The rows [*lo, *hi) of C that piece p of `pieces` writes (M rows in all).
void matmul_tn_piece_rows(std::int64_t M, std::int64_t p, std::int64_t pieces, std::int64_t* lo,
                          std::int64_t* hi);

}  // namespace dqn
