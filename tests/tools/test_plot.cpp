// Tests for tools/plot.hpp: round 1-2-5 axis ticks, their labels, and an SVG whose every data
// mark lies inside the plot frame (negative returns, Atari-sized step counts, one point, a flat
// curve, NaN values).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <regex>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "tools/plot.hpp"

using dqn::tools::AxisTicks;
using dqn::tools::CurvePoint;
using dqn::tools::learning_curve_svg;
using dqn::tools::LearningCurve;
using dqn::tools::nice_ticks;
using dqn::tools::tick_labels;

namespace {

// The properties every axis must have, whatever the range: a 1-2-5 step, ticks at whole
// multiples of it, one step apart, and limits at or beyond the data.
void check_axis(double lo, double hi, const AxisTicks& t) {
  CAPTURE(lo);
  CAPTURE(hi);
  REQUIRE(t.values.size() >= 2);
  CHECK(t.step > 0);
  const double power = std::pow(10.0, std::floor(std::log10(t.step)));
  const double mantissa = t.step / power;
  CHECK((mantissa == doctest::Approx(1) || mantissa == doctest::Approx(2) ||
         mantissa == doctest::Approx(5)));
  for (std::size_t i = 0; i < t.values.size(); ++i) {
    const double k = t.values[i] / t.step;
    CHECK(k == doctest::Approx(std::round(k)).epsilon(1e-9));
    if (i > 0) CHECK(t.values[i] - t.values[i - 1] == doctest::Approx(t.step));
  }
  CHECK(t.lo == t.values.front());
  CHECK(t.hi == t.values.back());
  CHECK(t.lo <= lo);
  CHECK(t.hi >= hi);
  // About 5 intervals: never more than 5 before the ends are rounded outward, one more at each.
  CHECK(t.values.size() <= 5 + 1 + 2);
}

struct Box {
  double x0, y0, x1, y1;
};

// The frame rectangle of the SVG (the one <rect> with an x attribute; the background has none).
Box frame_of(const std::string& svg) {
  std::smatch m;
  const std::regex rect(
      R"re(<rect x="([-0-9.e]+)" y="([-0-9.e]+)" width="([-0-9.e]+)" height="([-0-9.e]+)")re");
  REQUIRE(std::regex_search(svg, m, rect));
  const double x = std::stod(m[1]), y = std::stod(m[2]);
  return {x, y, x + std::stod(m[3]), y + std::stod(m[4])};
}

// Every (x, y) a circle or a polyline of the SVG draws.
std::vector<std::pair<double, double>> data_points(const std::string& svg) {
  std::vector<std::pair<double, double>> points;
  const std::regex circle(R"re(<circle cx="([^"]*)" cy="([^"]*)")re");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), circle); it != std::sregex_iterator();
       ++it)
    points.emplace_back(std::stod((*it)[1]), std::stod((*it)[2]));
  const std::regex polyline(R"re(<polyline[^>]* points="([^"]*)")re");
  const std::regex pair(R"re(([^ ,]+),([^ ,]+))re");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), polyline);
       it != std::sregex_iterator(); ++it) {
    const std::string list = (*it)[1];
    for (auto p = std::sregex_iterator(list.begin(), list.end(), pair); p != std::sregex_iterator();
         ++p)
      points.emplace_back(std::stod((*p)[1]), std::stod((*p)[2]));
  }
  return points;
}

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto pos = text.find(part); pos != std::string::npos; pos = text.find(part, pos + 1)) ++n;
  return n;
}

void check_inside(const std::string& svg, std::size_t min_points) {
  CHECK(svg.find("nan") == std::string::npos);
  CHECK(svg.find("inf") == std::string::npos);
  const Box frame = frame_of(svg);
  const auto points = data_points(svg);
  CHECK(points.size() >= min_points);
  for (const auto& [x, y] : points) {
    CAPTURE(x);
    CAPTURE(y);
    CHECK(x >= frame.x0);
    CHECK(x <= frame.x1);
    CHECK(y >= frame.y0);
    CHECK(y <= frame.y1);
  }
}

}  // namespace

TEST_CASE("nice_ticks puts about 5 ticks at 1-2-5 steps, with limits rounded outward") {
  struct Row {
    double lo, hi;
    std::vector<double> expected;
  };
  const std::vector<Row> table = {
      {0, 50000, {0, 10000, 20000, 30000, 40000, 50000}},
      // Pong's -21..21 spans 42: 8.4 per interval for 5, so step 10 (the smallest 1-2-5 step at
      // least 8.4), and the ends round out to -30 and 30. Step 5 would give 11 labels.
      {-21, 21, {-30, -20, -10, 0, 10, 20, 30}},
      {0, 1, {0, 0.2, 0.4, 0.6, 0.8, 1}},
      {0, 7, {0, 2, 4, 6, 8}},
      // One value: widened by its power of ten (0.1 for 0.5), then ticked as any range.
      {0.5, 0.5, {0.4, 0.45, 0.5, 0.55, 0.6}},
      {0, 0, {-1, -0.5, 0, 0.5, 1}},
      {0, 1.5e6, {0, 500000, 1000000, 1500000}},
      {9.4, 500, {0, 100, 200, 300, 400, 500}},
      {-3.5, -0.25, {-4, -3, -2, -1, 0}},
  };
  for (const Row& row : table) {
    const AxisTicks t = nice_ticks(row.lo, row.hi);
    CAPTURE(row.lo);
    CAPTURE(row.hi);
    // Exact: ticks are computed as k * 2 / 10, not k * 0.2, so 0.6 is the double nearest 0.6.
    CHECK(t.values == row.expected);
    check_axis(row.lo, row.hi, t);
  }
}

TEST_CASE("nice_ticks keeps its properties on many ranges, tiny, huge and negative") {
  // A fixed pseudo-random sweep (an LCG, so the test is the same on every run) over magnitudes
  // from 1e-6 to 1e9, ranges that straddle 0 and ranges that do not.
  std::uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<double>(state >> 11) / static_cast<double>(1ull << 53);
  };
  for (int i = 0; i < 2000; ++i) {
    const double scale = std::pow(10.0, -6 + 15 * next());
    const double a = (next() * 2 - 1) * scale, b = (next() * 2 - 1) * scale;
    const double lo = std::min(a, b), hi = std::max(a, b);
    check_axis(lo, hi, nice_ticks(lo, hi));
  }
}

TEST_CASE("nice_ticks refuses bounds it cannot tick") {
  CHECK_THROWS_AS(nice_ticks(std::nan(""), 1), dqn::Error);
  CHECK_THROWS_AS(nice_ticks(0, std::numeric_limits<double>::infinity()), dqn::Error);
  CHECK_THROWS_AS(nice_ticks(2, 1), dqn::Error);
  CHECK_THROWS_AS(nice_ticks(0, 1, 0), dqn::Error);
}

TEST_CASE("tick labels carry no spurious decimals and use k and M for steps") {
  using Labels = std::vector<std::string>;
  CHECK(tick_labels(nice_ticks(0, 50000)) == Labels{"0", "10k", "20k", "30k", "40k", "50k"});
  CHECK(tick_labels(nice_ticks(0, 1.5e6)) == Labels{"0", "0.5M", "1M", "1.5M"});
  CHECK(tick_labels(nice_ticks(0, 1e7)) == Labels{"0", "2M", "4M", "6M", "8M", "10M"});
  CHECK(tick_labels(nice_ticks(-21, 21)) == Labels{"-30", "-20", "-10", "0", "10", "20", "30"});
  CHECK(tick_labels(nice_ticks(0, 1)) == Labels{"0", "0.2", "0.4", "0.6", "0.8", "1"});
  CHECK(tick_labels(nice_ticks(0.5, 0.5)) == Labels{"0.4", "0.45", "0.5", "0.55", "0.6"});
  CHECK(tick_labels(nice_ticks(0, 2500)) == Labels{"0", "0.5k", "1k", "1.5k", "2k", "2.5k"});
}

TEST_CASE("the SVG keeps negative returns and Atari-sized steps inside the frame") {
  // A Pong-like run: returns from -21 up to 21 over 10M env steps, evaluations on the way.
  LearningCurve curve;
  for (int i = 0; i <= 200; ++i)
    curve.episodes.push_back({50000.0 * i, -21 + 42.0 * i / 200 + (i % 3 == 0 ? -2 : 1)});
  for (int i = 1; i <= 40; ++i) curve.evaluations.push_back({250000.0 * i, -21.0 + i});
  const std::string svg = learning_curve_svg(curve, "pong");
  check_inside(svg, 201 + 201 + 40 + 40);
  CHECK(count(svg, "r=\"1.5\"") == 201);
  // Round labels on both axes: 10M steps in 2M steps, returns by 10 (the data reach -23 and 22).
  for (const char* label : {">0<", ">2M<", ">10M<", ">-30<", ">-20<", ">30<"})
    CHECK(svg.find(label) != std::string::npos);
  CHECK(svg.find(".5M<") == std::string::npos);
}

TEST_CASE("the SVG of one point, a flat curve, or NaN values stays inside the frame") {
  SUBCASE("one episode") {
    LearningCurve curve;
    curve.episodes.push_back({1000, 9});
    check_inside(learning_curve_svg(curve, "one"), 2);
  }
  SUBCASE("one episode at step 0 with return 0") {
    LearningCurve curve;
    curve.episodes.push_back({0, 0});
    check_inside(learning_curve_svg(curve, "origin"), 2);
  }
  SUBCASE("every return the same") {
    LearningCurve curve;
    for (int i = 1; i <= 50; ++i) curve.episodes.push_back({100.0 * i, 500});
    curve.evaluations.push_back({2500, 500});
    check_inside(learning_curve_svg(curve, "flat"), 50 + 50 + 1);
  }
  SUBCASE("NaN returns and steps are skipped, not drawn at nan") {
    LearningCurve curve;
    const double nan = std::nan("");
    curve.episodes = {{100, 5}, {200, nan}, {nan, 7}, {300, -4}, {400, 12}};
    curve.evaluations = {{250, nan}, {400, 10}};
    const std::string svg = learning_curve_svg(curve, "gaps");
    check_inside(svg, 3 + 3 + 1);
    CHECK(count(svg, "r=\"1.5\"") == 3);
  }
  SUBCASE("no points at all") {
    check_inside(learning_curve_svg(LearningCurve{}, "empty"), 0);
  }
}
