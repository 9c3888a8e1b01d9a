// tools/plot.hpp: the learning-curve plot, an SVG written from a run's metrics.jsonl with no
// plotting dependency: episodic returns (faint dots), their moving average (a line), and the
// periodic greedy evaluations (markers), against env steps.
#pragma once

#include <string>
#include <vector>

namespace dqn::tools {

struct CurvePoint {
  double step, value;
};

struct LearningCurve {
  std::vector<CurvePoint> episodes;     // (env step at episode end, return)
  std::vector<CurvePoint> evaluations;  // (env step, mean evaluation return)
};

// Reads the "episode" and "eval" records of a metrics.jsonl file.
LearningCurve read_learning_curve(const std::string& metrics_path);
// Numeric field `key` of a one-line JSON object; NaN when absent.
double json_field(const std::string& line, const std::string& key);
// The SVG document; `title` goes on top.
std::string learning_curve_svg(const LearningCurve& curve, const std::string& title);
void write_learning_curve(const std::string& metrics_path, const std::string& svg_path,
                          const std::string& title);

}  // namespace dqn::tools
