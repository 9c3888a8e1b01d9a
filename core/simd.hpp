// core/simd.hpp: the project's one SIMD header (private to core/: kernels include it, nothing
// above core/ does).
//
// VecF is one register of float lanes at the widest width this build targets: AVX-512 (16
// lanes), AVX2+FMA (8 lanes) or plain scalar (1 lane). Kernels loop over whole vectors and then
// finish with an explicit scalar tail:
//
//   std::int64_t i = 0;
//   for (; i + VecF::kLanes <= n; i += VecF::kLanes) VecF::load(x + i).mul(s).store(y + i);
//   for (; i < n; ++i) y[i] = x[i] * s;                      // the tail, never forgotten
//
// The scalar fallback keeps the same interface, so every kernel builds and is tested on any CPU.
// A last partial vector can be one masked step: VecF::load_first(p, n) and v.store_first(p, n)
// touch p[0..n) only. Trap: a masked store does not forward to a later load of the same bytes,
// so a loop that stores partial runs and soon reloads them stalls (col2im did, 13% slower).
//
// Register tiles (VecF acc[R][BC] summed over a k loop): put `#pragma GCC unroll 64` before
// every loop over the tile (its zeroing or loading, its stores, and the loops inside the k loop
// when R x BC is large: GCC unrolls those early on its own only up to a size). Trap: without it
// GCC 12 keeps the array on the stack (it unrolls these loops too late for its scalar replacement
// of aggregates): store motion lifts it into registers inside the k loop only, and each tile
// zeroes it on the stack, loads it, runs, stores it back, loads it again and stores C, about 100
// extra 64-byte moves a tile. With K = 32 (the fc layer's weight gradient at batch 32) the
// product ran 3-11% faster without them (fastest and median of 12 rounds). Check with objdump:
// no zmm move to or from (%rsp) in a tile function.
#pragma once

#include <cstdint>

#if defined(__AVX512F__)
// GCC 12's avx512fintrin.h builds "undefined" registers with the `__m512 __Y = __Y;` idiom, which
// -Wuninitialized flags wherever such an intrinsic (sqrt, extracts, reductions) is inlined. The
// diagnostic points into the header, so silencing it for the header's lines is enough. A file that
// includes Eigen before this header needs the same pragma before its first include.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#define DQN_SIMD_NAME "avx512"
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define DQN_SIMD_NAME "avx2"
#else
#include <algorithm>
#include <cmath>
#define DQN_SIMD_NAME "scalar"
#endif

namespace dqn::simd {

#if defined(__AVX512F__)
struct VecF {
  static constexpr int kLanes = 16;
  __m512 v;
  static VecF load(const float* p) { return {_mm512_loadu_ps(p)}; }
  // kLanes bytes widened to floats (Atari frames).
  static VecF load_u8(const std::uint8_t* p) {
    return {_mm512_cvtepi32_ps(
        _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))))};
  }
  static VecF set1(float x) { return {_mm512_set1_ps(x)}; }
  static VecF zero() { return {_mm512_setzero_ps()}; }
  void store(float* p) const { _mm512_storeu_ps(p, v); }
  // The first n lanes (0 <= n <= kLanes) from p, the rest 0; nothing past p[n-1] is read.
  static VecF load_first(const float* p, int n) {
    return {_mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1u), p)};
  }
  // Stores the first n lanes to p[0..n); memory past them is left alone.
  void store_first(float* p, int n) const {
    _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1u), v);
  }
  VecF operator+(VecF o) const { return {_mm512_add_ps(v, o.v)}; }
  VecF operator-(VecF o) const { return {_mm512_sub_ps(v, o.v)}; }
  VecF operator*(VecF o) const { return {_mm512_mul_ps(v, o.v)}; }
  VecF operator/(VecF o) const { return {_mm512_div_ps(v, o.v)}; }
  // this * a + b with one rounding (fused multiply-add).
  VecF fma(VecF a, VecF b) const { return {_mm512_fmadd_ps(v, a.v, b.v)}; }
  VecF max(VecF o) const { return {_mm512_max_ps(v, o.v)}; }
  VecF min(VecF o) const { return {_mm512_min_ps(v, o.v)}; }
  VecF sqrt() const { return {_mm512_sqrt_ps(v)}; }
  // Lanes where this > 0 keep `value`, others become 0 (ReLU's mask; 0 maps to 0).
  VecF where_positive(VecF value) const {
    return {_mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ), value.v)};
  }
  // Sum of lanes in a fixed tree order (deterministic).
  float sum() const { return _mm512_reduce_add_ps(v); }
  // Round to the nearest integer, ties to even (for exp_nonpositive).
  VecF round() const {
    return {_mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
  }
  // 2^n for lanes holding whole numbers n in [-126, 127], built in the exponent field.
  VecF pow2() const {
    return {_mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(v), _mm512_set1_epi32(127)), 23))};
  }
};
#elif defined(__AVX2__) && defined(__FMA__)
struct VecF {
  static constexpr int kLanes = 8;
  __m256 v;
  static VecF load(const float* p) { return {_mm256_loadu_ps(p)}; }
  static VecF load_u8(const std::uint8_t* p) {
    return {_mm256_cvtepi32_ps(
        _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))))};
  }
  static VecF set1(float x) { return {_mm256_set1_ps(x)}; }
  static VecF zero() { return {_mm256_setzero_ps()}; }
  void store(float* p) const { _mm256_storeu_ps(p, v); }
  static VecF load_first(const float* p, int n) { return {_mm256_maskload_ps(p, first_lanes(n))}; }
  void store_first(float* p, int n) const { _mm256_maskstore_ps(p, first_lanes(n), v); }
  // All-ones in lanes [0, n): the mask of maskload/maskstore (their sign bits select lanes).
  static __m256i first_lanes(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  VecF operator+(VecF o) const { return {_mm256_add_ps(v, o.v)}; }
  VecF operator-(VecF o) const { return {_mm256_sub_ps(v, o.v)}; }
  VecF operator*(VecF o) const { return {_mm256_mul_ps(v, o.v)}; }
  VecF operator/(VecF o) const { return {_mm256_div_ps(v, o.v)}; }
  VecF fma(VecF a, VecF b) const { return {_mm256_fmadd_ps(v, a.v, b.v)}; }
  VecF max(VecF o) const { return {_mm256_max_ps(v, o.v)}; }
  VecF min(VecF o) const { return {_mm256_min_ps(v, o.v)}; }
  VecF sqrt() const { return {_mm256_sqrt_ps(v)}; }
  VecF where_positive(VecF value) const {
    return {_mm256_and_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ), value.v)};
  }
  float sum() const {
    const __m128 lo = _mm256_castps256_ps128(v);
    const __m128 hi = _mm256_extractf128_ps(v, 1);
    __m128 s = _mm_add_ps(lo, hi);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  VecF round() const { return {_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
  VecF pow2() const {
    return {_mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(v), _mm256_set1_epi32(127)), 23))};
  }
};
#else
struct VecF {
  static constexpr int kLanes = 1;
  float v;
  static VecF load(const float* p) { return {*p}; }
  static VecF load_u8(const std::uint8_t* p) { return {static_cast<float>(*p)}; }
  static VecF set1(float x) { return {x}; }
  static VecF zero() { return {0.0f}; }
  void store(float* p) const { *p = v; }
  static VecF load_first(const float* p, int n) { return {n > 0 ? *p : 0.0f}; }
  void store_first(float* p, int n) const {
    if (n > 0) *p = v;
  }
  VecF operator+(VecF o) const { return {v + o.v}; }
  VecF operator-(VecF o) const { return {v - o.v}; }
  VecF operator*(VecF o) const { return {v * o.v}; }
  VecF operator/(VecF o) const { return {v / o.v}; }
  VecF fma(VecF a, VecF b) const { return {std::fma(v, a.v, b.v)}; }
  // As the x86 max/min instructions: the second operand when the comparison fails (NaN, zeros).
  VecF max(VecF o) const { return {v > o.v ? v : o.v}; }
  VecF min(VecF o) const { return {v < o.v ? v : o.v}; }
  VecF sqrt() const { return {std::sqrt(v)}; }
  VecF where_positive(VecF value) const { return {v > 0.0f ? value.v : 0.0f}; }
  float sum() const { return v; }
  VecF round() const { return {std::nearbyint(v)}; }
  VecF pow2() const { return {std::ldexp(1.0f, static_cast<int>(v))}; }
};
#endif

// exp(x) for x <= 0, the only arguments a max-subtracted softmax has (core/categorical.cpp):
// Cody-Waite range reduction x = n ln2 + r, |r| <= ln2 / 2, with ln2 split in two so n ln2 is
// exact, then Cephes' degree-6 polynomial for exp(r) (S. Moshier, cephes expf.c), times 2^n.
// Within 2 ulp of exp over (-87.3, 0] (tests/core/test_simd.cpp). At and below -87.3, where exp
// nears float's smallest normal (1.2e-38), the result is 0: off by at most that. Trap: a
// NaN lane becomes 0 here, not NaN; in the softmaxes the NaN survives regardless, because it
// sits in the shifted logit x - max and in the max itself.
inline VecF exp_nonpositive(VecF x) {
  const VecF lo = VecF::set1(-87.3f);
  const VecF xc = x.max(lo).min(VecF::zero());
  const VecF n = (xc * VecF::set1(1.44269504088896341f)).round();  // log2(e)
  VecF r = n.fma(VecF::set1(-0.693359375f), xc);                   // ln2, high part (exact)
  r = n.fma(VecF::set1(2.12194440e-4f), r);                        // ln2, low part
  VecF p = VecF::set1(1.9875691500e-4f);
  p = p.fma(r, VecF::set1(1.3981999507e-3f));
  p = p.fma(r, VecF::set1(8.3334519073e-3f));
  p = p.fma(r, VecF::set1(4.1665795894e-2f));
  p = p.fma(r, VecF::set1(1.6666665459e-1f));
  p = p.fma(r, VecF::set1(5.0000001201e-1f));
  const VecF e = p.fma(r * r, r + VecF::set1(1.0f));  // 1 + r + r^2 p(r)
  return (x - lo).where_positive(e * n.pow2());
}

// Software prefetch for the memory-bound passes that stream several large arrays at once (Adam
// reads four and writes three): one hint a vector for the element kPrefetchAhead floats (32 KB)
// ahead, with the non-temporal hint, so the line is on its way well before the loop needs it.
// The hardware prefetchers alone left a one-core Adam over 3.6M parameters at 0.50 ns an element
// (56 GB/s, Zen 4); with this it ran at 0.35. Distances of 8 to 64 KB were within 10% of each
// other, 128 KB slower (lines fetched too early are evicted before use). A prefetch never
// faults, so hints past the end of an array are harmless; the address is formed as an integer
// because pointer arithmetic past the end is undefined.
constexpr std::uintptr_t kPrefetchAheadBytes = 8192 * sizeof(float);
inline void prefetch_ahead(const float* p) {
  __builtin_prefetch(
      reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(p) + kPrefetchAheadBytes), 0,
      0);
}
// The same for an array the loop will also write (a prefetch with intent to write).
inline void prefetch_ahead_for_write(float* p) {
  __builtin_prefetch(
      reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(p) + kPrefetchAheadBytes), 1, 0);
}

// ---- 16x16 transpose (AVX-512 builds only) ----
#if defined(__AVX512F__)
#define DQN_HAVE_TRANSPOSE16 1
// r[i] lane j -> r[j] lane i. Three rounds of shuffles, 64 in all: interleave the floats of row
// pairs, then the float pairs of row quads (each 128-bit lane then holds a 4x4 block,
// transposed), then gather the four 128-bit lanes of each output row from the four quads.
inline void transpose16(VecF (&r)[16]) {
  __m512 t[16], u[16];
  for (int k = 0; k < 8; ++k) {
    t[2 * k] = _mm512_unpacklo_ps(r[2 * k].v, r[2 * k + 1].v);
    t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k].v, r[2 * k + 1].v);
  }
  auto pd = [](__m512 x) { return _mm512_castps_pd(x); };
  for (int k = 0; k < 4; ++k) {
    u[4 * k] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(t[4 * k]), pd(t[4 * k + 2])));
    u[4 * k + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(t[4 * k]), pd(t[4 * k + 2])));
    u[4 * k + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(t[4 * k + 1]), pd(t[4 * k + 3])));
    u[4 * k + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(t[4 * k + 1]), pd(t[4 * k + 3])));
  }
  // u[4k + m], 128-bit lane L, holds column 4L + m of rows 4k .. 4k + 3.
  for (int m = 0; m < 4; ++m) {
    const __m512 w0 = _mm512_shuffle_f32x4(u[m], u[4 + m], 0x44);
    const __m512 w1 = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0x44);
    const __m512 w2 = _mm512_shuffle_f32x4(u[m], u[4 + m], 0xEE);
    const __m512 w3 = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0xEE);
    r[m].v = _mm512_shuffle_f32x4(w0, w1, 0x88);
    r[4 + m].v = _mm512_shuffle_f32x4(w0, w1, 0xDD);
    r[8 + m].v = _mm512_shuffle_f32x4(w2, w3, 0x88);
    r[12 + m].v = _mm512_shuffle_f32x4(w2, w3, 0xDD);
  }
}
// Lanes below 0 become +0; others (NaN and -0 included) are kept: x < 0 ? 0 : x, relu_forward's
// rule, lane by lane.
inline VecF relu_select(VecF x) {
  return {_mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x.v, _mm512_setzero_ps(), _CMP_NLT_UQ), x.v)};
}
// p[0..n) into lanes [at, at + n), every other lane 0 (at + n <= 16). Only p[0..n) is read, so
// the run may sit at the very start of its array. A masked load and a lane shift: the one
// expanding load that does the same (vexpandps) took 3x longer in col2im on Zen 5.
inline VecF load_run_at(const float* p, int n, int at) {
  const __m512 run = _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1u), p);
  if (at == 0) return {run};
  const __m512i from =
      _mm512_sub_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                       _mm512_set1_epi32(at));
  return {_mm512_maskz_permutexvar_ps(static_cast<__mmask16>(0xFFFFu << at), from, run)};
}
// Interleaves the lanes of a and b: lo = (a0, b0, a1, b1, ..., a7, b7), hi = (a8, b8, ..., a15,
// b15).
inline void interleave2(VecF a, VecF b, VecF& lo, VecF& hi) {
  const __m512i lo_idx = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi_idx =
      _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  lo.v = _mm512_permutex2var_ps(a.v, lo_idx, b.v);
  hi.v = _mm512_permutex2var_ps(a.v, hi_idx, b.v);
}
#endif

// ---- bfloat16 pairs (AVX512_BF16 builds only; core/bf16.hpp says what they are for) ----
// A "pair" is one 32-bit lane holding two bfloat16 values, the low half first: the operand
// layout of VDPBF16PS, which adds lo_a*lo_b + hi_a*hi_b into one FP32 sum per lane.
#if defined(__AVX512BF16__)
#define DQN_HAVE_BF16_DOT 1
// 16 floats rounded to bfloat16 (ties to even, subnormals to zero), one per 32-bit lane (low).
inline __m512i bf16_lanes(VecF x) {
  return _mm512_cvtepu16_epi32(reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(x.v)));
}
// Pairs (lo[i], hi[i]) of 16 lanes. VCVTNE2PS2BF16 rounds both vectors at once, by
// VCVTNEPS2BF16's rule, into words [lo 0..15, hi 0..15]; one word permute interleaves them.
// Two instructions where two single conversions, two widenings, a shift and an or took six:
// pack_pairs, which runs on every activation the bf16 convolutions read, was 6% of the bf16
// update.
inline __m512i bf16_pairs(VecF lo, VecF hi) {
  alignas(64) static constexpr std::uint16_t kInterleave[32] = {
      0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
      8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const auto words = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi.v, lo.v));
  return _mm512_permutexvar_epi16(_mm512_load_si512(kInterleave), words);
}
// acc[i] += lo(a[i]) * lo(b[i]) + hi(a[i]) * hi(b[i]), products exact, sums FP32.
inline VecF dot_pairs(VecF acc, __m512i a, __m512i b) {
  return {_mm512_dpbf16_ps(acc.v, reinterpret_cast<__m512bh>(a), reinterpret_cast<__m512bh>(b))};
}
inline __m512i load_pairs(const std::uint32_t* p) {
  return _mm512_loadu_si512(p);
}
inline __m512i broadcast_pair(const std::uint32_t* p) {
  return _mm512_set1_epi32(static_cast<int>(*p));
}
#endif

inline const char* isa_name() {
  return DQN_SIMD_NAME;
}

}  // namespace dqn::simd
