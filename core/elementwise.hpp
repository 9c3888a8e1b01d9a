// core/elementwise.hpp: element-wise arithmetic on flat arrays (tensor ops, the TD target, the
// optimizer's helpers, Atari frame conversion).
//
// Legend: n elements; every array holds n. Outputs may alias inputs exactly (out == a is fine,
// partial overlap is not).
//
//   add_fast(out, a, b, n);           // out = a + b
//   axpy_fast(y, 0.5f, x, n);         // y += 0.5 x
//   u8_to_float_fast(obs, frames, 1.0f / 255.0f, 4 * 84 * 84);
//   fill_fast(grad, 0.0f, n);         // grad = 0, on every thread for a large n
//
// *_ref are plain loops for any T; *_fast are float SIMD with a scalar tail, split over threads
// only above kElementwiseGrain elements. Every kernel here is exact per element (one rounding),
// so fast and ref agree bit for bit, except axpy_fast, whose fused multiply-add rounds once where
// the reference rounds twice.
#pragma once

#include <cstdint>

namespace dqn {

// Elements below which element-wise kernels stay on the calling thread: 2^17 floats are 512 KiB
// per array, ~20 us at one core's ~28 GB/s triad bandwidth (bench_peak), many times an OpenMP
// fork/join. Neither a 256x256 weight (65,536) nor the CartPole MLP's whole parameter vector
// (67,586) spawns a thread; the Nature CNN's (1,686,022) uses every thread.
constexpr std::int64_t kElementwiseGrain = std::int64_t{1} << 17;

// out (n) = a (n) + b (n)
template <class T>
void add_ref(T* out, const T* a, const T* b, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}
// out (n) = a (n) - b (n)
template <class T>
void sub_ref(T* out, const T* a, const T* b, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] - b[i];
}
// out (n) = a (n) * b (n)
template <class T>
void mul_ref(T* out, const T* a, const T* b, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
}
// out (n) = s * x (n)
template <class T>
void scale_ref(T* out, const T* x, T s, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = s * x[i];
}
// y (n) += alpha * x (n)
template <class T>
void axpy_ref(T* y, T alpha, const T* x, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}
// out (n) = value (zeroing gradients between updates).
template <class T>
void fill_ref(T* out, T value, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = value;
}
// out (n) = x (n, bytes) * scale, e.g. scale = 1/255 for Atari frames.
template <class T>
void u8_to_float_ref(T* out, const std::uint8_t* x, T scale, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(x[i]) * scale;
}

void add_fast(float* out, const float* a, const float* b, std::int64_t n);
void sub_fast(float* out, const float* a, const float* b, std::int64_t n);
void mul_fast(float* out, const float* a, const float* b, std::int64_t n);
void scale_fast(float* out, const float* x, float s, std::int64_t n);
void axpy_fast(float* y, float alpha, const float* x, std::int64_t n);
void u8_to_float_fast(float* out, const std::uint8_t* x, float scale, std::int64_t n);
void fill_fast(float* out, float value, std::int64_t n);

}  // namespace dqn
