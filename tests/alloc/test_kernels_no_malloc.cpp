// Kernels never allocate (CONVENTIONS.md, habit 3): every fast kernel of core/, including the
// Eigen GEMMs inside matmul/linear/conv2d, is called twice and the second call must not reach
// malloc. Eigen's packing buffers come from malloc (not operator new), so this binary interposes
// malloc itself: a definition in the executable takes precedence over glibc's for every caller
// (Eigen, libgomp, libstdc++), and forwards to glibc's __libc_malloc.
//
// AddressSanitizer owns malloc in the asan preset, so there the interposition and the check are
// compiled out.
#include <doctest/doctest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/activation.hpp"
#include "core/adam.hpp"
#include "core/conv2d.hpp"
#include "core/elementwise.hpp"
#include "core/linear.hpp"
#include "core/loss.hpp"
#include "core/matmul.hpp"
#include "core/parallel.hpp"
#include "core/reduce.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define DQN_COUNT_MALLOC 0
#else
#define DQN_COUNT_MALLOC 1
#endif

namespace {
std::atomic<bool> g_counting{false};
std::atomic<std::int64_t> g_mallocs{0};
}  // namespace

#if DQN_COUNT_MALLOC
extern "C" void* __libc_malloc(std::size_t size);
extern "C" void* malloc(std::size_t size) {
  if (g_counting.load(std::memory_order_relaxed)) g_mallocs.fetch_add(1);
  return __libc_malloc(size);
}
#endif

namespace {

// Mallocs during fn(); fn runs once before counting so that one-time setup (the OpenMP thread
// pool, glibc's arenas) does not count.
template <class Fn>
std::int64_t mallocs_in_second_call(Fn&& fn) {
  fn();
  g_mallocs = 0;
  g_counting = true;
  fn();
  g_counting = false;
  return g_mallocs.load();
}

}  // namespace

TEST_CASE("the fast kernels do not call malloc on the DQN shapes, 1 and 2 threads") {
#if !DQN_COUNT_MALLOC
  MESSAGE("skipped under AddressSanitizer, which owns malloc");
#else
  // Probe: the counter must see a plain malloc, or a zero below would prove nothing.
  g_counting = true;
  void* volatile probe = malloc(64);
  g_counting = false;
  free(probe);
  REQUIRE(g_mallocs.load() == 1);

  const std::int64_t big = 1686022;  // >= 3136 x 512 (the CNN head) and the CNN parameter count
  std::vector<float> a(big, 0.5f), b(big, 0.25f), c(big), d(big), e(big), f(big);
  std::vector<std::int64_t> actions(64, 1), argmax(64);
  const dqn::Conv2dShape convs[] = {{32, 4, 84, 84, 32, 8, 8, 4, 0},
                                    {32, 32, 20, 20, 64, 4, 4, 2, 0},
                                    {32, 64, 9, 9, 64, 3, 3, 1, 0},
                                    {1, 4, 84, 84, 32, 8, 8, 4, 0},
                                    {3, 5, 9, 9, 6, 3, 3, 2, 1}};
  for (int threads : {1, 2}) {
    dqn::ThreadScope scope(threads);
    CAPTURE(threads);
    CHECK(mallocs_in_second_call([&] {
            // The MLP at batch 64 and the CNN head at batch 32, forward and backward.
            dqn::linear_forward_fast(c.data(), a.data(), b.data(), b.data(), 64, 256, 256);
            dqn::linear_backward_fast(d.data(), e.data(), f.data(), c.data(), a.data(), b.data(),
                                      64, 256, 256);
            dqn::linear_forward_fast(c.data(), a.data(), b.data(), b.data(), 32, 3136, 512);
            dqn::linear_backward_fast(d.data(), e.data(), f.data(), c.data(), a.data(), b.data(),
                                      32, 3136, 512);
            dqn::matmul_tn_fast(c.data(), a.data(), b.data(), 256, 64, 256, false);
          }) == 0);
    for (const auto& s : convs) {
      CAPTURE(s.N);
      CAPTURE(s.C_in);
      std::vector<float> ws(dqn::conv2d_workspace_floats(s));
      std::vector<float> x(s.N * s.C_in * s.H * s.W, 0.5f), dx(x.size());
      std::vector<float> out(s.N * s.C_out * s.H_out() * s.W_out());
      CHECK(mallocs_in_second_call([&] {
              dqn::conv2d_forward_fast(out.data(), x.data(), b.data(), b.data(), s, ws.data());
              dqn::conv2d_backward_fast(dx.data(), e.data(), f.data(), out.data(), x.data(),
                                        b.data(), s, ws.data());
            }) == 0);
    }
    const std::int64_t n = big;  // the Nature CNN's parameter count
    CHECK(mallocs_in_second_call([&] {
            dqn::relu_forward_fast(c.data(), a.data(), n);
            dqn::relu_backward_fast(d.data(), b.data(), a.data(), n);
            dqn::add_fast(c.data(), a.data(), b.data(), n);
            dqn::axpy_fast(c.data(), 0.5f, a.data(), n);
            dqn::adam_step_fast(c.data(), d.data(), e.data(), a.data(), n, dqn::AdamHyper{}, 3);
            dqn::huber_forward_fast(a.data(), b.data(), n, 1.0f);
            dqn::huber_backward_fast(c.data(), a.data(), b.data(), n, 1.0f, 1.0f);
            dqn::sqnorm_fast(a.data(), n);
            dqn::sum_fast(a.data(), n);
            dqn::max_actions_fast(c.data(), argmax.data(), a.data(), 64, 2);
            dqn::gather_actions_forward_fast(c.data(), a.data(), actions.data(), 64, 2);
          }) == 0);
  }
#endif
}
