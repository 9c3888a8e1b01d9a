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
void matmul_tn_fast(float* c, const float* a, const float* b, std::int64_t M, std::int64_t K,
                    std::int64_t N, bool accumulate);

}  // namespace dqn
