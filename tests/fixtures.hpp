// tests/fixtures.hpp: loads the PyTorch golden fixtures written by
// tests/fixtures/make_core_fixtures.py (committed; CI has no torch).
//
// Format: '#' lines are comments; each array is a line `name rank d0 d1 ...` followed by one line
// of its values in row-major order (%.17g for float64, %.9e for float32: both round-trip).
//
//   const auto f = dqn::test::load_fixture("tests/fixtures/core_linear.txt");
//   const auto& x = f.at("x");   // x.shape == {3, 5}, x.values.size() == 15
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace dqn::test {

struct FixtureArray {
  std::vector<std::int64_t> shape;  // empty for a scalar
  std::vector<double> values;
  std::vector<float> as_float() const { return std::vector<float>(values.begin(), values.end()); }
};

struct Fixture {
  std::string path;
  std::map<std::string, FixtureArray> arrays;
  const FixtureArray& at(const std::string& name) const {
    const auto it = arrays.find(name);
    if (it == arrays.end())
      throw std::runtime_error(path + ": no array named '" + name +
                               "'; regenerate with /usr/bin/python3 "
                               "tests/fixtures/make_core_fixtures.py");
    return it->second;
  }
};

// Reads `path` relative to the working directory (ctest runs at the repository root) or, failing
// that, relative to DQN_SOURCE_DIR. Throws with the fix when the file is missing or malformed.
inline Fixture load_fixture(const std::string& path) {
  std::ifstream in(path);
#ifdef DQN_SOURCE_DIR
  if (!in) in.open(std::string(DQN_SOURCE_DIR) + "/" + path);
#endif
  if (!in)
    throw std::runtime_error("cannot open fixture " + path +
                             ": run the tests from the repository root, or regenerate it with "
                             "/usr/bin/python3 tests/fixtures/make_core_fixtures.py");
  Fixture f;
  f.path = path;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream head(line);
    std::string name;
    int rank = -1;
    head >> name >> rank;
    FixtureArray a;
    std::int64_t count = 1;
    for (int r = 0; r < rank; ++r) {
      std::int64_t d = -1;
      head >> d;
      a.shape.push_back(d);
      count *= d;
    }
    if (!head || rank < 0 || count < 0)
      throw std::runtime_error(path + ": malformed header line '" + line + "'");
    std::string values;
    std::getline(in, values);
    std::istringstream vs(values);
    a.values.resize(static_cast<std::size_t>(count));
    for (double& v : a.values) vs >> v;
    if (!vs)
      throw std::runtime_error(path + ": array '" + name + "' has fewer than " +
                               std::to_string(count) + " values");
    f.arrays[name] = std::move(a);
  }
  return f;
}

}  // namespace dqn::test
