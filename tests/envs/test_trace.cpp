// Tests for envs/trace.{hpp,cpp}: the JSON lines hold round-trip precision and stop at the end.
#include <doctest/doctest.h>

#include <cstdlib>
#include <sstream>
#include <string>

#include "envs/trace.hpp"

using namespace dqn;

TEST_CASE("trace_cartpole writes one JSON line per step with round-trip precision") {
  std::ostringstream out;
  const std::int64_t steps = trace_cartpole(out, {0, 0, 0, 0}, {1, 0, 1});
  CHECK(steps == 3);
  std::istringstream in(out.str());
  std::string line;
  int lines = 0;
  std::string second;
  while (std::getline(in, line)) {
    CHECK(line.front() == '{');
    CHECK(line.back() == '}');
    if (lines == 1) second = line;
    ++lines;
  }
  CHECK(lines == 4);  // the initial state, then three steps
  // x_dot after one right push is 8/41 in float64, printed with 17 significant digits.
  const auto at = second.find("\"state\":[0,") + 11;
  CHECK(std::strtod(second.c_str() + at, nullptr) == 8.0 / 41);
  CHECK(second.find("\"terminated\":false") != std::string::npos);
}

TEST_CASE("trace_cartpole stops at termination even with actions left") {
  std::ostringstream out;
  CHECK(trace_cartpole(out, {2.4, 1, 0, 0}, {1, 1, 1}) == 1);
  CHECK(out.str().find("\"terminated\":true") != std::string::npos);
}

TEST_CASE("print_random_episodes is reproducible from a seed and lists initial states") {
  std::ostringstream a, b, c;
  print_random_episodes(a, 3, 4);
  print_random_episodes(b, 3, 4);
  print_random_episodes(c, 4, 4);
  CHECK(a.str() == b.str());
  CHECK(a.str() != c.str());
  CHECK(a.str().find("\"episode\":3") != std::string::npos);
  CHECK(a.str().find("\"initial_state\":[") != std::string::npos);
}
