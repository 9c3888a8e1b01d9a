// core/conv2d.hpp: 2-D convolution (cross-correlation, PyTorch nn.Conv2d's convention), the
// Nature-DQN CNN's layers.
//
// Legend: N batch, C_in / C_out channels, H, W input height and width, KH, KW kernel size,
// H_out, W_out output size, stride S (same in both directions), zero padding P on every side.
//   x (N,C_in,H,W)  w (C_out,C_in,KH,KW)  b (C_out)  out (N,C_out,H_out,W_out)
//   out[n,co,oh,ow] = b[co] + sum_{ci,kh,kw} w[co,ci,kh,kw] x[n,ci,oh*S-P+kh,ow*S-P+kw]
// where x outside [0,H) x [0,W) reads as 0.
//
//   Conv2dShape s{32, 4, 84, 84, 32, 8, 8, 4, 0};            // Nature CNN layer 1, batch 32
//   std::vector<float> ws(conv2d_workspace_floats(s));        // at the current num_threads()
//   conv2d_forward_fast(out, x, w, b, s, ws.data());          // out (32,32,20,20)
//
// Backward kernels ACCUMULATE (+=) into dx, dw, db (dx and db may be null: the first layer needs
// no dx). The fast kernels lower samples to GEMMs over im2col matrices
// col (C_in*KH*KW, H_out*W_out) kept in the caller's workspace (kernels never allocate), except
// the forward and the weight gradient without padding, whose register tiles read x in place.
#pragma once

#include <cstdint>

namespace dqn {

struct Conv2dShape {
  std::int64_t N, C_in, H, W, C_out, KH, KW, stride, pad;
  std::int64_t H_out() const { return (H + 2 * pad - KH) / stride + 1; }
  std::int64_t W_out() const { return (W + 2 * pad - KW) / stride + 1; }
};

// The seven nested loops. x (N,C_in,H,W)  w (C_out,C_in,KH,KW)  b (C_out) or null
// out (N,C_out,H_out,W_out)
template <class T>
void conv2d_forward_ref(T* out, const T* x, const T* w, const T* b, const Conv2dShape& s) {
  const std::int64_t Ho = s.H_out(), Wo = s.W_out();
  for (std::int64_t n = 0; n < s.N; ++n)
    for (std::int64_t co = 0; co < s.C_out; ++co)
      for (std::int64_t oh = 0; oh < Ho; ++oh)
        for (std::int64_t ow = 0; ow < Wo; ++ow) {
          T sum = b ? b[co] : T(0);
          for (std::int64_t ci = 0; ci < s.C_in; ++ci)
            for (std::int64_t kh = 0; kh < s.KH; ++kh) {
              const std::int64_t ih = oh * s.stride - s.pad + kh;
              if (ih < 0 || ih >= s.H) continue;
              for (std::int64_t kw = 0; kw < s.KW; ++kw) {
                const std::int64_t iw = ow * s.stride - s.pad + kw;
                if (iw < 0 || iw >= s.W) continue;
                sum += w[((co * s.C_in + ci) * s.KH + kh) * s.KW + kw] *
                       x[((n * s.C_in + ci) * s.H + ih) * s.W + iw];
              }
            }
          out[((n * s.C_out + co) * Ho + oh) * Wo + ow] = sum;
        }
}

// Accumulates: dx += dL/dx (if dx), dw += dL/dw, db += dL/db (if db), same loops as forward.
// dout (N,C_out,H_out,W_out)  x, w as forward  dx (N,C_in,H,W)  dw (C_out,C_in,KH,KW)  db (C_out)
template <class T>
void conv2d_backward_ref(T* dx, T* dw, T* db, const T* dout, const T* x, const T* w,
                         const Conv2dShape& s) {
  const std::int64_t Ho = s.H_out(), Wo = s.W_out();
  for (std::int64_t n = 0; n < s.N; ++n)
    for (std::int64_t co = 0; co < s.C_out; ++co)
      for (std::int64_t oh = 0; oh < Ho; ++oh)
        for (std::int64_t ow = 0; ow < Wo; ++ow) {
          const T g = dout[((n * s.C_out + co) * Ho + oh) * Wo + ow];
          if (db) db[co] += g;
          for (std::int64_t ci = 0; ci < s.C_in; ++ci)
            for (std::int64_t kh = 0; kh < s.KH; ++kh) {
              const std::int64_t ih = oh * s.stride - s.pad + kh;
              if (ih < 0 || ih >= s.H) continue;
              for (std::int64_t kw = 0; kw < s.KW; ++kw) {
                const std::int64_t iw = ow * s.stride - s.pad + kw;
                if (iw < 0 || iw >= s.W) continue;
                const std::int64_t wi = ((co * s.C_in + ci) * s.KH + kh) * s.KW + kw;
                const std::int64_t xi = ((n * s.C_in + ci) * s.H + ih) * s.W + iw;
                dw[wi] += g * x[xi];
                if (dx) dx[xi] += g * w[wi];
              }
            }
        }
}

// Floats of scratch the fast kernels need for shape s at the CURRENT num_threads(): per thread an
// im2col and a col2im matrix (C_in*KH*KW x H_out*W_out each), the phase-split padded input
// (C_in*H_pad*W_pad, none for stride 1 without padding) and, with padding, a private dw partial;
// without padding one shared w^T or dw^T (C_in*KH*KW x C_out rounded up to whole SIMD vectors)
// and dout^T of the whole batch (N*H_out*W_out x the same). Size it after setting the thread
// count; the caller owns it and may reuse it across layers by taking the maximum.
std::int64_t conv2d_workspace_floats(const Conv2dShape& s);

// Same contract as conv2d_forward_ref, float only. Without padding (the Nature CNN): a
// lowering-free GEMM whose register tiles (output positions x channel vectors) broadcast x where
// it lies against w^T packed once per call. With padding: im2col + one GEMM (w . col) per block of
// samples (ceil(256 / (H_out*W_out)) of them side by side, so that small feature maps still make
// a GEMM of a few hundred columns), plus the bias. Samples are split over threads; a batch
// smaller than the thread count splits im2col over input channels and the GEMM over output
// channels instead, but only for images of 32 MFLOP or more: a Nature CNN layer at batch 1
// (acting) runs faster on one thread. relu: out = relu(conv), applied where each output is stored
// (the same bits as relu_forward_ref on the plain output, without a pass of its own).
void conv2d_forward_fast(float* out, const float* x, const float* w, const float* b,
                         const Conv2dShape& s, float* workspace, bool relu = false);

// How a fast backward hands over dx, the gradient g of the loss with respect to x.
enum class DxWrite {
  kAdd,  // dx += g: the reference's contract
  // dx = g, with the bits of adding onto zeros: each sample's dx is zeroed inside its chunk just
  // before col2im adds onto it, not in a pass of its own. The tape uses it for a buffer no other
  // op has written yet.
  kSet,
  // dx = relu_backward_set(g) through x, where x is a ReLU's output and this convolution its only
  // consumer: 0 + g where x > 0, else 0, the bits kSet followed by relu_backward_set_fast(dx, dx,
  // x) give. The select is made where each sample's dx is stored, in registers or while it is in
  // cache, instead of in a pass over the batch's dx of its own (read back from memory, and a
  // parallel region of its own at two threads; 1.6 MB for the Nature CNN's first layer at batch
  // 32). The tape uses it for a fused conv2d + ReLU feeding a convolution.
  kSetThroughRelu,
};

// Same contract as conv2d_backward_ref (accumulates; dx as `dx_write` says). Without padding dw
// comes from register tiles over x in place (as the forward's, accumulating dw^T), threads over
// tiles of products, each sum over the whole batch in one order: the same bits at any thread
// count; db likewise, threads over channels. dx per block of samples as forward: dcol = w^T .
// dout_blk, then col2im into dx (each sample's dx its own). With padding dw += dout_blk . col^T
// per block, summed into per-thread partials added in thread order: the same bits on every run
// for a given thread count.
void conv2d_backward_fast(float* dx, float* dw, float* db, const float* dout, const float* x,
                          const float* w, const Conv2dShape& s, float* workspace,
                          DxWrite dx_write = DxWrite::kAdd);

// The first layer of a pixel network reads uint8 frames. These take x as frames times `scale`
// (the tape's input_u8) and give the bits of u8_to_float_fast into a buffer followed by the
// kernels above, without the buffer: each chunk of samples converts one sample at a time into
// its own slice of the workspace (one more sample's floats per thread). Only the lowering-free
// path reads frames: true for shapes (no padding, not split inside images at this thread
// count) it takes; the others throw, and their caller converts the frames first.
bool conv2d_reads_u8(const Conv2dShape& s);
void conv2d_forward_u8_fast(float* out, const std::uint8_t* x, float scale, const float* w,
                            const float* b, const Conv2dShape& s, float* workspace,
                            bool relu = false);
// The backward without dx (frames are no parameter), so without w: dw +=, db += as above.
void conv2d_backward_u8_fast(float* dw, float* db, const float* dout, const std::uint8_t* x,
                             float scale, const Conv2dShape& s, float* workspace);

}  // namespace dqn
