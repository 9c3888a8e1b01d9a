// core/elementwise.cpp: the SIMD element-wise kernels. Each is one pass of VecF loads, one
// operation and a store, with the scalar tail spelled out, split over parallel_for chunks of at
// least kElementwiseGrain elements.
#include "core/elementwise.hpp"

#include <cmath>

#include "core/parallel.hpp"
#include "core/simd.hpp"
#include "core/simd_loop.hpp"

namespace dqn {

using detail::for_each_lane;
using simd::VecF;

void add_fast(float* out, const float* a, const float* b, std::int64_t n) {
  for_each_lane(
      n, [=](std::int64_t i) { (VecF::load(a + i) + VecF::load(b + i)).store(out + i); },
      [=](std::int64_t i) { out[i] = a[i] + b[i]; });
}

void sub_fast(float* out, const float* a, const float* b, std::int64_t n) {
  for_each_lane(
      n, [=](std::int64_t i) { (VecF::load(a + i) - VecF::load(b + i)).store(out + i); },
      [=](std::int64_t i) { out[i] = a[i] - b[i]; });
}

void mul_fast(float* out, const float* a, const float* b, std::int64_t n) {
  for_each_lane(
      n, [=](std::int64_t i) { (VecF::load(a + i) * VecF::load(b + i)).store(out + i); },
      [=](std::int64_t i) { out[i] = a[i] * b[i]; });
}

void scale_fast(float* out, const float* x, float s, std::int64_t n) {
  const VecF sv = VecF::set1(s);
  for_each_lane(
      n, [=](std::int64_t i) { (sv * VecF::load(x + i)).store(out + i); },
      [=](std::int64_t i) { out[i] = s * x[i]; });
}

void axpy_fast(float* y, float alpha, const float* x, std::int64_t n) {
  const VecF av = VecF::set1(alpha);
  // Fused: y + alpha x with one rounding, in the tail too (std::fma) so every element is treated
  // alike whatever its position.
  for_each_lane(
      n, [=](std::int64_t i) { av.fma(VecF::load(x + i), VecF::load(y + i)).store(y + i); },
      [=](std::int64_t i) { y[i] = std::fma(alpha, x[i], y[i]); });
}

void u8_to_float_fast(float* out, const std::uint8_t* x, float scale, std::int64_t n) {
  const VecF sv = VecF::set1(scale);
  for_each_lane(
      n, [=](std::int64_t i) { (VecF::load_u8(x + i) * sv).store(out + i); },
      [=](std::int64_t i) { out[i] = static_cast<float>(x[i]) * scale; });
}

void fill_fast(float* out, float value, std::int64_t n) {
  // On one thread the Nature CNN's 6.7 MB of gradients took 0.37 ms to zero; the memory
  // bandwidth of a second core is most of what there is to gain.
  const VecF v = VecF::set1(value);
  for_each_lane(
      n, [=](std::int64_t i) { v.store(out + i); }, [=](std::int64_t i) { out[i] = value; });
}

}  // namespace dqn
