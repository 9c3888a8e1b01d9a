// core/conv2d.cpp: the fast convolution: im2col + Eigen GEMM per sample, threads over samples
// (or, for a batch smaller than the thread count, over channels inside one sample).
//
// col (K, P) with K = C_in*KH*KW (row k = (ci*KH + kh)*KW + kw) and P = H_out*W_out:
//   col[k, oh*W_out + ow] = x[ci, oh*S - pad + kh, ow*S - pad + kw]   (0 outside the image)
// Forward  out_n (C_out,P)  = b + w (C_out,K) . col
// Backward dw    (C_out,K) += dout_n (C_out,P) . col^T
//          dcol  (K,P)      = w^T . dout_n, then col2im adds dcol back onto dx_n
//          db    (C_out)   += row sums of dout_n
// GCC 12 reports a false -Wmaybe-uninitialized inside Eigen's AVX-512 GEMM kernel; see matmul.cpp.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "core/conv2d.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <cstring>

#include "core/matmul.hpp"
#include "core/parallel.hpp"

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

struct Dims {
  std::int64_t K, P, Ho, Wo;
  explicit Dims(const Conv2dShape& s)
      : K(s.C_in * s.KH * s.KW), P(s.H_out() * s.W_out()), Ho(s.H_out()), Wo(s.W_out()) {}
};

// The output columns ow whose input column ow*S - pad + kw lies inside [0, W): [lo, hi).
void valid_range(std::int64_t k, std::int64_t S, std::int64_t pad, std::int64_t extent,
                 std::int64_t out_extent, std::int64_t& lo, std::int64_t& hi) {
  // ow*S - pad + k >= 0  <=>  ow >= ceil((pad - k) / S);   ow*S - pad + k < extent.
  lo = pad - k > 0 ? (pad - k + S - 1) / S : 0;
  hi = extent + pad - k > 0 ? (extent + pad - k + S - 1) / S : 0;
  lo = std::min(lo, out_extent);
  hi = std::clamp(hi, lo, out_extent);
}

// Writes rows [ci_lo*KH*KW, ci_hi*KH*KW) of col for one sample x_n (C_in,H,W).
void im2col(float* col, const float* x_n, const Conv2dShape& s, const Dims& d, std::int64_t ci_lo,
            std::int64_t ci_hi) {
  for (std::int64_t ci = ci_lo; ci < ci_hi; ++ci)
    for (std::int64_t kh = 0; kh < s.KH; ++kh)
      for (std::int64_t kw = 0; kw < s.KW; ++kw) {
        float* row = col + ((ci * s.KH + kh) * s.KW + kw) * d.P;
        std::int64_t ow_lo, ow_hi;
        valid_range(kw, s.stride, s.pad, s.W, d.Wo, ow_lo, ow_hi);
        for (std::int64_t oh = 0; oh < d.Ho; ++oh) {
          float* dst = row + oh * d.Wo;
          const std::int64_t ih = oh * s.stride - s.pad + kh;
          if (ih < 0 || ih >= s.H) {
            std::fill(dst, dst + d.Wo, 0.0f);
            continue;
          }
          const float* src = x_n + (ci * s.H + ih) * s.W;  // the input row; iw = ow*S - pad + kw
          const std::int64_t shift = kw - s.pad;
          std::fill(dst, dst + ow_lo, 0.0f);
          if (s.stride == 1) {
            if (ow_hi > ow_lo)
              std::memcpy(dst + ow_lo, src + ow_lo + shift, sizeof(float) * (ow_hi - ow_lo));
          } else {
            for (std::int64_t ow = ow_lo; ow < ow_hi; ++ow) dst[ow] = src[ow * s.stride + shift];
          }
          std::fill(dst + ow_hi, dst + d.Wo, 0.0f);
        }
      }
}

// Adds rows [ci_lo*KH*KW, ci_hi*KH*KW) of dcol onto dx_n (C_in,H,W): the adjoint of im2col.
// Rows of one channel touch only that channel of dx_n, so channel ranges never collide.
void col2im_add(float* dx_n, const float* dcol, const Conv2dShape& s, const Dims& d,
                std::int64_t ci_lo, std::int64_t ci_hi) {
  for (std::int64_t ci = ci_lo; ci < ci_hi; ++ci)
    for (std::int64_t kh = 0; kh < s.KH; ++kh)
      for (std::int64_t kw = 0; kw < s.KW; ++kw) {
        const float* row = dcol + ((ci * s.KH + kh) * s.KW + kw) * d.P;
        std::int64_t ow_lo, ow_hi;
        valid_range(kw, s.stride, s.pad, s.W, d.Wo, ow_lo, ow_hi);
        for (std::int64_t oh = 0; oh < d.Ho; ++oh) {
          const std::int64_t ih = oh * s.stride - s.pad + kh;
          if (ih < 0 || ih >= s.H) continue;
          const float* src = row + oh * d.Wo;
          float* dst = dx_n + (ci * s.H + ih) * s.W;
          const std::int64_t shift = kw - s.pad;
          for (std::int64_t ow = ow_lo; ow < ow_hi; ++ow) dst[ow * s.stride + shift] += src[ow];
        }
      }
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

// Chunks of samples the batch splits into (1 = stay on this thread or split inside a sample).
std::int64_t sample_chunks(const Conv2dShape& s, const Dims& d) {
  const std::int64_t flops_per_sample = std::max<std::int64_t>(2 * s.C_out * d.K * d.P, 1);
  const std::int64_t grain = std::max<std::int64_t>(1, kConvGrainFlops / flops_per_sample);
  // A batch smaller than the thread count would leave threads idle: split inside the sample.
  if (s.N < num_threads()) return 1;
  return parallel_chunks(s.N, grain);
}

// Per-chunk slice of the workspace: col, dcol (K,P) each, then the dw (C_out,K), db (C_out)
// partials.
std::int64_t slice_floats(const Conv2dShape& s, const Dims& d) {
  return 2 * d.K * d.P + s.C_out * d.K + s.C_out;
}

}  // namespace

std::int64_t conv2d_workspace_floats(const Conv2dShape& s) {
  return static_cast<std::int64_t>(num_threads()) * slice_floats(s, Dims(s));
}

void conv2d_forward_fast(float* out, const float* x, const float* w, const float* b,
                         const Conv2dShape& s, float* workspace) {
  const Dims d(s);
  const std::int64_t x_stride = s.C_in * s.H * s.W, out_stride = s.C_out * d.P;
  const std::int64_t chunks = sample_chunks(s, d);
  if (chunks == 1 && num_threads() > 1) {
    // Few samples, several threads: parallelise inside each sample.
    float* col = workspace;
    for (std::int64_t n = 0; n < s.N; ++n) {
      over_channels(s, d, [&](std::int64_t lo, std::int64_t hi) {
        im2col(col, x + n * x_stride, s, d, lo, hi);
      });
      fill_bias(out + n * out_stride, b, s, d);
      matmul_nn_fast(out + n * out_stride, w, col, s.C_out, d.K, d.P, /*accumulate=*/true);
    }
    return;
  }
  const CMapR W(w, s.C_out, d.K);
  parallel_for(0, chunks, 1, [&](std::int64_t c_lo, std::int64_t c_hi) {
    for (std::int64_t c = c_lo; c < c_hi; ++c) {
      float* col = workspace + c * slice_floats(s, d);
      for (std::int64_t n = s.N * c / chunks; n < s.N * (c + 1) / chunks; ++n) {
        im2col(col, x + n * x_stride, s, d, 0, s.C_in);
        float* out_n = out + n * out_stride;
        fill_bias(out_n, b, s, d);
        MapR(out_n, s.C_out, d.P).noalias() += W * CMapR(col, d.K, d.P);
      }
    }
  });
}

void conv2d_backward_fast(float* dx, float* dw, float* db, const float* dout, const float* x,
                          const float* w, const Conv2dShape& s, float* workspace) {
  const Dims d(s);
  const std::int64_t x_stride = s.C_in * s.H * s.W, out_stride = s.C_out * d.P;
  const std::int64_t chunks = sample_chunks(s, d);
  if (chunks == 1 && num_threads() > 1) {
    // Few samples, several threads: every GEMM splits its output rows, im2col/col2im split
    // channels; each output element is owned by one thread, so no partials are needed.
    float* col = workspace;
    float* dcol = workspace + d.K * d.P;
    for (std::int64_t n = 0; n < s.N; ++n) {
      const float* dout_n = dout + n * out_stride;
      over_channels(s, d, [&](std::int64_t lo, std::int64_t hi) {
        im2col(col, x + n * x_stride, s, d, lo, hi);
      });
      if (db) MapV(db, s.C_out) += CMapR(dout_n, s.C_out, d.P).rowwise().sum();
      matmul_nt_fast(dw, dout_n, col, s.C_out, d.P, d.K, /*accumulate=*/true);
      if (dx) {
        matmul_tn_fast(dcol, w, dout_n, d.K, s.C_out, d.P, /*accumulate=*/false);
        over_channels(s, d, [&](std::int64_t lo, std::int64_t hi) {
          col2im_add(dx + n * x_stride, dcol, s, d, lo, hi);
        });
      }
    }
    return;
  }
  const CMapR W(w, s.C_out, d.K);
  const std::int64_t slice = slice_floats(s, d);
  parallel_for(0, chunks, 1, [&](std::int64_t c_lo, std::int64_t c_hi) {
    for (std::int64_t c = c_lo; c < c_hi; ++c) {
      float* col = workspace + c * slice;
      float* dcol = col + d.K * d.P;
      float* dw_part = dcol + d.K * d.P;
      float* db_part = dw_part + s.C_out * d.K;
      MapR DW(dw_part, s.C_out, d.K);
      MapV DB(db_part, s.C_out);
      DW.setZero();
      DB.setZero();
      for (std::int64_t n = s.N * c / chunks; n < s.N * (c + 1) / chunks; ++n) {
        const CMapR G(dout + n * out_stride, s.C_out, d.P);
        im2col(col, x + n * x_stride, s, d, 0, s.C_in);
        DB += G.rowwise().sum();
        DW.noalias() += G * CMapR(col, d.K, d.P).transpose();
        if (dx) {
          MapR(dcol, d.K, d.P).noalias() = W.transpose() * G;
          col2im_add(dx + n * x_stride, dcol, s, d, 0, s.C_in);
        }
      }
    }
  });
  // Partials in chunk order: deterministic for a given thread count.
  for (std::int64_t c = 0; c < chunks; ++c) {
    const float* dw_part = workspace + c * slice + 2 * d.K * d.P;
    MapR(dw, s.C_out, d.K) += CMapR(dw_part, s.C_out, d.K);
    if (db)
      MapV(db, s.C_out) += Eigen::Map<const Eigen::VectorXf>(dw_part + s.C_out * d.K, s.C_out);
  }
}

}  // namespace dqn
