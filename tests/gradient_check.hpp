// tests/gradient_check.hpp: the finite-difference gradient check every autodiff test shares.
// A loss built on the double tape (TapeD runs the *_ref kernels) is differentiated by the tape
// and by central differences on every element of every variable, and the two must agree.
#pragma once

#include <doctest/doctest.h>

#include <functional>
#include <vector>

#include "core/autodiff.hpp"
#include "core/rng.hpp"

namespace dqn::test {

inline void fill(VariableD& v, Rng& rng, double lo, double hi) {
  for (std::int64_t i = 0; i < v.value.numel(); ++i) v.value[i] = rng.uniform(lo, hi);
}

// Step 1e-6 in double: truncation error O(h^2) ~ 1e-12, rounding ~ 1e-16 / 1e-6 = 1e-10, so a
// relative tolerance of 1e-6 leaves four orders of magnitude (losses must be smooth at the
// point: no ReLU kink or max tie within h).
inline void check_gradients(const std::function<Value(TapeD&)>& loss_fn,
                            const std::vector<VariableD*>& vars, double tolerance = 1e-6) {
  TapeD tape;
  for (auto* v : vars) v->zero_grad();
  tape.backward(loss_fn(tape));
  constexpr double kStep = 1e-6;
  for (std::size_t k = 0; k < vars.size(); ++k) {
    VariableD& v = *vars[k];
    for (std::int64_t i = 0; i < v.value.numel(); ++i) {
      const double saved = v.value[i];
      v.value[i] = saved + kStep;
      tape.reset();
      const double up = tape.item(loss_fn(tape));
      v.value[i] = saved - kStep;
      tape.reset();
      const double down = tape.item(loss_fn(tape));
      v.value[i] = saved;
      INFO("variable ", k, " element ", i);
      CHECK(v.grad[i] == doctest::Approx((up - down) / (2 * kStep)).epsilon(tolerance).scale(1.0));
    }
  }
}

}  // namespace dqn::test
