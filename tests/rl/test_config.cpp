// Tests for rl/config.hpp: presets, key=value settings, errors that name the key and range.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "rl/config.hpp"

using namespace dqn;

namespace {
std::string error_of(Config& c, const std::string& key, const std::string& value) {
  try {
    c.set(key, value);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("the seed preset carries the classic snippet's settings") {
  const Config c = make_preset("seed");
  CHECK(c.lr == 1e-4);
  CHECK(c.gamma == 0.99);
  CHECK(c.epsilon_start == 1.0);
  CHECK(c.epsilon_end == 0.01);
  CHECK(c.epsilon_steps == 10000);
  CHECK(c.target_update_interval == 1000);
  CHECK(c.target_update_unit == TargetUnit::kUpdates);
  CHECK(c.batch_size == 64);
  CHECK(c.buffer_size == 50000);
  CHECK(c.max_episodes == 500);
  CHECK(c.hidden == std::vector<std::int64_t>{256, 256});
  c.validate();
}

TEST_CASE("the atari preset carries the Nature DQN settings") {
  const Config c = make_preset("atari");
  CHECK(c.buffer_size == 1000000);
  CHECK(c.batch_size == 32);
  CHECK(c.learning_starts == 80000);
  CHECK(c.train_freq == 4);
  CHECK(c.epsilon_steps == 1000000);
  CHECK(c.eval_epsilon == 0.05);
}

TEST_CASE("the catch preset is the atari one scaled down for a CI-sized pixel run") {
  const Config c = make_preset("catch");
  CHECK(c.env == "catch");
  CHECK(c.batch_size == 16);
  CHECK(c.epsilon_steps * 3 <= c.total_steps + 1000);  // epsilon floors in the first ~third
  CHECK(c.eval_epsilon == 0.05);
  CHECK_FALSE(c.episodic_life);
  CHECK(c.noop_max == 0);
  CHECK_NOTHROW(c.validate());
  const std::vector<std::string> names = preset_names();
  CHECK(std::find(names.begin(), names.end(), "catch") != names.end());
  Config d;
  CHECK_NOTHROW(d.set("env", "catch"));
  CHECK_NOTHROW(d.set("preset", "catch"));
}

TEST_CASE("an unknown key names the closest valid one") {
  Config c;
  const std::string message = error_of(c, "learning_rate", "0.1");
  CHECK(message.find("unknown key 'learning_rate'") != std::string::npos);
  CHECK(error_of(c, "batchsize", "3").find("'batch_size'") != std::string::npos);
}

TEST_CASE("out-of-range and malformed values name the key and the valid range") {
  Config c;
  CHECK(error_of(c, "gamma", "1.5").find("gamma must be in [0, 1]") != std::string::npos);
  CHECK(error_of(c, "batch_size", "2.5").find("whole number") != std::string::npos);
  CHECK(error_of(c, "env", "doom").find("cartpole, breakout, pong") != std::string::npos);
  CHECK(error_of(c, "double_dqn", "maybe").find("true or false") != std::string::npos);
  CHECK_THROWS_AS(make_preset("fast"), Error);
}

TEST_CASE("to_text read back through set gives the same config") {
  Config a = make_preset("seed");
  a.set("hidden", "64,32");
  a.set("gamma", "0.95");
  Config b;
  const std::string text = a.to_text();
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = text.find('\n', pos);
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line[0] == '#') continue;
    const auto eq = line.find('=');
    b.set(line.substr(0, eq), line.substr(eq + 1));
  }
  CHECK(b.to_text() == text);
  CHECK(b.hidden == std::vector<std::int64_t>{64, 32});
}
