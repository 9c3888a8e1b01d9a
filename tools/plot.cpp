// tools/plot.cpp: a small SVG line plot, enough for a learning curve.
#include "tools/plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

#include "core/error.hpp"

namespace dqn::tools {
namespace {

constexpr double kWidth = 720, kHeight = 420;
constexpr double kLeft = 70, kRight = 20, kTop = 40, kBottom = 50;
constexpr std::size_t kSmoothingWindow = 20;  // episodes in the moving average
constexpr int kTickIntervals = 5;             // ~5 intervals per axis: readable on a 330-px axis

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else
      out += c;
  }
  return out;
}

bool is_finite_point(const CurvePoint& p) {
  return std::isfinite(p.step) && std::isfinite(p.value);
}

}  // namespace

AxisTicks nice_ticks(double data_lo, double data_hi, int intervals) {
  DQN_CHECK(std::isfinite(data_lo) && std::isfinite(data_hi) && data_lo <= data_hi,
            "plot: an axis needs finite bounds with lo <= hi, got [", data_lo, ", ", data_hi, "]");
  DQN_CHECK(intervals >= 1, "plot: an axis needs at least 1 interval, got ", intervals);
  if (data_lo == data_hi) {  // one value: give it room of its own order of magnitude
    const double room =
        data_lo == 0 ? 1 : std::pow(10.0, std::floor(std::log10(std::abs(data_lo))));
    data_lo -= room;
    data_hi += room;
  }
  // step = mantissa * 10^exponent, mantissa in {1, 2, 5}: the smallest such step that needs no
  // more than `intervals` parts for the range (the 1e-9 keeps 0.2 from losing to 0.19999...).
  const double raw = (data_hi - data_lo) / intervals;
  int exponent = static_cast<int>(std::floor(std::log10(raw)));
  double mantissa = 0;
  for (const double m : {1.0, 2.0, 5.0, 10.0})
    if (m * std::pow(10.0, exponent) >= raw * (1 - 1e-9)) {
      mantissa = m;
      break;
    }
  if (mantissa == 10) mantissa = 1, ++exponent;
  // k * mantissa * 10^exponent, dividing by 10^-exponent when it is negative: 3 * 2 / 10 is the
  // double nearest 0.6, where 3 * 0.2 is 0.6000000000000001.
  const double scale = std::pow(10.0, std::abs(exponent));
  auto tick = [&](double k) {
    return (exponent < 0 ? k * mantissa / scale : k * mantissa * scale) + 0.0;  // no -0
  };
  double k_lo = std::floor(data_lo / (exponent < 0 ? mantissa / scale : mantissa * scale));
  double k_hi = std::ceil(data_hi / (exponent < 0 ? mantissa / scale : mantissa * scale));
  while (tick(k_lo) > data_lo) --k_lo;  // rounding in the division must not cut a point off
  while (tick(k_hi) < data_hi) ++k_hi;
  AxisTicks ticks;
  ticks.step = tick(1);
  ticks.lo = tick(k_lo);
  ticks.hi = tick(k_hi);
  for (double k = k_lo; k <= k_hi; ++k) ticks.values.push_back(tick(k));
  return ticks;
}

std::vector<std::string> tick_labels(const AxisTicks& ticks) {
  double largest = 0;
  for (const double v : ticks.values) largest = std::max(largest, std::abs(v));
  const double unit = largest >= 1e6 ? 1e6 : largest >= 1e3 ? 1e3 : 1;
  const char* suffix = unit == 1e6 ? "M" : unit == 1e3 ? "k" : "";
  // As many decimals as the step needs in that unit (0.5M: 1, 20k: 0, 0.05: 2), then the zeros
  // a particular tick does not need are dropped: 1.5M, 1M, not 1.0M.
  const int decimals =
      std::max(0, static_cast<int>(-std::floor(std::log10(ticks.step / unit) + 1e-9)));
  std::vector<std::string> labels;
  for (const double v : ticks.values) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v / unit);
    std::string text = buf;
    if (text.find('.') != std::string::npos) {
      text.erase(text.find_last_not_of('0') + 1);
      if (text.back() == '.') text.pop_back();
    }
    if (text == "-0") text = "0";
    labels.push_back(text == "0" ? text : text + suffix);
  }
  return labels;
}

double json_field(const std::string& line, const std::string& key) {
  const std::string pattern = "\"" + key + "\":";
  const auto pos = line.find(pattern);
  if (pos == std::string::npos) return NAN;
  const char* start = line.c_str() + pos + pattern.size();
  char* end = nullptr;
  const double v = std::strtod(start, &end);
  return end == start ? NAN : v;
}

LearningCurve read_learning_curve(const std::string& metrics_path) {
  std::ifstream in(metrics_path);
  DQN_CHECK(in.good(), "plot: cannot read '", metrics_path, "'");
  LearningCurve curve;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("\"type\":\"episode\"") != std::string::npos)
      curve.episodes.push_back({json_field(line, "step"), json_field(line, "return")});
    else if (line.find("\"type\":\"eval\"") != std::string::npos)
      curve.evaluations.push_back({json_field(line, "step"), json_field(line, "mean")});
  }
  return curve;
}

std::string learning_curve_svg(const LearningCurve& curve, const std::string& title) {
  // Only finite points are drawn (json_field gives NaN for a "null" or a missing field); the
  // moving average runs over them alone.
  std::vector<CurvePoint> episodes, evaluations;
  std::copy_if(curve.episodes.begin(), curve.episodes.end(), std::back_inserter(episodes),
               is_finite_point);
  std::copy_if(curve.evaluations.begin(), curve.evaluations.end(), std::back_inserter(evaluations),
               is_finite_point);
  // x from step 0, y always through 0, so a curve from 480 to 500 is not drawn as a cliff.
  double min_step = 0, max_step = 0, min_v = 0, max_v = 0;
  for (const auto* series : {&episodes, &evaluations})
    for (const CurvePoint& p : *series) {
      min_step = std::min(min_step, p.step);
      max_step = std::max(max_step, p.step);
      min_v = std::min(min_v, p.value);
      max_v = std::max(max_v, p.value);
    }
  if (max_step == min_step) max_step = min_step + 1;  // no points, or all at step 0
  const AxisTicks x_ticks = nice_ticks(min_step, max_step, kTickIntervals);
  const AxisTicks y_ticks = nice_ticks(min_v, max_v, kTickIntervals);
  const std::vector<std::string> x_labels = tick_labels(x_ticks), y_labels = tick_labels(y_ticks);
  const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  // The axes' limits are ticks at or beyond the data, so every point maps into the frame.
  auto x = [&](double step) {
    return kLeft + plot_w * (step - x_ticks.lo) / (x_ticks.hi - x_ticks.lo);
  };
  auto y = [&](double v) {
    return kTop + plot_h * (1 - (v - y_ticks.lo) / (y_ticks.hi - y_ticks.lo));
  };

  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << kHeight
      << "\" viewBox=\"0 0 " << kWidth << " " << kHeight
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << kWidth / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">"
      << escape(title) << "</text>\n";
  for (std::size_t t = 0; t < x_ticks.values.size(); ++t) {  // grid and tick labels
    const std::string at = fmt(x(x_ticks.values[t]));
    svg << "<line x1=\"" << at << "\" y1=\"" << kTop << "\" x2=\"" << at << "\" y2=\""
        << kTop + plot_h << "\" stroke=\"#eee\"/>\n"
        << "<text x=\"" << at << "\" y=\"" << kTop + plot_h + 18 << "\" text-anchor=\"middle\">"
        << x_labels[t] << "</text>\n";
  }
  for (std::size_t t = 0; t < y_ticks.values.size(); ++t) {
    const double at = y(y_ticks.values[t]);
    svg << "<line x1=\"" << kLeft << "\" y1=\"" << fmt(at) << "\" x2=\"" << kLeft + plot_w
        << "\" y2=\"" << fmt(at) << "\" stroke=\"#eee\"/>\n"
        << "<text x=\"" << kLeft - 8 << "\" y=\"" << fmt(at + 4) << "\" text-anchor=\"end\">"
        << y_labels[t] << "</text>\n";
  }
  svg << "<rect x=\"" << kLeft << "\" y=\"" << kTop << "\" width=\"" << plot_w << "\" height=\""
      << plot_h << "\" fill=\"none\" stroke=\"#444\"/>\n"
      << "<text x=\"" << kLeft + plot_w / 2 << "\" y=\"" << kHeight - 10
      << "\" text-anchor=\"middle\">env steps</text>\n"
      << "<text transform=\"translate(16," << kTop + plot_h / 2
      << ") rotate(-90)\" text-anchor=\"middle\">return</text>\n";
  // Episode returns as faint dots, then their moving average as a line.
  svg << "<g fill=\"#9ecae1\">\n";
  for (const CurvePoint& p : episodes)
    svg << "<circle cx=\"" << fmt(x(p.step)) << "\" cy=\"" << fmt(y(p.value)) << "\" r=\"1.5\"/>\n";
  svg << "</g>\n";
  if (!episodes.empty()) {
    svg << "<polyline fill=\"none\" stroke=\"#08519c\" stroke-width=\"2\" points=\"";
    double window_sum = 0;
    for (std::size_t i = 0; i < episodes.size(); ++i) {
      window_sum += episodes[i].value;
      if (i >= kSmoothingWindow) window_sum -= episodes[i - kSmoothingWindow].value;
      const double n = static_cast<double>(std::min(i + 1, kSmoothingWindow));
      svg << fmt(x(episodes[i].step)) << "," << fmt(y(window_sum / n)) << " ";
    }
    svg << "\"/>\n";
  }
  if (!evaluations.empty()) {
    svg << "<polyline fill=\"none\" stroke=\"#d94801\" stroke-width=\"1.5\" "
           "stroke-dasharray=\"4,3\" points=\"";
    for (const CurvePoint& p : evaluations) svg << fmt(x(p.step)) << "," << fmt(y(p.value)) << " ";
    svg << "\"/>\n<g fill=\"#d94801\">\n";
    for (const CurvePoint& p : evaluations)
      svg << "<circle cx=\"" << fmt(x(p.step)) << "\" cy=\"" << fmt(y(p.value))
          << "\" r=\"3.5\"/>\n";
    svg << "</g>\n";
  }
  // Legend.
  const double lx = kLeft + 12, ly = kTop + 14;
  svg << "<circle cx=\"" << lx << "\" cy=\"" << ly << "\" r=\"2\" fill=\"#9ecae1\"/>"
      << "<text x=\"" << lx + 10 << "\" y=\"" << ly + 4 << "\">episode return</text>\n"
      << "<line x1=\"" << lx - 6 << "\" y1=\"" << ly + 16 << "\" x2=\"" << lx + 6 << "\" y2=\""
      << ly + 16 << "\" stroke=\"#08519c\" stroke-width=\"2\"/>"
      << "<text x=\"" << lx + 10 << "\" y=\"" << ly + 20 << "\">mean of last " << kSmoothingWindow
      << " episodes</text>\n"
      << "<circle cx=\"" << lx << "\" cy=\"" << ly + 32 << "\" r=\"3.5\" fill=\"#d94801\"/>"
      << "<text x=\"" << lx + 10 << "\" y=\"" << ly + 36 << "\">evaluation (mean)</text>\n"
      << "</svg>\n";
  return svg.str();
}

void write_learning_curve(const std::string& metrics_path, const std::string& svg_path,
                          const std::string& title) {
  const std::string svg = learning_curve_svg(read_learning_curve(metrics_path), title);
  std::ofstream out(svg_path);
  DQN_CHECK(out.good(), "plot: cannot write '", svg_path, "'");
  out << svg;
}

}  // namespace dqn::tools
