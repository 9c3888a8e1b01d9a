// Tests for core/simd.hpp's partial-vector steps: load_first reads only the first n lanes (the
// rest come back 0) and store_first writes only them, for every n from 0 to a full vector.
#include <doctest/doctest.h>

#include <vector>

#include "core/simd.hpp"

using dqn::simd::VecF;

TEST_CASE("simd load_first and store_first touch exactly the first n lanes") {
  constexpr int L = VecF::kLanes;
  for (int n = 0; n <= L; ++n) {
    CAPTURE(n);
    std::vector<float> src(L), dst(2 * L, -1.0f);
    for (int i = 0; i < L; ++i) src[i] = static_cast<float>(i + 1);
    // Loaded lanes past n are 0: storing the whole vector shows them.
    VecF::load_first(src.data(), n).store(dst.data());
    for (int i = 0; i < L; ++i) CHECK(dst[i] == (i < n ? src[i] : 0.0f));
    // A partial store leaves everything from lane n on as it was.
    std::vector<float> out(2 * L, -1.0f);
    VecF::load(src.data()).store_first(out.data(), n);
    for (int i = 0; i < 2 * L; ++i) CHECK(out[i] == (i < n ? src[i] : -1.0f));
  }
}
