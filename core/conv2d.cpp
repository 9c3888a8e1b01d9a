// core/conv2d.cpp: the fast convolution: register tiles over x in place for the forward and the
// weight gradient without padding, im2col + Eigen GEMM per block of samples otherwise; the input
// gradient as dcol (matmul_tn_fast) + col2im; threads over samples (or, for a batch smaller than
// the thread count, over channels inside one sample).
//
// For one sample, col (K, P) with K = C_in*KH*KW (row k = (ci*KH + kh)*KW + kw), P = H_out*W_out
// (a block of B samples puts B such matrices side by side: col (K, B*P)):
//   col[k, oh*W_out + ow] = x[ci, oh*S - pad + kh, ow*S - pad + kw]   (0 outside the image)
// Forward  out_n (C_out,P)  = b + w (C_out,K) . col
// Backward dw    (C_out,K) += dout_n (C_out,P) . col^T   (without padding: a tile over x in place)
//          dcol  (K,P)      = w^T . dout_n (matmul_tn_fast: C_out is a short sum, the streaming
//                             tiles run it), then col2im adds dcol back onto dx_n
//          db    (C_out)   += row sums of dout_n
#include "core/eigen_config.hpp"  // first: configures Eigen before it is included

#include "core/conv2d.hpp"

#include <algorithm>

#include "core/activation.hpp"
#include "core/bf16.hpp"
#include "core/bf16_pack.hpp"
#include "core/elementwise.hpp"
#include "core/error.hpp"
#include "core/matmul.hpp"
#include "core/parallel.hpp"
#include "core/simd.hpp"

namespace dqn {
namespace {

using MatR = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapR = Eigen::Map<MatR>;
using CMapR = Eigen::Map<const MatR>;
using MapV = Eigen::Map<Eigen::VectorXf>;

// Work per thread below which splitting does not pay (as kGemmGrainFlops in matmul.cpp: ~20 us
// of GEMM on one core, an order of magnitude above an OpenMP fork/join).
constexpr std::int64_t kConvGrainFlops = std::int64_t{2} << 20;
// im2col/col2im elements per thread below which the channel split of a single sample stays inline.
constexpr std::int64_t kColGrain = std::int64_t{1} << 15;
// Output columns one GEMM should have at least: Eigen's GEMM reaches its plateau (~85 GFLOP/s at
// 64x256x256 in bench_matmul) with a few hundred columns but ran at ~53 on a single sample of the
// third Nature layer (49 columns). So samples are lowered side by side into one col matrix
// (K, B*P) with B = ceil(kBlockCols / P): 1 sample for layer 1 (P = 400), 4 for layer 2, 6 for
// layer 3.
constexpr std::int64_t kBlockCols = 256;

struct Dims {
  std::int64_t K, P, Ho, Wo;
  // The phase-split padded input (see im2col): C_in x S phases x Hp rows x Wq columns.
  std::int64_t S, Hp, Wq;
  bool one_phase;  // stride 1 and no padding: x itself is the one phase, no copy needed
  std::int64_t B;  // samples lowered side by side into one GEMM (see kBlockCols)
  explicit Dims(const Conv2dShape& s)
      : K(s.C_in * s.KH * s.KW),
        P(s.H_out() * s.W_out()),
        Ho(s.H_out()),
        Wo(s.W_out()),
        S(s.stride),
        Hp(s.H + 2 * s.pad),
        Wq((s.W + 2 * s.pad + s.stride - 1) / s.stride),
        one_phase(s.stride == 1 && s.pad == 0),
        B(std::clamp<std::int64_t>((kBlockCols + P - 1) / std::max<std::int64_t>(P, 1), 1,
                                   std::max<std::int64_t>(s.N, 1))) {}
  std::int64_t phase_floats(std::int64_t C_in) const { return one_phase ? 0 : C_in * S * Hp * Wq; }
};

// im2col in two steps, so that its inner loops are contiguous copies:
//  1. phases: the zero-padded input xpad (C_in, Hp, S*Wq) is split by column phase r = iw_p % S:
//       xp[ci, r, ih_p, j] = xpad[ci, ih_p, j*S + r]          (one strided pass over the input)
//  2. rows: the im2col row of (ci, kh, kw), with kw = q*S + r, is, for each oh, the contiguous
//     run xp[ci, r, oh*S + kh, q .. q + W_out): a plain copy, whatever the stride.
// The strided gather of a direct im2col (KH*KW/S^2 times the input) shrinks to one pass over the
// input; for the Nature CNN's first layer (8x8, stride 4) that made im2col several times faster.
// With stride 1 and no padding the input already is its only phase and step 1 is skipped.
// dst[r * plane + j] = in[j * S + r] for j in [lo, hi), r < S: S phase rows from one input row.
// `in` may point before the row (by the padding); only in[lo * S ..] is read.
template <int S>
void deinterleave(float* dst, const float* in, std::int64_t plane, std::int64_t lo,
                  std::int64_t hi) {
  for (int r = 0; r < S; ++r) {
    float* out = dst + r * plane;
    for (std::int64_t j = lo; j < hi; ++j) out[j] = in[j * S + r];
  }
}

void build_phases(float* xp, const float* x_n, const Conv2dShape& s, const Dims& d,
                  std::int64_t ci_lo, std::int64_t ci_hi) {
  const std::int64_t S = d.S, plane = d.Hp * d.Wq;
  // Columns j whose S inputs j*S - pad + r (r < S) all lie inside [0, W): no checks needed there.
  const std::int64_t j_in_lo = std::min(d.Wq, (s.pad + S - 1) / S);
  const std::int64_t j_in_hi =
      std::max(j_in_lo, std::min(d.Wq, s.W + s.pad >= S ? (s.W + s.pad - S) / S + 1 : 0));
  for (std::int64_t ci = ci_lo; ci < ci_hi; ++ci)
    for (std::int64_t ih_p = 0; ih_p < d.Hp; ++ih_p) {
      float* dst = xp + ci * S * plane + ih_p * d.Wq;  // phase r's row is dst + r * plane
      const std::int64_t ih = ih_p - s.pad;
      if (ih < 0 || ih >= s.H) {
        for (std::int64_t r = 0; r < S; ++r)
          std::fill(dst + r * plane, dst + r * plane + d.Wq, 0.0f);
        continue;
      }
      const float* src = x_n + (ci * s.H + ih) * s.W;
      auto edge = [&](std::int64_t j) {
        for (std::int64_t r = 0; r < S; ++r) {
          const std::int64_t iw = j * S + r - s.pad;
          dst[r * plane + j] = (iw >= 0 && iw < s.W) ? src[iw] : 0.0f;
        }
      };
      for (std::int64_t j = 0; j < j_in_lo; ++j) edge(j);
      // Reads run contiguously through the input row; each phase row is written in order.
      switch (S) {  // the Nature CNN's strides get an unrolled, vectorisable deinterleave
        case 1:
          deinterleave<1>(dst, src - s.pad, plane, j_in_lo, j_in_hi);
          break;
        case 2:
          deinterleave<2>(dst, src - s.pad, plane, j_in_lo, j_in_hi);
          break;
        case 4:
          deinterleave<4>(dst, src - s.pad, plane, j_in_lo, j_in_hi);
          break;
        default:
          for (std::int64_t j = j_in_lo; j < j_in_hi; ++j)
            for (std::int64_t r = 0; r < S; ++r) dst[r * plane + j] = src[j * S - s.pad + r];
      }
      for (std::int64_t j = j_in_hi; j < d.Wq; ++j) edge(j);
    }
}

// Writes rows [ci_lo*KH*KW, ci_hi*KH*KW) of col from the phases (or from x_n when one_phase).
// col rows are ld floats apart (ld = P for one sample, B*P when samples sit side by side).
void im2col(float* col, const float* phases, const Conv2dShape& s, const Dims& d,
            std::int64_t ci_lo, std::int64_t ci_hi, std::int64_t ld) {
  for (std::int64_t ci = ci_lo; ci < ci_hi; ++ci)
    for (std::int64_t kh = 0; kh < s.KH; ++kh)
      for (std::int64_t kw = 0; kw < s.KW; ++kw) {
        float* row = col + ((ci * s.KH + kh) * s.KW + kw) * ld;
        const std::int64_t q = kw / d.S, r = kw % d.S;
        const float* plane = phases + (ci * d.S + r) * d.Hp * d.Wq + q;
        for (std::int64_t oh = 0; oh < d.Ho; ++oh) {
          const float* src = plane + (oh * d.S + kh) * d.Wq;
          float* dst = row + oh * d.Wo;
          for (std::int64_t ow = 0; ow < d.Wo; ++ow) dst[ow] = src[ow];
        }
      }
}

// dst[0..n) += src[0..n). The runs are feature-map rows, 7 and 9 floats on the Nature CNN, where
// GCC's vectorised loop spent more on its alias checks and epilogue than on the additions
// (col2im was 16% of layers 2-3's backward): those widths get a loop of fixed length. (A
// generic version, every width up to 16 chosen once per call through a template, measured 5%
// slower on layer 2's backward, so the two widths stay named.)
template <std::int64_t N>
inline void add_fixed(float* __restrict dst, const float* __restrict src) {
  for (std::int64_t i = 0; i < N; ++i) dst[i] += src[i];
}
inline void add_run(float* __restrict dst, const float* __restrict src, std::int64_t n) {
  switch (n) {
    case 7:
      return add_fixed<7>(dst, src);
    case 9:
      return add_fixed<9>(dst, src);
    default:
      for (std::int64_t i = 0; i < n; ++i) dst[i] += src[i];
  }
}

#if defined(DQN_HAVE_TRANSPOSE16)
// col2im_add without padding, stride 1 or 2, and phase rows of at most 16 floats (the Nature
// CNN's layers 2 and 3), as a gather: each input row's sums are built in registers, one vector
// per column phase, and written once. The scatter below stores each dcol run onto rows that the
// next runs reload, one float apart; those stores did not forward to the loads, and the phase
// buffer cost a fill and a strided merge of its own (col2im was 4-5% of the Nature update).
// The bits are the scatter's: each phase sum adds its terms in the same (kh, kw) order, from
// dx_n itself when the input is its own only phase (stride 1), from 0 otherwise, then onto dx_n.
// relu_x: kSetThroughRelu's x_n (the select is made on the sums before they are stored), or null.
template <int S>
void col2im_gather(float* dx_n, const float* dcol, const Conv2dShape& s, const Dims& d,
                   std::int64_t ci_lo, std::int64_t ci_hi, std::int64_t ld, bool zero_first,
                   const float* relu_x) {
  using simd::VecF;
  const int wo = static_cast<int>(d.Wo), w = static_cast<int>(s.W);
  const int w_lo = std::min(w, 16);  // a row's first vector; at stride 2 it may have a second
  // What is stored: the sum, or 0 + the sum where x > 0, else 0 (relu_backward_set's bits).
  const auto out = [relu_x](VecF sum, std::int64_t at, int n) {
    return relu_x ? VecF::zero() + VecF::load_first(relu_x + at, n).where_positive(sum) : sum;
  };
  for (std::int64_t ci = ci_lo; ci < ci_hi; ++ci)
    for (std::int64_t ih = 0; ih < s.H; ++ih) {
      const std::int64_t row = (ci * s.H + ih) * s.W;
      float* dst = dx_n + row;
      const VecF base = zero_first ? VecF::zero() : VecF::load_first(dst, w_lo);
      VecF acc[S];
      for (int r = 0; r < S; ++r) acc[r] = S == 1 ? base : VecF::zero();
      // Rows kh of the kernel that land on ih: ih = oh*S + kh with 0 <= oh < Ho.
      for (std::int64_t kh = 0; kh < s.KH && kh <= ih; ++kh) {
        if ((ih - kh) % S != 0 || (ih - kh) / S >= d.Ho) continue;
        const float* rows = dcol + (ci * s.KH + kh) * s.KW * ld + (ih - kh) / S * d.Wo;
        // kw = q*S + r: phase r, shifted by q. r unrolled, so that acc stays in registers.
        for (int q = 0; q * S < s.KW; ++q)
          for (int r = 0; r < S; ++r)
            if (q * S + r < s.KW)
              acc[r] = acc[r] + simd::load_run_at(rows + (q * S + r) * ld, wo, q);
      }
      if constexpr (S == 1) {
        out(acc[0], row, w).store_first(dst, w);
      } else {
        VecF lo, hi;
        simd::interleave2(acc[0], acc[1], lo, hi);
        out(base + lo, row, w_lo).store_first(dst, w_lo);
        if (w > 16) {
          const VecF base_hi = zero_first ? VecF::zero() : VecF::load_first(dst + 16, w - 16);
          out(base_hi + hi, row + 16, w - 16).store_first(dst + 16, w - 16);
        }
      }
    }
}
#endif

// The adjoint of im2col for channels [ci_lo, ci_hi): dcol rows are added as contiguous runs onto
// phase-split gradients dxp (or straight onto dx_n when one_phase), which are then added back onto
// dx_n. Rows of one channel touch only that channel, so channel ranges never collide.
// kSet and kSetThroughRelu: those channels of dx_n are zeroed first (dx written, not added to),
// here where they are about to be read, rather than in a pass of their own over the whole batch;
// kSetThroughRelu then selects by x_n (sample n of x, read only then) while they are in cache.
// The shapes col2im_gather covers go there instead, with the same bits.
void col2im_add(float* dx_n, const float* dcol, float* dxp, const Conv2dShape& s, const Dims& d,
                std::int64_t ci_lo, std::int64_t ci_hi, std::int64_t ld, DxWrite mode,
                const float* x_n) {
  const bool zero_first = mode != DxWrite::kAdd;
  const float* relu_x = mode == DxWrite::kSetThroughRelu ? x_n : nullptr;
#if defined(DQN_HAVE_TRANSPOSE16)
  if (s.pad == 0 && d.Wq <= 16 && (d.S == 1 || d.S == 2)) {
    if (d.S == 1) return col2im_gather<1>(dx_n, dcol, s, d, ci_lo, ci_hi, ld, zero_first, relu_x);
    return col2im_gather<2>(dx_n, dcol, s, d, ci_lo, ci_hi, ld, zero_first, relu_x);
  }
#endif
  if (zero_first) std::fill(dx_n + ci_lo * s.H * s.W, dx_n + ci_hi * s.H * s.W, 0.0f);
  float* phases = d.one_phase ? dx_n : dxp;
  if (!d.one_phase)
    std::fill(dxp + ci_lo * d.S * d.Hp * d.Wq, dxp + ci_hi * d.S * d.Hp * d.Wq, 0.0f);
  for (std::int64_t ci = ci_lo; ci < ci_hi; ++ci)
    for (std::int64_t kh = 0; kh < s.KH; ++kh)
      for (std::int64_t kw = 0; kw < s.KW; ++kw) {
        const float* row = dcol + ((ci * s.KH + kh) * s.KW + kw) * ld;
        const std::int64_t q = kw / d.S, r = kw % d.S;
        float* plane = phases + (ci * d.S + r) * d.Hp * d.Wq + q;
        for (std::int64_t oh = 0; oh < d.Ho; ++oh)
          add_run(plane + (oh * d.S + kh) * d.Wq, row + oh * d.Wo, d.Wo);
      }
  if (!d.one_phase)
    for (std::int64_t ci = ci_lo; ci < ci_hi; ++ci)
      for (std::int64_t r = 0; r < d.S; ++r)
        for (std::int64_t ih = 0; ih < s.H; ++ih) {
          const float* src = dxp + ((ci * d.S + r) * d.Hp + ih + s.pad) * d.Wq;
          float* dst = dx_n + (ci * s.H + ih) * s.W;
          // iw = j*S + r - pad inside [0, W)
          const std::int64_t j_lo = s.pad - r > 0 ? (s.pad - r + d.S - 1) / d.S : 0;
          for (std::int64_t j = j_lo; j < d.Wq; ++j) {
            const std::int64_t iw = j * d.S + r - s.pad;
            if (iw >= s.W) break;
            dst[iw] += src[j];
          }
        }
  if (relu_x) {
    const std::int64_t area = s.H * s.W;
    float* g = dx_n + ci_lo * area;  // in place; inside a chunk it runs on this thread
    relu_backward_set_fast(g, g, relu_x + ci_lo * area, (ci_hi - ci_lo) * area);
  }
}

// im2col of channels [lo, hi) of sample x_n into col, through the phase buffer xp.
void lower(float* col, float* xp, const float* x_n, const Conv2dShape& s, const Dims& d,
           std::int64_t lo, std::int64_t hi, std::int64_t ld) {
  if (!d.one_phase) build_phases(xp, x_n, s, d, lo, hi);
  im2col(col, d.one_phase ? x_n : xp, s, d, lo, hi, ld);
}

// ---------------------------------------------------------------- lowering-free forward (pad 0)
//
// Without padding every input a product needs lies inside the image, so the forward GEMM's inner
// loop can read x where it lies and no im2col matrix is built at all (the lowering and Eigen's
// packing of it each copied every col element; for the Nature CNN's first layer col is 9x the
// input). With k = (ci*KH + kh)*KW + kw and p = oh*W_out + ow:
//   col[k, p] = x_n[k_offset(k) + p_offset(p)],  k_offset = (ci*H + kh)*W + kw,
//                                                p_offset = oh*S*W + ow*S.
// A register tile holds kAccumulators/BC positions p_i x BC vectors of output channels:
//   acc[i][j] += x_n[k_offset(k) + p_offset(p_i)] (one broadcast) * wt[k, vector j]
// over all K products, with wt = w^T packed once per call as (K, C_out rounded up to whole
// vectors), zero-padded. Measured (bench_conv2d, Nature stack at batch 32, one thread): 5.9 ms
// against 8.5 ms for im2col + Eigen.
// The weight gradient uses the same tile with positions and products swapped (below): 92-98
// GFLOP/s on the Nature layers at one thread, against 57-63 for im2col + Eigen (whose packing of
// col cost as much as half its GEMM). The input gradient keeps dcol = w^T . dout + col2im: as
// S*S stride-1 forward tiles over zero-padded dout it ran no faster, since the padding adds 22%
// (layer 2) to 65% (layer 3) more products.
//
// Trap: each tile function is [[gnu::noinline]]. Inlined into the backward's per-chunk lambda,
// GCC kept the accumulators in memory and stored all 24 back every step (39 GFLOP/s instead of
// 92); an earlier try of the weight-gradient tile was dropped as "slower" for that reason alone.

using simd::VecF;
constexpr std::int64_t kLanes = VecF::kLanes;
// Accumulator registers of a tile: 24 of AVX-512's 32 vector registers (the rest hold the BC
// loaded vectors and the broadcast), 12 of AVX2's 16. Independent sums needed = FMA pipes x
// latency: 2 x 4 = 8 on a core with two 512-bit FMA pipes (Zen 5, Xeons with two ports), 1 x 4
// = 4 on Zen 4 (a 512-bit FMA takes both of its 256-bit pipes) or one-port Xeons; VDPBF16PS
// (the bf16 tiles below) 2 x 6 = 12. 24 covers every one of them, so one tile shape serves all
// and nothing is chosen at run time. Measured on Zen 5 (bench_conv2d, bf16 forward stack): 16,
// 20 and 24 accumulators within 2% of each other; what the tiles lose to the peak is in their
// loads and stores, not in the latency chains.
constexpr int kAccumulators = kLanes == 16 ? 24 : kLanes == 8 ? 12 : 4;

// Output channels rounded up to whole vectors: the row length of wt.
std::int64_t channels_padded(const Conv2dShape& s) {
  return (s.C_out + kLanes - 1) / kLanes * kLanes;
}
bool lowering_free(const Conv2dShape& s) {
  return s.pad == 0;
}

// acc[i][j] += src[off[i]] * v[j*kLanes ...]: one product k of a tile.
template <int R, int BC>
inline void fma_term(VecF (&acc)[R][BC], const float* src, const float* v,
                     const std::int64_t (&off)[R]) {
  VecF vj[BC];
  for (int j = 0; j < BC; ++j) vj[j] = VecF::load(v + j * kLanes);
  for (int i = 0; i < R; ++i) {
    const VecF xi = VecF::set1(src[off[i]]);
    for (int j = 0; j < BC; ++j) acc[i][j] = xi.fma(vj[j], acc[i][j]);
  }
}

// off[i] = offset_of(first + i) for the R items of a tile starting at `first` (of items up to
// `end`); returns how many are real. A last tile with fewer items repeats its last one, whose
// extra results the caller drops.
template <int R, class OffsetOf>
std::int64_t tile_offsets(std::int64_t (&off)[R], std::int64_t first, std::int64_t end,
                          OffsetOf&& offset_of) {
  const std::int64_t valid = std::min<std::int64_t>(R, end - first);
  for (int i = 0; i < R; ++i) off[i] = offset_of(first + std::min<std::int64_t>(i, valid - 1));
  return valid;
}

// The forward's tiles (FP32 and bfloat16): off[i] = p_offset(p0 + i) (see tile_offsets).
template <int R>
std::int64_t position_offsets(std::int64_t (&off)[R], std::int64_t p0, const Conv2dShape& s,
                              const Dims& d) {
  return tile_offsets(off, p0, d.P, [&](std::int64_t p) {
    return (p / d.Wo) * s.stride * s.W + (p % d.Wo) * s.stride;
  });
}

template <int R, int BC>
void zero(VecF (&acc)[R][BC]) {
  for (auto& row : acc)
    for (VecF& a : row) a = VecF::zero();
}

// The weight gradient's tiles (FP32 and bfloat16): off[i] = k_offset(k0 + i) (see tile_offsets),
// the accumulators zero when `first`, else the tile's rows of dwt (K, co_pad) so far.
template <int R, int BC>
std::int64_t start_weight_tile(VecF (&acc)[R][BC], std::int64_t (&off)[R], const float* dwt,
                               bool first, std::int64_t k0, std::int64_t co0, const Conv2dShape& s,
                               std::int64_t K, std::int64_t co_pad) {
  const std::int64_t valid = tile_offsets(off, k0, K, [&](std::int64_t k) {
    const std::int64_t kw = k % s.KW, kh = (k / s.KW) % s.KH, ci = k / (s.KW * s.KH);
    return (ci * s.H + kh) * s.W + kw;
  });
  zero(acc);
  if (!first)
    for (std::int64_t i = 0; i < valid; ++i)
      for (int j = 0; j < BC; ++j)
        acc[i][j] = VecF::load(dwt + (k0 + i) * co_pad + co0 + j * kLanes);
  return valid;
}
template <int R, int BC>
void finish_weight_tile(float* dwt, const VecF (&acc)[R][BC], std::int64_t valid, std::int64_t k0,
                        std::int64_t co0, std::int64_t co_pad) {
  for (std::int64_t i = 0; i < valid; ++i)
    for (int j = 0; j < BC; ++j) acc[i][j].store(dwt + (k0 + i) * co_pad + co0 + j * kLanes);
}

// The forward's stores. The tiles hold positions x channels and out_n is channel-major, so a
// tile goes out position-major into a per-sample buffer tb (P + kAccumulators rows of co_pad:
// whole vectors, the last tile's rows past P included), and once every channel group of the
// sample is done, tb is turned channel-major 16 x 16 at a time in registers, the bias added and
// the ReLU applied on the way: out_n[co, p] = relu?(tb[p, co] + b[co]). Storing an element at a
// time straight from the registers (strided by P) cost 13-25% of the Nature layers' FP32
// forward; through a small buffer, transposed in scalar, still a quarter of conv1's bf16 forward
// (which has half the FP32 tile's steps per output).
template <int R, int BC>
inline void store_positions(float* tb, const VecF (&acc)[R][BC], std::int64_t p0, std::int64_t co0,
                            std::int64_t co_pad) {
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < BC; ++j) acc[i][j].store(tb + (p0 + i) * co_pad + co0 + j * kLanes);
}

// Rows tb needs: P, plus the widest tile's rows past the end.
std::int64_t position_rows(const Dims& d) {
  return d.P + kAccumulators;
}

void store_channel_major(float* out_n, const float* tb, const float* b, std::int64_t C_out,
                         std::int64_t co_pad, std::int64_t P, bool relu) {
#if defined(DQN_HAVE_TRANSPOSE16)
  for (std::int64_t co0 = 0; co0 < C_out; co0 += kLanes) {
    const std::int64_t channels = std::min<std::int64_t>(kLanes, C_out - co0);
    for (std::int64_t p0 = 0; p0 < P; p0 += kLanes) {
      const int n = static_cast<int>(std::min<std::int64_t>(kLanes, P - p0));
      VecF r[kLanes];
      for (int i = 0; i < kLanes; ++i)
        r[i] = i < n ? VecF::load(tb + (p0 + i) * co_pad + co0) : VecF::zero();
      simd::transpose16(r);
      for (std::int64_t c = 0; c < channels; ++c) {
        VecF v = r[c] + VecF::set1(b ? b[co0 + c] : 0.0f);
        if (relu) v = simd::relu_select(v);
        v.store_first(out_n + (co0 + c) * P + p0, n);
      }
    }
  }
#else
  for (std::int64_t c = 0; c < C_out; ++c) {
    const float bias = b ? b[c] : 0.0f;
    for (std::int64_t p = 0; p < P; ++p) {
      const float v = tb[p * co_pad + c] + bias;
      out_n[c * P + p] = relu && v < 0.0f ? 0.0f : v;
    }
  }
#endif
}

// Forward, BC channel vectors from channel co0 on, every position of one sample. Each finished
// tile goes position-major into tb (store_positions; store_channel_major turns it around).
template <int BC>
[[gnu::noinline]] void forward_channels(const float* x_n, const float* wt, std::int64_t co0,
                                        const Conv2dShape& s, const Dims& d, std::int64_t co_pad,
                                        float* tb) {
  constexpr int R = kAccumulators / BC;
  for (std::int64_t p0 = 0; p0 < d.P; p0 += R) {
    std::int64_t off[R];
    position_offsets(off, p0, s, d);  // rows past P repeat the last position; tb has room
    VecF acc[R][BC];
    zero(acc);
    const float* v = wt + co0;
    for (std::int64_t ci = 0; ci < s.C_in; ++ci)
      for (std::int64_t kh = 0; kh < s.KH; ++kh) {
        const float* x_row = x_n + (ci * s.H + kh) * s.W;
        for (std::int64_t kw = 0; kw < s.KW; ++kw, v += co_pad) fma_term(acc, x_row + kw, v, off);
      }
    store_positions(tb, acc, p0, co0, co_pad);
  }
}

// Runs fn.template operator()<BC>(co0) over the channel vectors in groups of 4, 2 and 1 vectors
// (the widest tiles first: they reuse each broadcast for the most channels).
template <class Fn>
void over_channel_groups(std::int64_t co_pad, Fn&& fn) {
  std::int64_t co0 = 0;
  for (; co0 + 4 * kLanes <= co_pad; co0 += 4 * kLanes) fn.template operator()<4>(co0);
  for (; co0 + 2 * kLanes <= co_pad; co0 += 2 * kLanes) fn.template operator()<2>(co0);
  for (; co0 < co_pad; co0 += kLanes) fn.template operator()<1>(co0);
}

// dst (cols, co_pad) = src (C_out, cols)^T, zero beyond C_out: the tiles load channel vectors.
// The forward's wt is w^T (cols = K); the weight gradient's gt is dout_n^T (cols = P).
// With AVX-512, 16 x 16 blocks through transpose16: the scalar loop's strided loads and 4-byte
// stores were about 2% of the FP32 update, which transposes every sample's dout per chunk.
void transpose_channels_last(float* dst, const float* src, std::int64_t C_out, std::int64_t cols,
                             std::int64_t co_pad) {
#if defined(DQN_HAVE_TRANSPOSE16)
  for (std::int64_t co0 = 0; co0 < co_pad; co0 += kLanes) {  // co_pad: whole vectors
    const std::int64_t channels = std::min<std::int64_t>(kLanes, C_out - co0);
    for (std::int64_t k0 = 0; k0 < cols; k0 += kLanes) {
      const int n = static_cast<int>(std::min<std::int64_t>(kLanes, cols - k0));
      VecF r[kLanes];
      for (int i = 0; i < kLanes; ++i)
        r[i] = i < channels ? VecF::load_first(src + (co0 + i) * cols + k0, n) : VecF::zero();
      simd::transpose16(r);
      for (int l = 0; l < n; ++l) r[l].store(dst + (k0 + l) * co_pad + co0);
    }
  }
#else
  for (std::int64_t k = 0; k < cols; ++k) {
    float* row = dst + k * co_pad;
    for (std::int64_t co = 0; co < C_out; ++co) row[co] = src[co * cols + k];
    std::fill(row + C_out, row + co_pad, 0.0f);
  }
#endif
}

// dw (C_out, K) += dwt (K, co_pad)^T, one addition per element as Eigen's transposed add made
// (the same bits), 16 x 16 blocks at a time with AVX-512.
void add_transposed(float* dw, const float* dwt, std::int64_t C_out, std::int64_t K,
                    std::int64_t co_pad) {
#if defined(DQN_HAVE_TRANSPOSE16)
  for (std::int64_t k0 = 0; k0 < K; k0 += kLanes) {
    const int n = static_cast<int>(std::min<std::int64_t>(kLanes, K - k0));
    for (std::int64_t co0 = 0; co0 < C_out; co0 += kLanes) {
      const std::int64_t channels = std::min<std::int64_t>(kLanes, C_out - co0);
      VecF r[kLanes];
      for (int i = 0; i < kLanes; ++i)
        r[i] = i < n ? VecF::load(dwt + (k0 + i) * co_pad + co0) : VecF::zero();
      simd::transpose16(r);
      for (std::int64_t c = 0; c < channels; ++c) {
        float* row = dw + (co0 + c) * K + k0;
        (VecF::load_first(row, n) + r[c]).store_first(row, n);
      }
    }
  }
#else
  MapR(dw, C_out, K) += CMapR(dwt, K, co_pad).leftCols(C_out).transpose();
#endif
}

// tb: position_rows(d) x co_pad floats of scratch.
void forward_sample_lowering_free(float* out_n, const float* x_n, const float* wt, const float* b,
                                  const Conv2dShape& s, const Dims& d, bool relu, float* tb) {
  const std::int64_t co_pad = channels_padded(s);
  over_channel_groups(co_pad, [&]<int BC>(std::int64_t co0) {
    forward_channels<BC>(x_n, wt, co0, s, d, co_pad, tb);
  });
  store_channel_major(out_n, tb, b, s.C_out, co_pad, d.P, relu);
}

// Weight gradient, the same tile with the roles of positions and products swapped, over the
// whole batch:
//   dwt[k, co] = sum_n sum_p x_n[k_offset(k) + p_offset(p)] * gt_n[p, co]
// with gt_n (P, co_pad) = dout_n^T and dwt (K, co_pad) = dw^T. A tile holds kAccumulators/BC
// products k_i x BC channel vectors and runs over every sample and position in order, reading
// x where it lies (one broadcast each): no im2col, no packing. Threads take tiles, so each dw
// element is one sum in one fixed order: the same bits at any thread count (per-thread partials
// over samples, added in thread order, as this kernel had before, were not).
//
// Samples whose terms one weight-gradient tile call adds before it stores its sums. The slices
// then hold as many samples' dout^T and converted frames. For the Nature CNN, 8 x 78 KB (layer 2)
// and 8 x 39 KB (layer 3) stay in a 1 MB L2; layer 1's 8 x 167 KB (frames and dout^T) do not,
// and measured no slower for it. Zen 5, bench_conv2d fwd+bwd at batch 32, 6 paired
// rounds, 8 against 4: layers 2 and 3 1.5-2% faster at 1 and 2 threads (5-6 of 6 rounds),
// layer 1 0.990 / 0.998; bench_update, 10 paired rounds: the FP32 update 1.6% faster at one
// thread (10 of 10), 0.3% at two.
constexpr int kGradSamples = 8;

// One call adds the terms of `samples` (1 to kGradSamples) consecutive samples to the tile,
// starting from zero when `first`: x[m] and gt[m] are sample m's input and dout^T. A thread
// takes a range of tiles and runs samples outer, tiles inner, so the samples' x stays in L2 while
// its tiles pass over it (tiles outer streamed the whole batch's x once per tile: 22 times 3.6 MB
// for the first Nature layer). Each element's sum still runs sample by sample in one order:
// several samples a call only keep the sums in registers between them instead of storing and
// reloading them at every sample (start_weight_tile's loads were 1.4% of the one-thread FP32
// update). bench_conv2d, batch 32, one thread, fastest of 8 rounds: layers 2 and 3 fwd+bwd 2-4%
// faster with 2 samples than 1, 1-2% more with 4; layer 1 (400 positions a sample) the same.
template <int BC>
[[gnu::noinline]] void weight_grad_tile(float* dwt, const float* const (&x)[kGradSamples],
                                        const float* const (&gt)[kGradSamples], int samples,
                                        bool first, std::int64_t k0, std::int64_t co0,
                                        const Conv2dShape& s, const Dims& d, std::int64_t co_pad) {
  constexpr int R = kAccumulators / BC;
  std::int64_t off[R];
  VecF acc[R][BC];
  const std::int64_t valid = start_weight_tile(acc, off, dwt, first, k0, co0, s, d.K, co_pad);
  for (int m = 0; m < samples; ++m) {
    const float* v = gt[m] + co0;
    for (std::int64_t oh = 0; oh < d.Ho; ++oh) {
      const float* src = x[m] + oh * s.stride * s.W;
      for (std::int64_t ow = 0; ow < d.Wo; ++ow, v += co_pad, src += s.stride)
        fma_term(acc, src, v, off);
    }
  }
  finish_weight_tile(dwt, acc, valid, k0, co0, co_pad);
}

// db += the sums of dout over samples and positions, one channel per thread: each channel's sum
// in one fixed order (lanes over positions, then samples), whatever the thread count.
// Channels split over threads only past 2^19 floats of dout a thread: a Nature layer's sum
// (at most 410K floats, conv1 at batch 32) took 37 us of work on the two threads together but
// 40-70 us of wall time as a parallel region on this project's 2-vCPU VMs (the region's wake
// and join cost more than the sum); inline, on one thread, it costs its work. Same bits either
// way: each channel is one sum on one thread.
constexpr std::int64_t kBiasGradGrain = std::int64_t{1} << 19;

void bias_grad_batch(float* db, const float* dout, const Conv2dShape& s, const Dims& d) {
  const std::int64_t per_channel = std::max<std::int64_t>(s.N * d.P, 1);
  const std::int64_t grain = std::max<std::int64_t>(1, kBiasGradGrain / per_channel);
  parallel_for(0, s.C_out, grain, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t co = lo; co < hi; ++co) {
      VecF acc = VecF::zero();
      float tail = 0.0f;
      for (std::int64_t n = 0; n < s.N; ++n) {
        const float* g = dout + (n * s.C_out + co) * d.P;
        std::int64_t p = 0;
        for (; p + kLanes <= d.P; p += kLanes) acc = acc + VecF::load(g + p);
        for (; p < d.P; ++p) tail += g[p];
      }
      db[co] += acc.sum() + tail;
    }
  });
}

// A layer's backward as the items of one region, each taken by whichever thread comes free (see
// parallel_for_slots): first `shares` of the weight gradient's tiles, share(i, slot); then db's
// sums when `sums`, db_sums(); then dx's blocks, dx_block(blk, slot). Why one region: the
// static shares of the weight gradient finished 0.1-0.2 ms apart at two threads (one vCPU runs
// 5-10% slower than the other on this project's VMs), and dx, a region of its own after it,
// started only then; now the first thread done with its share goes on to db and dx, only the
// last dx block can leave a thread waiting, and a layer pays one region's wake and join instead
// of two or three. The FP32 and bf16 kernels both run their backward this way; neither's items
// give results that depend on which thread runs them or when.
template <class Share, class Sums, class Block>
void backward_items(std::int64_t chunks, std::int64_t shares, bool sums, std::int64_t dx_blocks,
                    Share&& share, Sums&& db_sums, Block&& dx_block) {
  const std::int64_t first_block = shares + (sums ? 1 : 0);
  parallel_for_slots(first_block + dx_blocks, chunks, [&](std::int64_t i, std::int64_t slot) {
    if (i < shares)
      share(i, slot);
    else if (i < first_block)
      db_sums();
    else
      dx_block(i - first_block, slot);
  });
}

// Splits one sample's channels over threads when the im2col is large enough to pay for it.
template <class Fn>
void over_channels(const Conv2dShape& s, const Dims& d, Fn&& fn) {
  const std::int64_t per_channel = std::max<std::int64_t>(s.KH * s.KW * d.P, 1);
  parallel_for(0, s.C_in, std::max<std::int64_t>(1, kColGrain / per_channel), fn);
}

// out_n rows start as the bias (or 0), then the GEMM accumulates onto them.
void fill_bias(float* out_n, const float* b, const Conv2dShape& s, const Dims& d) {
  for (std::int64_t co = 0; co < s.C_out; ++co)
    std::fill(out_n + co * d.P, out_n + (co + 1) * d.P, b ? b[co] : 0.0f);
}

// Per-image GEMM work above which a batch smaller than the thread count is split inside each
// image (im2col over channels, GEMMs over output rows). Measured on the Nature CNN at batch 1
// (3.6-6.5 MFLOP per layer): two threads ran the forward 1.8x SLOWER than one (0.47 vs 0.26 ms),
// since halving 32-64 output channels leaves Eigen's 48-row AVX-512 micro-kernel half empty and
// every layer pays several fork/joins. 32 MFLOP (~0.4 ms on one core) amortises both; below it
// a small batch runs on the calling thread.
constexpr std::int64_t kInImageSplitFlops = std::int64_t{32} << 20;

std::int64_t flops_per_image(const Conv2dShape& s, const Dims& d) {
  return std::max<std::int64_t>(2 * s.C_out * d.K * d.P, 1);
}

// Chunks of samples the batch splits into (1 = stay on this thread or split inside an image).
std::int64_t sample_chunks(const Conv2dShape& s, const Dims& d) {
  // A batch smaller than the thread count would leave threads idle: no split over samples.
  if (s.N < available_threads()) return 1;
  return parallel_chunks(s.N, std::max<std::int64_t>(1, kConvGrainFlops / flops_per_image(s, d)));
}

// True when the work should be split inside each image instead (see kInImageSplitFlops).
bool split_inside_images(const Conv2dShape& s, const Dims& d, std::int64_t chunks) {
  return chunks == 1 && available_threads() > 1 && flops_per_image(s, d) >= kInImageSplitFlops;
}

// The workspace: first wt (K, co_pad), the transposed weights of the lowering-free forward,
// shared by all threads; then one slice per chunk of samples.
std::int64_t shared_floats(const Conv2dShape& s, const Dims& d) {
  // wt (the forward) or dwt (the backward).
  return lowering_free(s) ? d.K * channels_padded(s) : 0;
}

// Per-chunk slice of the workspace: col and dcol (K, B*P), a staging block (C_out, B*P) for the
// GEMM outputs / gathered gradients of B samples, the phase buffer (shared by the input's phases
// and, later in the same block, the phase-split dx), then without padding kGradSamples samples'
// dout^T (P, co_pad) for the weight gradient's tiles, with padding the dw (C_out, K) partial of
// the im2col path.
struct Slice {
  float *col, *dcol, *stage, *xp, *gt, *dw, *xs;
  static std::int64_t floats(const Conv2dShape& s, const Dims& d) {
    return (2 * d.K + s.C_out) * d.B * d.P + d.phase_floats(s.C_in) + gt_floats(s, d) +
           dw_floats(s, d) + xs_floats(s);
  }
  // kGradSamples samples of frames converted to floats (ConvInput::sample), for the
  // lowering-free kernels: xs_sample floats each.
  static std::int64_t xs_sample(const Conv2dShape& s) {
    return lowering_free(s) ? s.C_in * s.H * s.W : 0;
  }
  static std::int64_t xs_floats(const Conv2dShape& s) { return kGradSamples * xs_sample(s); }
  // The weight gradient's dout^T (P rows) of kGradSamples samples, gt_sample floats each, or the
  // forward's position-major tile outputs (the first gt_sample floats).
  static std::int64_t gt_sample(const Conv2dShape& s, const Dims& d) {
    return lowering_free(s) ? position_rows(d) * channels_padded(s) : 0;
  }
  static std::int64_t gt_floats(const Conv2dShape& s, const Dims& d) {
    return kGradSamples * gt_sample(s, d);
  }
  static std::int64_t dw_floats(const Conv2dShape& s, const Dims& d) {
    return lowering_free(s) ? 0 : d.K * s.C_out;
  }
  Slice(float* workspace, std::int64_t c, const Conv2dShape& s, const Dims& d)
      : col(workspace + shared_floats(s, d) + c * floats(s, d)),
        dcol(col + d.K * d.B * d.P),
        stage(dcol + d.K * d.B * d.P),
        xp(stage + s.C_out * d.B * d.P),
        gt(xp + d.phase_floats(s.C_in)),
        dw(gt + gt_floats(s, d)),
        xs(dw + dw_floats(s, d)) {}
};

// A convolution's input: FP32 activations, or uint8 frames times a scale (the tape's input_u8;
// see conv2d_reads_u8 and conv2d_bf16_reads_u8), which are then never written out whole as
// floats (3.6 MB for the Nature CNN's batch of 32, written and read back by each of an update's
// two forward passes, against 0.9 MB of uint8). The FP32 lowering-free kernels take a sample at
// a time, converted into their chunk's slice where the tiles find it in L2; the bf16 kernels
// pack frames straight into bfloat16 pairs. Either way the bits of u8_to_float_fast's floats.
struct ConvInput {
  const float* f = nullptr;
  const std::uint8_t* u8 = nullptr;
  float scale = 1.0f;
  // Sample n (of `stride` elements): in place, or converted into xs.
  const float* sample(std::int64_t n, std::int64_t stride, float* xs) const {
    if (!u8) return f + n * stride;
    u8_to_float_fast(xs, u8 + n * stride, scale, stride);
    return xs;
  }
  // bf16::pack_pairs of the (K, N) matrix of leading dimension lds that starts at element `at`.
  void pack(std::uint32_t* dst, std::int64_t ldd, std::int64_t at, std::int64_t lds, std::int64_t K,
            std::int64_t N) const {
    if (u8)
      bf16::pack_pairs_u8(dst, ldd, u8 + at, lds, K, N, scale);
    else
      bf16::pack_pairs(dst, ldd, f + at, lds, K, N);
  }
};

// The lowering-free weight gradient of the batch goes through dwt (K, co_pad), the shared part
// of the workspace, in `shares`: share c of every channel group's tiles, over all samples. Each
// share transposes dout_n into its own gt_n (P, co_pad), in the slice of the thread running it,
// sample by sample: a second copy of a small transpose per thread costs less than a whole batch
// of them written out and read back (9% of a two-thread update).
void weight_grad_share(float* dwt, const ConvInput& x, const float* dout, const Slice& ws,
                       const Conv2dShape& s, const Dims& d, std::int64_t share,
                       std::int64_t shares) {
  const std::int64_t co_pad = channels_padded(s);
  over_channel_groups(co_pad, [&]<int BC>(std::int64_t co0) {
    constexpr int R = kAccumulators / BC;
    const std::int64_t tiles = (d.K + R - 1) / R;
    const std::int64_t t0 = tiles * share / shares, t1 = tiles * (share + 1) / shares;
    if (t0 == t1) return;
    for (std::int64_t n = 0; n < s.N; n += kGradSamples) {
      const int samples = static_cast<int>(std::min<std::int64_t>(kGradSamples, s.N - n));
      const float* xm[kGradSamples] = {};
      const float* gtm[kGradSamples] = {};
      for (int m = 0; m < samples; ++m) {
        float* g = ws.gt + m * Slice::gt_sample(s, d);
        transpose_channels_last(g, dout + (n + m) * s.C_out * d.P, s.C_out, d.P, co_pad);
        gtm[m] = g;
        xm[m] = x.sample(n + m, s.C_in * s.H * s.W, ws.xs + m * Slice::xs_sample(s));
      }
      for (std::int64_t t = t0; t < t1; ++t)
        weight_grad_tile<BC>(dwt, xm, gtm, samples, n == 0, t * R, co0, s, d, co_pad);
    }
  });
}

// The lowering-free backward (backward_items): `chunks` shares of the weight gradient (each with
// its own transposes of dout, so no more shares than threads), db, then the dx_blocks blocks of
// dx through dx_block(slice, blk).
template <class Block>
void backward_lowering_free(float* dw, float* db, const ConvInput& x, const float* dout,
                            float* workspace, const Conv2dShape& s, const Dims& d,
                            std::int64_t chunks, std::int64_t dx_blocks, Block&& dx_block) {
  float* dwt = workspace;
  const std::int64_t shares = dw ? chunks : 0;
  backward_items(
      chunks, shares, db != nullptr, dx_blocks,
      [&](std::int64_t i, std::int64_t slot) {
        weight_grad_share(dwt, x, dout, Slice(workspace, slot, s, d), s, d, i, shares);
      },
      [&] { bias_grad_batch(db, dout, s, d); },
      [&](std::int64_t blk, std::int64_t slot) { dx_block(Slice(workspace, slot, s, d), blk); });
  if (dw) add_transposed(dw, dwt, s.C_out, d.K, channels_padded(s));
}

// The batch's forward without lowering, chunks of samples over threads.
void forward_lowering_free(float* out, const ConvInput& x, const float* w, const float* b,
                           const Conv2dShape& s, float* workspace, bool relu, std::int64_t chunks) {
  const Dims d(s);
  const std::int64_t x_stride = s.C_in * s.H * s.W, out_stride = s.C_out * d.P;
  float* wt = workspace;
  transpose_channels_last(wt, w, s.C_out, d.K, channels_padded(s));
  // A sample at a time to whichever thread is free: each sample's output is the same whoever
  // computes it (see parallel_for_slots).
  // Inside a task (the update's forward passes) the other task's thread may help with slot 1:
  // the workspace has a slice per thread (conv2d_workspace_floats).
  parallel_for_slots(
      s.N, chunks,
      [&](std::int64_t n, std::int64_t slot) {
        const Slice ws(workspace, slot, s, d);
        forward_sample_lowering_free(out + n * out_stride, x.sample(n, x_stride, ws.xs), wt, b, s,
                                     d, relu, ws.gt);
      },
      num_threads());
}

}  // namespace

bool conv2d_reads_u8(const Conv2dShape& s) {
  const Dims d(s);
  return lowering_free(s) && !split_inside_images(s, d, sample_chunks(s, d));
}

void conv2d_forward_u8_fast(float* out, const std::uint8_t* x, float scale, const float* w,
                            const float* b, const Conv2dShape& s, float* workspace, bool relu) {
  DQN_CHECK(conv2d_reads_u8(s), "conv2d_forward_u8_fast: a padded shape (pad ", s.pad,
            "), or one split inside its images, reads floats only; ask conv2d_reads_u8 first");
  const Dims d(s);
  forward_lowering_free(out, ConvInput{nullptr, x, scale}, w, b, s, workspace, relu,
                        sample_chunks(s, d));
}

void conv2d_backward_u8_fast(float* dw, float* db, const float* dout, const std::uint8_t* x,
                             float scale, const Conv2dShape& s, float* workspace) {
  DQN_CHECK(conv2d_reads_u8(s), "conv2d_backward_u8_fast: a padded shape (pad ", s.pad,
            "), or one split inside its images, reads floats only; ask conv2d_reads_u8 first");
  const Dims d(s);
  backward_lowering_free(dw, db, ConvInput{nullptr, x, scale}, dout, workspace, s, d,
                         sample_chunks(s, d), 0, [](const Slice&, std::int64_t) {});
}

std::int64_t conv2d_workspace_floats(const Conv2dShape& s) {
  const Dims d(s);
  return shared_floats(s, d) + static_cast<std::int64_t>(num_threads()) * Slice::floats(s, d);
}

void conv2d_forward_fast(float* out, const float* x, const float* w, const float* b,
                         const Conv2dShape& s, float* workspace, bool relu) {
  const Dims d(s);
  const std::int64_t x_stride = s.C_in * s.H * s.W, out_stride = s.C_out * d.P;
  const std::int64_t chunks = sample_chunks(s, d);
  if (split_inside_images(s, d, chunks)) {
    // Few large images, several threads: parallelise inside each image.
    const Slice ws(workspace, 0, s, d);
    for (std::int64_t n = 0; n < s.N; ++n) {
      over_channels(s, d, [&](std::int64_t lo, std::int64_t hi) {
        lower(ws.col, ws.xp, x + n * x_stride, s, d, lo, hi, d.P);
      });
      fill_bias(out + n * out_stride, b, s, d);
      matmul_nn_fast(out + n * out_stride, w, ws.col, s.C_out, d.K, d.P, /*accumulate=*/true);
      if (relu) relu_forward_fast(out + n * out_stride, out + n * out_stride, out_stride);
    }
    return;
  }
  if (lowering_free(s)) {
    forward_lowering_free(out, ConvInput{x}, w, b, s, workspace, relu, chunks);
    return;
  }
  const CMapR W(w, s.C_out, d.K);
  parallel_for(0, chunks, 1, [&](std::int64_t c_lo, std::int64_t c_hi) {
    for (std::int64_t c = c_lo; c < c_hi; ++c) {
      const Slice ws(workspace, c, s, d);
      const std::int64_t last = s.N * (c + 1) / chunks;
      for (std::int64_t n0 = s.N * c / chunks; n0 < last; n0 += d.B) {
        const std::int64_t m = std::min(d.B, last - n0), ld = m * d.P;
        for (std::int64_t j = 0; j < m; ++j)
          lower(ws.col + j * d.P, ws.xp, x + (n0 + j) * x_stride, s, d, 0, s.C_in, ld);
        if (m == 1) {  // one sample: the GEMM accumulates straight onto the bias in out
          float* out_n = out + n0 * out_stride;
          fill_bias(out_n, b, s, d);
          MapR(out_n, s.C_out, d.P).noalias() += W * CMapR(ws.col, d.K, d.P);
          if (relu) relu_forward_fast(out_n, out_n, out_stride);
          continue;
        }
        MapR(ws.stage, s.C_out, ld).noalias() = W * CMapR(ws.col, d.K, ld);
        for (std::int64_t j = 0; j < m; ++j)  // (C_out, m*P) -> m samples of (C_out, P), + bias
          for (std::int64_t co = 0; co < s.C_out; ++co) {
            const float* src = ws.stage + co * ld + j * d.P;
            float* dst = out + (n0 + j) * out_stride + co * d.P;
            const float bias = b ? b[co] : 0.0f;
            for (std::int64_t p = 0; p < d.P; ++p) dst[p] = src[p] + bias;
            if (relu) relu_forward_fast(dst, dst, d.P);
          }
      }
    }
  });
}

void conv2d_backward_fast(float* dx, float* dw, float* db, const float* dout, const float* x,
                          const float* w, const Conv2dShape& s, float* workspace,
                          DxWrite dx_write) {
  const Dims d(s);
  const std::int64_t x_stride = s.C_in * s.H * s.W, out_stride = s.C_out * d.P;
  const std::int64_t chunks = sample_chunks(s, d);
  if (split_inside_images(s, d, chunks)) {
    // Few large images, several threads: every GEMM splits its output rows, im2col/col2im split
    // channels; each output element is owned by one thread, so no partials are needed.
    const Slice ws(workspace, 0, s, d);
    for (std::int64_t n = 0; n < s.N; ++n) {
      const float* dout_n = dout + n * out_stride;
      over_channels(s, d, [&](std::int64_t lo, std::int64_t hi) {
        lower(ws.col, ws.xp, x + n * x_stride, s, d, lo, hi, d.P);
      });
      if (db) MapV(db, s.C_out) += CMapR(dout_n, s.C_out, d.P).rowwise().sum();
      matmul_nt_fast(dw, dout_n, ws.col, s.C_out, d.P, d.K, /*accumulate=*/true);
      if (dx) {
        matmul_tn_fast(ws.dcol, w, dout_n, d.K, s.C_out, d.P, /*accumulate=*/false);
        over_channels(s, d, [&](std::int64_t lo, std::int64_t hi) {
          col2im_add(dx + n * x_stride, ws.dcol, ws.xp, s, d, lo, hi, d.P, dx_write,
                     x + n * x_stride);
        });
      }
    }
    return;
  }
  const bool direct_dw = lowering_free(s);
  if (db && !direct_dw) bias_grad_batch(db, dout, s, d);
  // Blocks of B samples from sample 0: a block's dcol GEMM has the same shape, hence the same
  // summation order, at any thread count.
  const std::int64_t blocks = (s.N + d.B - 1) / d.B;
  const auto block = [&](const Slice& ws, std::int64_t blk) {
    const std::int64_t n0 = blk * d.B, m = std::min(d.B, s.N - n0), ld = m * d.P;
    for (std::int64_t j = 0; j < m; ++j) {
      const float* dout_n = dout + (n0 + j) * out_stride;
      if (!direct_dw) lower(ws.col + j * d.P, ws.xp, x + (n0 + j) * x_stride, s, d, 0, s.C_in, ld);
      if (m > 1)  // gather the m samples' dout side by side: (C_out, m*P)
        for (std::int64_t co = 0; co < s.C_out; ++co)
          std::copy(dout_n + co * d.P, dout_n + (co + 1) * d.P, ws.stage + co * ld + j * d.P);
    }
    const CMapR G(m > 1 ? ws.stage : dout + n0 * out_stride, s.C_out, ld);
    if (!direct_dw) MapR(ws.dw, s.C_out, d.K).noalias() += G * CMapR(ws.col, d.K, ld).transpose();
    if (dx) {
      matmul_tn_fast(ws.dcol, w, G.data(), d.K, s.C_out, ld, /*accumulate=*/false);
      for (std::int64_t j = 0; j < m; ++j)
        col2im_add(dx + (n0 + j) * x_stride, ws.dcol + j * d.P, ws.xp, s, d, 0, s.C_in, ld,
                   dx_write, x + (n0 + j) * x_stride);
    }
  };
  if (direct_dw) {
    // dw, db and dx in one region; each dx block's samples are the same whoever computes them.
    backward_lowering_free(dw, db, ConvInput{x}, dout, workspace, s, d, chunks, dx ? blocks : 0,
                           block);
    return;
  }
  // With padding each chunk sums its blocks' dw into its own partial: whole blocks to a chunk,
  // fixed by the thread count.
  parallel_for(0, chunks, 1, [&](std::int64_t c_lo, std::int64_t c_hi) {
    for (std::int64_t c = c_lo; c < c_hi; ++c) {
      const Slice ws(workspace, c, s, d);
      std::fill(ws.dw, ws.dw + Slice::dw_floats(s, d), 0.0f);
      for (std::int64_t blk = blocks * c / chunks; blk < blocks * (c + 1) / chunks; ++blk)
        block(ws, blk);
    }
  });
  // With padding (the im2col path) dw's partials are added in chunk order: the same bits on
  // every run for a given thread count, but not across thread counts (the lowering-free
  // weight gradient above is the same at any).
  for (std::int64_t c = 0; c < chunks; ++c)
    MapR(dw, s.C_out, d.K) += CMapR(Slice(workspace, c, s, d).dw, s.C_out, d.K);
}

// ================================================================ bfloat16 (core/bf16.hpp)
//
// The same three products with bfloat16 operands, summed in pairs by VDPBF16PS (bf16.cpp says
// why its tiles hold 24 sums). Each product needs its summed dimension in pairs, so each pairs a
// different axis of x, chosen so that a pair is one 32-bit load from a packed copy:
//   forward      out[n,co,p]  = sum over (ci, kh, kw): pairs of input CHANNELS. xc holds
//                x_n with channels 2c and 2c+1 interleaved, so the pair under any (kh, kw,
//                position) is one uint32; the tile is forward_channels' with K/2 steps.
//   weight grad  dw[co,k]     = sum over (n, p): pairs of SAMPLES. xs holds samples 2m and 2m+1
//                interleaved and gs the matching dout pairs, transposed to (position, channel);
//                the tile is weight_grad_channels' over sample pairs. The k rows are split over
//                threads, every sum runs whole on one: the bits do not depend on the thread count
//                (the FP32 kernel's per-thread partials do).
//   input grad   dcol[k,p]    = sum over co: pairs of OUTPUT CHANNELS, bf16::gemm_pairs on w
//                and dout packed in pairs, then col2im as in FP32.
// Padded convolutions (not in the Nature CNN) take the rounding fallback below.

namespace {

std::int64_t bf16_fallback_floats(const Conv2dShape& s) {
  return s.N * s.C_in * s.H * s.W + s.C_out * s.C_in * s.KH * s.KW +
         s.N * s.C_out * s.H_out() * s.W_out() + conv2d_workspace_floats(s);
}

#if defined(DQN_HAVE_BF16_DOT)
bool bf16_direct(const Conv2dShape& s) {
  return s.pad == 0;
}

using bf16::pairs;

// The bfloat16 workspace: the forward's packed w^T and pair offsets, then a packed sample per
// chunk; the backward's sample-paired x and dout, w packed for dcol, then per chunk a dout block,
// dcol and the phase buffer for col2im. The two never live at once: the larger is reserved.
struct Bf16Ws {
  std::int64_t Q, co_pad, chunks;
  std::int64_t fwd_shared, fwd_per_chunk, xs, gs, wpk, dwt, ldb, bwd_per_chunk;
  Bf16Ws(const Conv2dShape& s, const Dims& d)
      : Q(pairs(s.C_in) * s.KH * s.KW),
        co_pad(channels_padded(s)),
        chunks(num_threads()),
        fwd_shared(Q * co_pad + Q + d.K * co_pad),
        fwd_per_chunk(pairs(s.C_in) * s.H * s.W + position_rows(d) * co_pad),
        xs(pairs(s.N) * s.C_in * s.H * s.W),
        gs(pairs(s.N) * d.P * co_pad),
        wpk(pairs(s.C_out) * d.K),
        dwt(d.K * co_pad),
        ldb(bf16::padded_cols(d.B * d.P)),
        bwd_per_chunk(pairs(s.C_out) * ldb + d.K * d.B * d.P + d.phase_floats(s.C_in)) {}
  std::int64_t floats() const {
    return std::max(fwd_shared + chunks * fwd_per_chunk,
                    xs + gs + wpk + dwt + chunks * bwd_per_chunk);
  }
};

template <int BC>
[[gnu::noinline]] void forward_channels_bf16(const std::uint32_t* xc, const std::uint32_t* wtb,
                                             const std::uint32_t* qoff, std::int64_t Q,
                                             std::int64_t co0, const Conv2dShape& s, const Dims& d,
                                             std::int64_t co_pad, float* tb) {
  constexpr int R = kAccumulators / BC;
  for (std::int64_t p0 = 0; p0 < d.P; p0 += R) {
    std::int64_t off[R];
    position_offsets(off, p0, s, d);
    VecF acc[R][BC];
    zero(acc);
    const std::uint32_t* v = wtb + co0;
    for (std::int64_t q = 0; q < Q; ++q, v += co_pad) {
      __m512i bv[BC];
      for (int j = 0; j < BC; ++j) bv[j] = simd::load_pairs(v + j * kLanes);
      const std::uint32_t* xq = xc + qoff[q];
      for (int i = 0; i < R; ++i) {
        const __m512i xi = simd::broadcast_pair(xq + off[i]);
        for (int j = 0; j < BC; ++j) acc[i][j] = simd::dot_pairs(acc[i][j], xi, bv[j]);
      }
    }
    store_positions(tb, acc, p0, co0, co_pad);
  }
}

// dwt[k, co] (+)= sum over positions p of xs_m[koff(k) + poff(p)] . gs_m[p, co] for one sample
// pair m (written for m = 0, added after), products k in [k0, k0 + R) (R = kAccumulators / BC)
// and BC channel vectors from co0. Callers run pairs outer, tiles inner, as the FP32 tile's.
template <int BC>
[[gnu::noinline]] void weight_grad_channels_bf16(float* dwt, const std::uint32_t* xs_m,
                                                 const std::uint32_t* gs_m, bool first,
                                                 std::int64_t k0, std::int64_t co0,
                                                 const Conv2dShape& s, const Dims& d,
                                                 std::int64_t co_pad) {
  constexpr int R = kAccumulators / BC;
  std::int64_t off[R];
  VecF acc[R][BC];
  const std::int64_t valid = start_weight_tile(acc, off, dwt, first, k0, co0, s, d.K, co_pad);
  const std::uint32_t* v = gs_m + co0;
  for (std::int64_t oh = 0; oh < d.Ho; ++oh) {
    const std::uint32_t* src = xs_m + oh * s.stride * s.W;
    for (std::int64_t ow = 0; ow < d.Wo; ++ow, v += co_pad, src += s.stride) {
      __m512i bv[BC];
      for (int j = 0; j < BC; ++j) bv[j] = simd::load_pairs(v + j * kLanes);
      for (int i = 0; i < R; ++i) {
        const __m512i xi = simd::broadcast_pair(src + off[i]);
        for (int j = 0; j < BC; ++j) acc[i][j] = simd::dot_pairs(acc[i][j], xi, bv[j]);
      }
    }
  }
  finish_weight_tile(dwt, acc, valid, k0, co0, co_pad);
}

// gs[m, p, co] = pair(dout[2m, co, p], dout[2m+1, co, p]) for the sample pairs [m_lo, m_hi),
// zero for co in [C_out, co_pad): dout's channel-major rows turned position-major, a 16 x 16
// block at a time (pair 16 channel rows, transpose16, store 16 position rows). The scalar
// scatter this replaces, one 4-byte store per element, was 2.5% of the bf16 update (perf).
// transpose16 only moves bits, so the pairs are stored as computed.
void pack_dout_sample_pairs(std::uint32_t* gs, const float* dout, const Conv2dShape& s,
                            const Dims& d, std::int64_t co_pad, std::int64_t m_lo,
                            std::int64_t m_hi) {
  const std::int64_t out_stride = s.C_out * d.P;
  for (std::int64_t m = m_lo; m < m_hi; ++m) {
    const float* lo = dout + 2 * m * out_stride;
    const float* hi = 2 * m + 1 < s.N ? lo + out_stride : nullptr;
    std::uint32_t* g = gs + m * d.P * co_pad;
    for (std::int64_t co0 = 0; co0 < co_pad; co0 += kLanes) {
      const std::int64_t channels = std::min<std::int64_t>(kLanes, s.C_out - co0);
      for (std::int64_t p0 = 0; p0 < d.P; p0 += kLanes) {
        const int n = static_cast<int>(std::min<std::int64_t>(kLanes, d.P - p0));
        VecF r[kLanes];
#pragma GCC unroll 16  // r[] in registers, not on the stack (the tile trap in core/simd.hpp)
        for (int i = 0; i < kLanes; ++i) {
          if (i >= channels) {
            r[i] = VecF::zero();  // padded channels pair to 0
            continue;
          }
          const std::int64_t at = (co0 + i) * d.P + p0;
          const VecF a = VecF::load_first(lo + at, n);
          const VecF b = hi ? VecF::load_first(hi + at, n) : VecF::zero();
          r[i] = VecF{_mm512_castsi512_ps(simd::bf16_pairs(a, b))};
        }
        simd::transpose16(r);
        for (int l = 0; l < n; ++l)
          _mm512_storeu_si512(g + (p0 + l) * co_pad + co0, _mm512_castps_si512(r[l].v));
      }
    }
  }
}
#else
bool bf16_direct(const Conv2dShape&) {
  return false;
}
#endif

}  // namespace

std::int64_t conv2d_bf16_workspace_floats(const Conv2dShape& s) {
#if defined(DQN_HAVE_BF16_DOT)
  if (bf16_direct(s)) return Bf16Ws(s, Dims(s)).floats();
#endif
  return bf16_fallback_floats(s);
}

#if defined(DQN_HAVE_BF16_DOT)
namespace {

void forward_bf16_direct(float* out, const ConvInput& x, const float* w, const float* b,
                         const Conv2dShape& s, float* workspace, bool relu) {
  const Dims d(s);
  const Bf16Ws ws(s, d);
  auto* wtb = reinterpret_cast<std::uint32_t*>(workspace);
  std::uint32_t* qoff = wtb + ws.Q * ws.co_pad;
  float* wt = reinterpret_cast<float*>(qoff + ws.Q);  // w^T (K, co_pad), zero-padded
  std::uint32_t* xc_all = reinterpret_cast<std::uint32_t*>(wt + d.K * ws.co_pad);
  // wtb[q, co] = pair(w[co, 2c, kh, kw], w[co, 2c+1, kh, kw]) for q = (c*KH + kh)*KW + kw: rows
  // k and k + KH*KW of w^T paired, whole vectors at a time (pairing w in place, strided over
  // co, was a serial 0.1 ms a forward). qoff[q]: the offset of (c, kh, kw) in a packed sample.
  transpose_channels_last(wt, w, s.C_out, d.K, ws.co_pad);
  const std::int64_t taps = s.KH * s.KW;
  for (std::int64_t c = 0; c < pairs(s.C_in); ++c)
    for (std::int64_t t = 0; t < taps; ++t) {
      const std::int64_t q = c * taps + t;
      qoff[q] = static_cast<std::uint32_t>((c * s.H + t / s.KW) * s.W + t % s.KW);
      bf16::pack_pairs(wtb + q * ws.co_pad, ws.co_pad, wt + (2 * c * taps + t) * ws.co_pad,
                       taps * ws.co_pad, std::min<std::int64_t>(2, s.C_in - 2 * c), ws.co_pad);
    }
  const std::int64_t x_stride = s.C_in * s.H * s.W, out_stride = s.C_out * d.P;
  const std::int64_t chunks = std::min<std::int64_t>(sample_chunks(s, d), ws.chunks);
  // A sample at a time to whichever thread is free (see parallel_for_slots); inside a task, the
  // other task's thread may help with slot 1 (ws.chunks slices).
  parallel_for_slots(
      s.N, chunks,
      [&](std::int64_t n, std::int64_t slot) {
        std::uint32_t* xc = xc_all + slot * ws.fwd_per_chunk;
        float* tb = reinterpret_cast<float*>(xc + pairs(s.C_in) * s.H * s.W);
        x.pack(xc, s.H * s.W, n * x_stride, s.H * s.W, s.C_in, s.H * s.W);
        over_channel_groups(ws.co_pad, [&]<int BC>(std::int64_t co0) {
          forward_channels_bf16<BC>(xc, wtb, qoff, ws.Q, co0, s, d, ws.co_pad, tb);
        });
        store_channel_major(out + n * out_stride, tb, b, s.C_out, ws.co_pad, d.P, relu);
      },
      ws.chunks);
}

void backward_bf16_direct(float* dx, float* dw, float* db, const float* dout, const ConvInput& x,
                          const float* w, const Conv2dShape& s, float* workspace,
                          DxWrite dx_write) {
  const Dims d(s);
  const Bf16Ws ws(s, d);
  const std::int64_t sample = s.C_in * s.H * s.W;
  auto* xs = reinterpret_cast<std::uint32_t*>(workspace);
  std::uint32_t* gs = xs + ws.xs;
  std::uint32_t* wpk = gs + ws.gs;
  std::uint32_t* per_chunk = wpk + ws.wpk + d.K * ws.co_pad;
  float* dwt = reinterpret_cast<float*>(wpk + ws.wpk);  // dw^T (K, co_pad), then added to dw
  // ---- the packed operands: x and dout in sample pairs for dw, w in output-channel pairs for dx.
  // Pairs as threads come free (parallel_for_pieces): an even split left one vCPU waiting 0.2 ms
  // an update over the three layers at two threads.
  parallel_for_pieces(0, pairs(s.N), 1, 1, [&](std::int64_t lo, std::int64_t hi) {
    x.pack(xs + lo * sample, sample, 2 * lo * sample, sample, std::min(2 * hi, s.N) - 2 * lo,
           sample);
    pack_dout_sample_pairs(gs, dout, s, d, ws.co_pad, lo, hi);
  });
  if (dx) bf16::pack_pairs(wpk, d.K, w, d.K, s.C_out, d.K);
  // ---- then dw, db and dx as the items of one region (backward_items): `chunks` shares of dw's
  // tiles over all sample pairs, db's FP32 sums of the unrounded dout, then dx's blocks of B
  // samples from sample 0 (dcol = w^T . dout, then col2im). Every output of gemm_pairs is one
  // tile's sum in q order, whatever the block's width, and each dw element one tile's sum over
  // the sample pairs in order, so neither the items nor the threads that run them can change a
  // bit.
  const std::int64_t x_stride = s.C_in * s.H * s.W, out_stride = s.C_out * d.P;
  const std::int64_t chunks = std::min<std::int64_t>(sample_chunks(s, d), ws.chunks);
  const auto share = [&](std::int64_t i, std::int64_t) {
    over_channel_groups(ws.co_pad, [&]<int BC>(std::int64_t co0) {
      constexpr int R = kAccumulators / BC;
      const std::int64_t tiles = (d.K + R - 1) / R;
      const std::int64_t t0 = tiles * i / chunks, t1 = tiles * (i + 1) / chunks;
      if (t0 == t1) return;
      for (std::int64_t m = 0; m < pairs(s.N); ++m)
        for (std::int64_t t = t0; t < t1; ++t)
          weight_grad_channels_bf16<BC>(dwt, xs + m * sample, gs + m * d.P * ws.co_pad, m == 0,
                                        t * R, co0, s, d, ws.co_pad);
    });
  };
  const auto dx_block = [&](std::int64_t blk, std::int64_t slot) {
    std::uint32_t* gb = per_chunk + slot * ws.bwd_per_chunk;
    float* dcol = reinterpret_cast<float*>(gb + pairs(s.C_out) * ws.ldb);
    float* xp = dcol + d.K * d.B * d.P;
    const std::int64_t n0 = blk * d.B, m = std::min(d.B, s.N - n0), ld = m * d.P;
    for (std::int64_t j = 0; j < m; ++j)
      bf16::pack_pairs(gb + j * d.P, ws.ldb, dout + (n0 + j) * out_stride, d.P, s.C_out, d.P);
    bf16::zero_cols(gb, ws.ldb, pairs(s.C_out), ld, bf16::padded_cols(ld));
    bf16::gemm_pairs(dcol, ld, wpk, 1, d.K, gb, ws.ldb, d.K, pairs(s.C_out), ld,
                     /*accumulate=*/false);
    for (std::int64_t j = 0; j < m; ++j)
      col2im_add(dx + (n0 + j) * x_stride, dcol + j * d.P, xp, s, d, 0, s.C_in, ld, dx_write,
                 x.f + (n0 + j) * x_stride);  // dx only for FP32 activations: x.f is set
  };
  backward_items(
      chunks, chunks, db != nullptr, dx ? (s.N + d.B - 1) / d.B : 0, share,
      [&] { bias_grad_batch(db, dout, s, d); }, dx_block);
  add_transposed(dw, dwt, s.C_out, d.K, ws.co_pad);
}

}  // namespace
#endif

void conv2d_forward_bf16_fast(float* out, const float* x, const float* w, const float* b,
                              const Conv2dShape& s, float* workspace, bool relu) {
  if (!bf16_direct(s)) {
    // Round the operands into FP32 copies, then the FP32 kernel: the same numbers.
    float* xr = workspace;
    float* wr = xr + s.N * s.C_in * s.H * s.W;
    float* rest = wr + s.C_out * s.C_in * s.KH * s.KW + s.N * s.C_out * s.H_out() * s.W_out();
    bf16_round_fast(xr, x, s.N * s.C_in * s.H * s.W);
    bf16_round_fast(wr, w, s.C_out * s.C_in * s.KH * s.KW);
    conv2d_forward_fast(out, xr, wr, b, s, rest, relu);
    return;
  }
#if defined(DQN_HAVE_BF16_DOT)
  forward_bf16_direct(out, ConvInput{x}, w, b, s, workspace, relu);
#endif
}

void conv2d_backward_bf16_fast(float* dx, float* dw, float* db, const float* dout, const float* x,
                               const float* w, const Conv2dShape& s, float* workspace,
                               DxWrite dx_write) {
  const Dims d(s);
  if (!bf16_direct(s)) {
    if (db) bias_grad_batch(db, dout, s, d);  // FP32 sums of the unrounded dout
    float* xr = workspace;
    float* wr = xr + s.N * s.C_in * s.H * s.W;
    float* gr = wr + s.C_out * s.C_in * s.KH * s.KW;
    float* rest = gr + s.N * s.C_out * d.P;
    bf16_round_fast(xr, x, s.N * s.C_in * s.H * s.W);
    bf16_round_fast(wr, w, s.C_out * s.C_in * s.KH * s.KW);
    bf16_round_fast(gr, dout, s.N * s.C_out * d.P);
    // The ReLU's select reads x itself: rounding can take a positive subnormal to +0.
    const bool relu = dx_write == DxWrite::kSetThroughRelu;
    conv2d_backward_fast(dx, dw, nullptr, gr, xr, wr, s, rest, relu ? DxWrite::kSet : dx_write);
    if (relu) relu_backward_set_fast(dx, dx, x, s.N * s.C_in * s.H * s.W);
    return;
  }
#if defined(DQN_HAVE_BF16_DOT)
  backward_bf16_direct(dx, dw, db, dout, ConvInput{x}, w, s, workspace, dx_write);
#endif
}

bool conv2d_bf16_reads_u8(const Conv2dShape& s) {
  return bf16_direct(s);
}

void conv2d_forward_bf16_u8_fast(float* out, const std::uint8_t* x, float scale, const float* w,
                                 const float* b, const Conv2dShape& s, float* workspace,
                                 bool relu) {
  DQN_CHECK(conv2d_bf16_reads_u8(s), "conv2d_forward_bf16_u8_fast: a padded shape (pad ", s.pad,
            ") or a CPU without AVX512_BF16 needs the rounding fallback; ask "
            "conv2d_bf16_reads_u8 first");
#if defined(DQN_HAVE_BF16_DOT)
  forward_bf16_direct(out, ConvInput{nullptr, x, scale}, w, b, s, workspace, relu);
#else
  (void)out, (void)x, (void)scale, (void)w, (void)b, (void)workspace, (void)relu;
#endif
}

void conv2d_backward_bf16_u8_fast(float* dw, float* db, const float* dout, const std::uint8_t* x,
                                  float scale, const float* w, const Conv2dShape& s,
                                  float* workspace) {
  DQN_CHECK(conv2d_bf16_reads_u8(s), "conv2d_backward_bf16_u8_fast: a padded shape (pad ", s.pad,
            ") or a CPU without AVX512_BF16 needs the rounding fallback; ask "
            "conv2d_bf16_reads_u8 first");
#if defined(DQN_HAVE_BF16_DOT)
  backward_bf16_direct(nullptr, dw, db, dout, ConvInput{nullptr, x, scale}, w, s, workspace,
                       DxWrite::kAdd);
#else
  (void)dw, (void)db, (void)dout, (void)x, (void)scale, (void)w, (void)workspace;
#endif
}

}  // namespace dqn
