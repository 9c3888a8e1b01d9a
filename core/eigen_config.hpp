// core/eigen_config.hpp (private to core/*.cpp): the one way core sources include Eigen.
//
// Include it FIRST in a source file, before any other header that might pull in Eigen.
//
// 1. Kernels never allocate, but Eigen's GEMM packs its operands into scratch blocks that it
//    takes from the heap when they exceed EIGEN_STACK_ALLOCATION_LIMIT (128 KiB by default):
//    measured, 64x256x256 and the CNN head's 32x3136x512 each malloc'd on every call. At 2 MiB
//    every DQN shape packs on the stack (alloca) instead. Worst case a GEMM uses a few MiB of
//    stack: fine for the main thread and for OpenMP workers (8 MiB by default, OMP_STACKSIZE).
// 2. GCC 12 reports a false -Wmaybe-uninitialized inside Eigen's AVX-512 GEMM kernel
//    (avx512fintrin.h's `__m512 __Y = __Y;` idiom); it has to be silenced before the include.
#pragma once

#if defined(EIGEN_CORE_H) || defined(EIGEN_CORE_MODULE_H)
#error "core/eigen_config.hpp must be included before any Eigen header"
#endif

#define EIGEN_STACK_ALLOCATION_LIMIT (2 * 1024 * 1024)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
