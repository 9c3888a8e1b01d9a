// core/bf16.hpp: the bfloat16 mixed-precision kernels (config `precision=bf16`): the Nature CNN's
// matrix products and convolutions with their operands rounded to bfloat16 and their sums kept
// in FP32, as mixed-precision training does it (Micikevicius et al. 2018, "Mixed Precision
// Training"; Kalamkar et al. 2019, "A Study of BFLOAT16 for Deep Learning Training").
//
// What is rounded. bfloat16 keeps float's 8-bit exponent and 8 of its 24 significand bits
// (7 stored). Every weight, activation and incoming gradient that enters a product is rounded to
// the nearest bfloat16 (ties to even); the product of two bfloat16 values is exact in FP32 and
// the sums are FP32. The master weights Adam updates, the biases, the loss and every
// element-wise op stay FP32: only the operands of the products lose bits. bfloat16's unit
// roundoff is u = 2^-8 (8 significand bits), so a rounded operand is within 2^-8 of its value
// (relative) and an output y = sum_k a_k b_k moves by at most (2^-7 + 2^-16) sum_k |a_k b_k|
// (both operands rounded) beyond FP32's own summation error: the error the tests state
// (tests/core/test_bf16.cpp); typical errors are a few times smaller.
//
// Three ways to compute the same thing, side by side:
//   *_bf16_ref   the oracle: round the operands to bfloat16 (bf16_round), then the plain FP32
//                *_ref loops. Any CPU.
//   *_bf16_fast  with AVX512_BF16 (Zen 4 and later, Intel Xeons since Cooper Lake): register
//                tiles of VDPBF16PS, which multiplies 16 pairs of bfloat16 and adds both
//                products into 16 FP32 sums, i.e. two FMAs' worth of work per lane per
//                instruction. Operands are packed to bfloat16 pairs once per call; sums that
//                belong to one output are never split over threads, so the bits do not depend
//                on the thread count.
//                Without AVX512_BF16 (bf16_dot_available() false): the operands are rounded
//                into FP32 copies and the FP32 fast kernels run on them. The same numbers up to
//                FP32 summation order, at FP32 speed: bf16 is then a numerical setting only.
// Trap: VDPBF16PS flushes bfloat16 subnormals (below 1.2e-38) to zero, in and out; bf16_round
// does too (as VCVTNEPS2BF16), so the reference and the fast path round alike.
//
// AMX (Sapphire Rapids' tile unit) is not used: this project's machines have none to test it
// on, and code that cannot be run here is not shipped. bf16_amx_available() reports whether the
// CPU has it; the tests and benchmarks say so when it is present and unused.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "core/conv2d.hpp"
#include "core/linear.hpp"

namespace dqn {

// The bfloat16 bits of x, rounded to nearest with ties to even; NaN stays a (quiet) NaN,
// +-inf stays +-inf, a float subnormal becomes +-0 (as VCVTNEPS2BF16, which treats denormal
// inputs as zero). Values beyond bfloat16's largest finite value round to +-inf.
inline std::uint16_t bf16_bits(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40u);
  if ((u & 0x7f800000u) == 0) return static_cast<std::uint16_t>((u >> 16) & 0x8000u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>(u >> 16);
}
inline float bf16_to_float(std::uint16_t b) {
  const std::uint32_t u = std::uint32_t{b} << 16;
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}
// x rounded to the nearest bfloat16, as a float (its low 16 bits zero).
inline float bf16_round(float x) {
  return bf16_to_float(bf16_bits(x));
}
// dst[i] = bf16_round(src[i]); dst may equal src. Vectorised with AVX512_BF16, bit-identical.
void bf16_round_fast(float* dst, const float* src, std::int64_t n);

// True when this build runs VDPBF16PS (compiled with AVX512_BF16: -march=native on such a CPU).
bool bf16_dot_available();
// True when the CPU running this has AMX-BF16 tiles (CPUID, whatever the build).
bool bf16_amx_available();
// One line naming what *_bf16_fast does on this build, for logs and benchmark labels.
const char* bf16_kernel_name();

// ---------------------------------------------------------------- references

namespace detail {
template <class T>
std::vector<float> rounded(const T* x, std::int64_t n) {
  std::vector<float> r(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) r[i] = bf16_round(static_cast<float>(x[i]));
  return r;
}
}  // namespace detail

// Same contracts as linear_forward_ref / linear_backward_ref (accumulating), with x, w and dout
// rounded to bfloat16 first; bias and sums FP32.
inline void linear_forward_bf16_ref(float* out, const float* x, const float* w, const float* b,
                                    std::int64_t N, std::int64_t C_in, std::int64_t C_out) {
  const auto xr = detail::rounded(x, N * C_in), wr = detail::rounded(w, C_out * C_in);
  linear_forward_ref<float>(out, xr.data(), wr.data(), b, N, C_in, C_out);
}
inline void linear_backward_bf16_ref(float* dx, float* dw, float* db, const float* dout,
                                     const float* x, const float* w, std::int64_t N,
                                     std::int64_t C_in, std::int64_t C_out) {
  const auto xr = detail::rounded(x, N * C_in), wr = detail::rounded(w, C_out * C_in);
  const auto gr = detail::rounded(dout, N * C_out);
  // db sums the unrounded dout: the bias gradient is an FP32 reduction, not a product.
  if (db)
    for (std::int64_t i = 0; i < N; ++i)
      for (std::int64_t o = 0; o < C_out; ++o) db[o] += dout[i * C_out + o];
  linear_backward_ref<float>(dx, dw, nullptr, gr.data(), xr.data(), wr.data(), N, C_in, C_out);
}

// Same contracts as conv2d_forward_ref / conv2d_backward_ref, operands rounded as above.
inline void conv2d_forward_bf16_ref(float* out, const float* x, const float* w, const float* b,
                                    const Conv2dShape& s) {
  const auto xr = detail::rounded(x, s.N * s.C_in * s.H * s.W);
  const auto wr = detail::rounded(w, s.C_out * s.C_in * s.KH * s.KW);
  conv2d_forward_ref<float>(out, xr.data(), wr.data(), b, s);
}
inline void conv2d_backward_bf16_ref(float* dx, float* dw, float* db, const float* dout,
                                     const float* x, const float* w, const Conv2dShape& s) {
  const std::int64_t out_n = s.N * s.C_out * s.H_out() * s.W_out();
  const auto xr = detail::rounded(x, s.N * s.C_in * s.H * s.W);
  const auto wr = detail::rounded(w, s.C_out * s.C_in * s.KH * s.KW);
  const auto gr = detail::rounded(dout, out_n);
  if (db) {
    const std::int64_t P = s.H_out() * s.W_out();
    for (std::int64_t n = 0; n < s.N; ++n)
      for (std::int64_t co = 0; co < s.C_out; ++co)
        for (std::int64_t p = 0; p < P; ++p) db[co] += dout[(n * s.C_out + co) * P + p];
  }
  conv2d_backward_ref<float>(dx, dw, nullptr, gr.data(), xr.data(), wr.data(), s);
}

// ---------------------------------------------------------------- fast kernels

// Floats of scratch linear_*_bf16_fast need (at the current num_threads()); the caller owns it.
std::int64_t linear_bf16_workspace_floats(std::int64_t N, std::int64_t C_in, std::int64_t C_out);
// out = x . w^T + b with x, w rounded to bfloat16 (out is written, as linear_forward_fast).
void linear_forward_bf16_fast(float* out, const float* x, const float* w, const float* b,
                              std::int64_t N, std::int64_t C_in, std::int64_t C_out,
                              float* workspace);
// dx += dout . w (if dx), dw (+)= dout^T . x (if dw; written when !accumulate_dw), db (+)=
// column sums of the unrounded dout (if db; written when !accumulate_dw), the products' operands
// rounded to bfloat16. With dw_norm reset for dw (C_out * C_in floats) and !accumulate_dw, dw's
// row tiles form their clipping-norm terms as they are written (core/reduce.hpp, as
// linear_backward_overwrite_fast): the same dw, and dw_norm->finish() gives sqnorm_fast(dw)
// without reading it again. Otherwise dw_norm is left as it was.
void linear_backward_bf16_fast(float* dx, float* dw, float* db, const float* dout, const float* x,
                               const float* w, std::int64_t N, std::int64_t C_in,
                               std::int64_t C_out, bool accumulate_dw, float* workspace,
                               SqNormParts* dw_norm = nullptr);

// Floats of scratch conv2d_*_bf16_fast need for shape s at the current num_threads().
std::int64_t conv2d_bf16_workspace_floats(const Conv2dShape& s);
// conv2d_forward_fast's contract (relu included) with x, w rounded to bfloat16.
void conv2d_forward_bf16_fast(float* out, const float* x, const float* w, const float* b,
                              const Conv2dShape& s, float* workspace, bool relu = false);
// conv2d_backward_fast's contract (accumulates, or writes dx as `dx_write` says) with dout, x, w
// rounded (kSetThroughRelu's select reads x unrounded); db sums dout in FP32.
void conv2d_backward_bf16_fast(float* dx, float* dw, float* db, const float* dout, const float* x,
                               const float* w, const Conv2dShape& s, float* workspace,
                               DxWrite dx_write = DxWrite::kAdd);

// The first layer of a pixel network reads uint8 frames: these take x as frames times `scale`
// (the tape's input_u8) and give the bits of u8_to_float_fast into a buffer followed by the
// float kernels above, without the buffer (each frame is rounded to bfloat16 as it is packed).
// Only the VDPBF16PS kernels read frames: true for shapes (no padding, AVX512_BF16) they take;
// the others throw, and their caller converts the frames to floats first.
bool conv2d_bf16_reads_u8(const Conv2dShape& s);
void conv2d_forward_bf16_u8_fast(float* out, const std::uint8_t* x, float scale, const float* w,
                                 const float* b, const Conv2dShape& s, float* workspace,
                                 bool relu = false);
// The backward without dx (frames are no parameter): dw (+)=, db (+)= as conv2d_backward_bf16_fast.
void conv2d_backward_bf16_u8_fast(float* dw, float* db, const float* dout, const std::uint8_t* x,
                                  float scale, const float* w, const Conv2dShape& s,
                                  float* workspace);

}  // namespace dqn
