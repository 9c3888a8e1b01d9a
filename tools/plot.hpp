// tools/plot.hpp: the learning-curve plot, an SVG written from a run's metrics.jsonl with no
// plotting dependency: episodic returns (faint dots), their moving average (a line), and the
// periodic greedy evaluations (markers), against env steps.
#pragma once

#include <cstddef>
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

// An axis with round tick marks: every tick is k * step, step is 1, 2 or 5 times a power of ten,
// and [lo, hi] is the data range extended outward to multiples of step.
struct AxisTicks {
  double lo = 0, hi = 1, step = 0.2;
  std::vector<double> values;  // lo, lo + step, ..., hi
};

// Ticks for data in [data_lo, data_hi] (the classic "nice numbers" axis, Heckbert, Graphics Gems
// 1990): step is the smallest 1-2-5 value that splits the range into at most `intervals` parts,
// so an axis gets `intervals` ticks or a few more once its ends are rounded outward. An empty
// range (data_lo == data_hi) is widened by the value's power of ten (by 1 around 0) first.
// Throws dqn::Error for non-finite bounds, data_lo > data_hi, or intervals < 1.
AxisTicks nice_ticks(double data_lo, double data_hi, int intervals = 5);

// Tick labels without spurious decimals: "0", "10k", "1.5M", "-20", "0.25". The unit (none, k,
// M) follows the largest tick, the decimals the step.
std::vector<std::string> tick_labels(const AxisTicks& ticks);

// Reads the "episode" and "eval" records of a metrics.jsonl file.
LearningCurve read_learning_curve(const std::string& metrics_path);
// Numeric field `key` of a one-line JSON object; NaN when absent.
double json_field(const std::string& line, const std::string& key);
// The SVG document; `title` goes on top. Points with a NaN or infinite coordinate are left out;
// every other one is drawn inside the frame. The y axis always shows 0.
std::string learning_curve_svg(const LearningCurve& curve, const std::string& title);
void write_learning_curve(const std::string& metrics_path, const std::string& svg_path,
                          const std::string& title);

}  // namespace dqn::tools
