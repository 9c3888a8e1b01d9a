// core/parallel.cpp: the thread-count setting behind parallel_for.
#include "core/parallel.hpp"

#include <atomic>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace dqn {
namespace {
std::atomic<int> g_threads{1};
}

void set_num_threads(int threads) {
  g_threads = std::clamp(threads, 1, kMaxThreads);
}
int num_threads() {
  return g_threads;
}

int detail::team_threads() {
#if defined(_OPENMP)
  return omp_get_num_threads();
#else
  return 1;
#endif
}

}  // namespace dqn
