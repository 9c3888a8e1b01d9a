// tools/plot.cpp: a small SVG line plot, enough for a learning curve.
#include "tools/plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/error.hpp"

namespace dqn::tools {
namespace {

constexpr double kWidth = 720, kHeight = 420;
constexpr double kLeft = 70, kRight = 20, kTop = 40, kBottom = 50;
constexpr std::size_t kSmoothingWindow = 20;  // episodes in the moving average
constexpr int kTicks = 5;

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string tick_label(double v) {
  char buf[32];
  if (std::abs(v) >= 1e6)
    std::snprintf(buf, sizeof buf, "%.1fM", v / 1e6);
  else if (std::abs(v) >= 1e3)
    std::snprintf(buf, sizeof buf, "%.0fk", v / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.0f", v);
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

}  // namespace

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
  double max_step = 1, min_v = 0, max_v = 1;
  for (const auto* series : {&curve.episodes, &curve.evaluations})
    for (const CurvePoint& p : *series) {
      max_step = std::max(max_step, p.step);
      min_v = std::min(min_v, p.value);
      max_v = std::max(max_v, p.value);
    }
  const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  auto x = [&](double step) { return kLeft + plot_w * step / max_step; };
  auto y = [&](double v) { return kTop + plot_h * (1 - (v - min_v) / (max_v - min_v)); };

  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << kHeight
      << "\" viewBox=\"0 0 " << kWidth << " " << kHeight
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << kWidth / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">"
      << escape(title) << "</text>\n";
  for (int t = 0; t <= kTicks; ++t) {  // grid and tick labels
    const double sv = max_step * t / kTicks, vv = min_v + (max_v - min_v) * t / kTicks;
    svg << "<line x1=\"" << fmt(x(sv)) << "\" y1=\"" << kTop << "\" x2=\"" << fmt(x(sv))
        << "\" y2=\"" << kTop + plot_h << "\" stroke=\"#eee\"/>\n"
        << "<text x=\"" << fmt(x(sv)) << "\" y=\"" << kTop + plot_h + 18
        << "\" text-anchor=\"middle\">" << tick_label(sv) << "</text>\n"
        << "<line x1=\"" << kLeft << "\" y1=\"" << fmt(y(vv)) << "\" x2=\"" << kLeft + plot_w
        << "\" y2=\"" << fmt(y(vv)) << "\" stroke=\"#eee\"/>\n"
        << "<text x=\"" << kLeft - 8 << "\" y=\"" << fmt(y(vv) + 4) << "\" text-anchor=\"end\">"
        << tick_label(vv) << "</text>\n";
  }
  svg << "<rect x=\"" << kLeft << "\" y=\"" << kTop << "\" width=\"" << plot_w << "\" height=\""
      << plot_h << "\" fill=\"none\" stroke=\"#444\"/>\n"
      << "<text x=\"" << kLeft + plot_w / 2 << "\" y=\"" << kHeight - 10
      << "\" text-anchor=\"middle\">env steps</text>\n"
      << "<text transform=\"translate(16," << kTop + plot_h / 2
      << ") rotate(-90)\" text-anchor=\"middle\">return</text>\n";
  // Episode returns as faint dots, then their moving average as a line.
  svg << "<g fill=\"#9ecae1\">\n";
  for (const CurvePoint& p : curve.episodes)
    svg << "<circle cx=\"" << fmt(x(p.step)) << "\" cy=\"" << fmt(y(p.value)) << "\" r=\"1.5\"/>\n";
  svg << "</g>\n";
  if (!curve.episodes.empty()) {
    svg << "<polyline fill=\"none\" stroke=\"#08519c\" stroke-width=\"2\" points=\"";
    double window_sum = 0;
    for (std::size_t i = 0; i < curve.episodes.size(); ++i) {
      window_sum += curve.episodes[i].value;
      if (i >= kSmoothingWindow) window_sum -= curve.episodes[i - kSmoothingWindow].value;
      const double n = static_cast<double>(std::min(i + 1, kSmoothingWindow));
      svg << fmt(x(curve.episodes[i].step)) << "," << fmt(y(window_sum / n)) << " ";
    }
    svg << "\"/>\n";
  }
  if (!curve.evaluations.empty()) {
    svg << "<polyline fill=\"none\" stroke=\"#d94801\" stroke-width=\"1.5\" "
           "stroke-dasharray=\"4,3\" points=\"";
    for (const CurvePoint& p : curve.evaluations)
      svg << fmt(x(p.step)) << "," << fmt(y(p.value)) << " ";
    svg << "\"/>\n<g fill=\"#d94801\">\n";
    for (const CurvePoint& p : curve.evaluations)
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
