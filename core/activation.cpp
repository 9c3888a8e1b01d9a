// core/activation.cpp: SIMD ReLU. Forward is max(0, x) with 0 as the FIRST operand: the x86
// max instructions return the second operand when either is NaN (or both are zeros), which is
// exactly x < 0 ? 0 : x. Backward uses VecF::where_positive (a compare-and-mask, exact).
#include "core/activation.hpp"

#include "core/simd.hpp"
#include "core/simd_loop.hpp"

namespace dqn {

using detail::for_each_lane;
using simd::VecF;

void relu_forward_fast(float* out, const float* x, std::int64_t n) {
  for_each_lane(
      n, [=](std::int64_t i) { VecF::zero().max(VecF::load(x + i)).store(out + i); },
      [=](std::int64_t i) { out[i] = x[i] < 0.0f ? 0.0f : x[i]; });
}

void relu_backward_fast(float* dx, const float* dout, const float* x, std::int64_t n) {
  // dx + (x > 0 ? dout : 0): adding +0 leaves dx unchanged (dx = -0 becomes +0, the only
  // difference from the reference's skip, and harmless).
  for_each_lane(
      n,
      [=](std::int64_t i) {
        (VecF::load(dx + i) + VecF::load(x + i).where_positive(VecF::load(dout + i))).store(dx + i);
      },
      [=](std::int64_t i) {
        if (x[i] > 0.0f) dx[i] += dout[i];
      });
}

void relu_backward_set_fast(float* dx, const float* dout, const float* x, std::int64_t n) {
  // 0 + select, as relu_backward_fast on a zeroed dx: the same bits, one read stream fewer.
  for_each_lane(
      n,
      [=](std::int64_t i) {
        (VecF::zero() + VecF::load(x + i).where_positive(VecF::load(dout + i))).store(dx + i);
      },
      [=](std::int64_t i) { dx[i] = x[i] > 0.0f ? 0.0f + dout[i] : 0.0f; });
}

}  // namespace dqn
