// core/simd_loop.hpp (private to core/*.cpp): the one loop shape of the element-wise kernels:
// whole VecF vectors, then the scalar tail, over the pieces of parallel_for_pieces at
// kElementwiseGrain (or a kernel's own grain).
#pragma once

#include <cstdint>

#include "core/elementwise.hpp"
#include "core/parallel.hpp"
#include "core/simd.hpp"

namespace dqn::detail {

// Runs vec(i) on whole vectors and scalar(i) on the tail of each piece: parallel_for_pieces,
// since no element's result depends on the piece that holds it.
//
// Trap (performance): the SIMD store types are declared may_alias, so after each store the
// compiler must assume any memory changed, including pointers a lambda captured by reference or
// a closure whose address escaped into the OpenMP region; the loop then reloads every pointer
// each iteration (measured 3x slower at n = 1000). So the kernels capture by value and each chunk
// works on its own local copies of the closures, which nothing else can see.
template <class Vec, class Scalar>
void for_each_lane(std::int64_t n, const Vec& vec_shared, const Scalar& scalar_shared,
                   std::int64_t grain = kElementwiseGrain) {
  parallel_for_pieces(0, n, grain, simd::VecF::kLanes, [&](std::int64_t lo, std::int64_t hi) {
    const Vec vec = vec_shared;
    const Scalar scalar = scalar_shared;
    std::int64_t i = lo;
    for (; i + simd::VecF::kLanes <= hi; i += simd::VecF::kLanes) vec(i);
    for (; i < hi; ++i) scalar(i);
  });
}

}  // namespace dqn::detail
