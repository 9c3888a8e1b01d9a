// Tests for rl/config.hpp: presets, key=value settings, errors that name the key and range.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "rl/config.hpp"

using namespace dqn;

namespace {
std::string temp_path(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / "dqn_test_config";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}
void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}
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
  CHECK(c.env == "mini:catch");
  CHECK(c.batch_size == 16);
  CHECK(c.epsilon_steps * 3 <= c.total_steps + 1000);  // epsilon floors in the first ~third
  CHECK(c.eval_epsilon == 0.05);
  CHECK_FALSE(c.terminal_on_life_loss);
  CHECK(c.noop_max == 0);
  CHECK_NOTHROW(c.validate());
  const std::vector<std::string> names = preset_names();
  CHECK(std::find(names.begin(), names.end(), "catch") != names.end());
  Config d;
  CHECK_NOTHROW(d.set("env", "catch"));
}

TEST_CASE("the rainbow and der presets: the atari preset with the values their papers list") {
  const Config atari = make_preset("atari"), r = make_preset("rainbow"), d = make_preset("der");
  // Hessel et al. 2018, Table 1.
  CHECK((r.double_dqn && r.dueling && r.prioritized_replay && r.distributional && r.noisy_nets));
  CHECK(r.per_alpha == 0.5);
  CHECK(r.per_beta_start == 0.4);
  CHECK(r.n_step == 3);
  CHECK((r.atoms == 51 && r.v_min == -10 && r.v_max == 10));
  CHECK(r.noisy_sigma0 == 0.5);
  CHECK(r.lr == 6.25e-5);
  CHECK(r.adam_eps == 1.5e-4);
  CHECK(r.learning_starts * 4 == 80000);         // 80K frames
  CHECK(r.target_update_interval * 4 == 32000);  // 32K frames
  CHECK(r.target_update_unit == TargetUnit::kEnvSteps);
  // What Table 1 leaves to DQN stays the atari preset's.
  CHECK(r.env == atari.env);
  CHECK(r.batch_size == atari.batch_size);
  CHECK(r.buffer_size == atari.buffer_size);
  CHECK(r.train_freq == atari.train_freq);
  CHECK(r.noop_max == atari.noop_max);
  // van Hasselt et al. 2019's data-efficient Rainbow for 100k agent steps.
  CHECK(d.total_steps == 100000);
  CHECK(d.network == "der");
  CHECK(d.n_step == 20);
  CHECK(d.noisy_sigma0 == 0.1);
  CHECK(d.learning_starts == 1600);
  CHECK(d.train_freq == 1);
  CHECK((d.target_update_interval == 2000 && d.target_update_unit == TargetUnit::kUpdates));
  CHECK(d.lr == 1e-4);
  CHECK((d.distributional && d.noisy_nets && d.prioritized_replay && d.dueling));
  CHECK_NOTHROW(r.validate());
  CHECK_NOTHROW(d.validate());
  CHECK(r.preset == "rainbow");
  CHECK(d.preset == "der");
  CHECK(resolve_config("der", {{"env", "mini:pong", "--env"}}).env == "mini:pong");
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
  CHECK(
      error_of(c, "env", "doom").find("cartpole, mini:breakout, mini:pong, mini:catch, ale:raw") !=
      std::string::npos);
  CHECK(error_of(c, "double_dqn", "maybe").find("true or false") != std::string::npos);
  CHECK_THROWS_AS(make_preset("fast"), Error);
}

TEST_CASE("to_text read back through a config file gives the same config") {
  Config a = make_preset("seed");
  a.set("hidden", "64,32");
  a.set("gamma", "0.95");
  const std::string path = temp_path("roundtrip.txt");
  write_text(path, a.to_text());
  const Config b = load_config_file(path);
  CHECK(b.to_text() == a.to_text());
  CHECK(b.hidden == std::vector<std::int64_t>{64, 32});
  CHECK(b.preset == "seed");
}

// Today's trap, fixed: `preset` used to be an ordinary key, so setting it relabelled the run and
// trained with the cartpole preset's values under another name.
TEST_CASE("setting preset loads that preset's values instead of relabelling the run") {
  Config c;
  const std::string message = error_of(c, "preset", "seed");
  CHECK(message.find("--preset seed") != std::string::npos);

  const Config from_set = resolve_config("", {{"preset", "seed", "--set"}});
  CHECK(from_set.preset == "seed");
  CHECK(from_set.to_text() == make_preset("seed").to_text());

  // A file holding preset = atari and env = breakout trains with the atari values, whatever
  // the order of its lines, and later keys still override the preset.
  const std::string path = temp_path("atari.txt");
  write_text(path, "env = breakout\nlr = 3e-4\npreset = atari\n");
  const Config file = load_config_file(path);
  Config expected = make_preset("atari", "breakout");
  expected.set("lr", "3e-4");
  CHECK(file.to_text() == expected.to_text());
  CHECK(file.buffer_size == 1000000);

  // Without a preset line the env picks the preset, as --env does on the command line.
  write_text(path, "env = breakout\n");
  CHECK(load_config_file(path).preset == "atari");
}

TEST_CASE("contradicting or empty presets and duplicate keys are errors") {
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message([] {
          resolve_config("atari", {{"preset", "seed", "--set"}});
        }).find("--preset atari contradicts preset 'seed'") != std::string::npos);
  CHECK(message([] {
          resolve_config("", {{"preset", "seed", "a:1"}, {"preset", "catch", "--set"}});
        }).find("contradicts") != std::string::npos);
  CHECK(message([] {
          resolve_config("", {{"preset", "", "--set"}});
        }).find("preset is empty") != std::string::npos);
  CHECK(message([] { resolve_config("fast", {}); }).find("unknown preset 'fast'") !=
        std::string::npos);

  const std::string path = temp_path("duplicate.txt");
  write_text(path, "# comment\nlr = 1e-3\n\ngamma = 0.9\nlr = 2e-3\n");
  const std::string duplicate = message([&] { read_config_file(path); });
  CHECK(duplicate.find(path + ":5: 'lr' is set a second time (first at " + path + ":2)") !=
        std::string::npos);
}

TEST_CASE("a config path that is a folder, a device or missing is refused before reading") {
  auto message = [](const std::string& path) {
    try {
      read_config_file(path);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string dir = temp_path("a_folder");
  std::filesystem::create_directories(dir);
  CHECK(message(dir).find("is a folder, not a config file") != std::string::npos);
  CHECK(message("/dev/zero").find("not a regular file") != std::string::npos);
  CHECK(message(temp_path("missing.txt")).find("does not exist") != std::string::npos);
}

TEST_CASE("the atari-v5 preset is Machado et al. 2018's protocol, atari Mnih et al. 2015's") {
  const Config mnih = make_preset("atari"), machado = make_preset("atari-v5");
  CHECK(mnih.repeat_action_probability == 0.0);
  CHECK(mnih.noop_max == 30);
  CHECK(mnih.fire_reset);
  CHECK(mnih.terminal_on_life_loss);
  CHECK(machado.repeat_action_probability == 0.25);
  CHECK(machado.noop_max == 0);
  CHECK_FALSE(machado.fire_reset);
  CHECK_FALSE(machado.terminal_on_life_loss);
  for (const Config* c : {&mnih, &machado}) {
    CHECK_FALSE(c->full_action_space);
    CHECK(c->max_frames_per_episode == 108000);
  }
  // The agent is the same: only the protocol differs.
  CHECK(machado.lr == mnih.lr);
  CHECK(machado.buffer_size == mnih.buffer_size);
}

namespace {
// The words of a line with the column each starts at.
std::vector<std::pair<std::size_t, std::string>> words_at(const std::string& line) {
  std::vector<std::pair<std::size_t, std::string>> words;
  std::size_t i = 0;
  while ((i = line.find_first_not_of(' ', i)) != std::string::npos) {
    const std::size_t end = std::min(line.find(' ', i), line.size());
    words.emplace_back(i, line.substr(i, end - i));
    i = end;
  }
  return words;
}
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}
}  // namespace

TEST_CASE("every config key has a one-line meaning and the values it accepts") {
  const std::vector<KeyHelp> help = config_key_help();
  const std::vector<std::string> keys = Config::keys();
  REQUIRE(help.size() == keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    CAPTURE(keys[i]);
    CHECK(help[i].key == keys[i]);
    CHECK(help[i].help.size() >= 8);
    CHECK_FALSE(help[i].accepts.empty());
  }
  auto of = [&](const std::string& key) {
    return *std::find_if(help.begin(), help.end(), [&](const KeyHelp& k) { return k.key == key; });
  };
  CHECK(of("gamma").help == "discount factor");
  CHECK(of("gamma").accepts == "[0, 1]");
  CHECK(of("eval_interval").help == "env steps between greedy evaluations (0: never)");
  CHECK(of("threads").accepts == "whole number in [1, 64]");
  CHECK(of("total_steps").accepts == "whole number >= 1");
  CHECK(of("buffer_size").accepts == "whole number in [1, 1e9]");
  CHECK(of("env").accepts.rfind(
            "cartpole, mini:breakout, mini:pong, mini:catch, ale:raw, ale:alien", 0) == 0);
  CHECK(of("env").accepts.find("ale:space_invaders, ale:tetris or ale:catch2600") !=
        std::string::npos);
  CHECK(of("target_update_unit").accepts == "env_steps or updates");
  CHECK(of("dueling").accepts == "true or false");
  CHECK(of("hidden").accepts == "comma-separated whole numbers in [1, 65536]");
}

TEST_CASE("config value_text writes one key's value as to_text does") {
  Config c = make_preset("cartpole");
  CHECK(c.value_text("lr") == "0.0023");
  CHECK(c.value_text("hidden") == "64,64");
  CHECK(c.value_text("target_update_unit") == "updates");
  CHECK(c.value_text("double_dqn") == "true");
  c.set("gamma", "0.1");
  CHECK(c.to_text().find("\ngamma = " + c.value_text("gamma") + "\n") != std::string::npos);
  CHECK(c.value_text("gamma") == "0.1");
  CHECK_THROWS_AS(static_cast<void>(c.value_text("gama")), Error);
}

TEST_CASE("the config help table puts each preset's values side by side under its name") {
  const std::string table = config_help_table();
  const std::vector<std::string> lines = lines_of(table);
  for (const std::string& line : lines) {
    CAPTURE(line);
    CHECK(line.size() <= 80);
  }
  // The headers: "key" then the presets, in preset_names() order, as many to a table as fit
  // 80 columns (the first five, then rainbow and der).
  std::vector<std::string> headed;
  std::size_t tables = 0;
  for (const std::string& line : lines) {
    if (line.rfind("key ", 0) != 0) continue;
    ++tables;
    const auto words = words_at(line);
    for (std::size_t w = 1; w < words.size(); ++w) headed.push_back(words[w].second);
  }
  const std::vector<std::string> names = preset_names();
  CHECK(headed == names);
  CHECK(tables == 2);
  const auto header = std::find_if(lines.begin(), lines.end(),
                                   [](const auto& l) { return l.rfind("key ", 0) == 0; });
  REQUIRE(header != lines.end());
  const auto columns = words_at(*header);
  REQUIRE(columns.size() == 6);  // key and the first five presets
  // A key's row: its value for each preset, starting in that preset's column.
  auto row = [&](const std::string& key) {
    const auto it = std::find_if(header, lines.end(),
                                 [&](const auto& l) { return l.rfind(key + " ", 0) == 0; });
    REQUIRE(it != lines.end());
    return words_at(*it);
  };
  auto check_row = [&](const std::string& key, const std::vector<std::string>& values) {
    CAPTURE(key);
    const auto words = row(key);
    REQUIRE(words.size() == values.size() + 1);
    for (std::size_t p = 0; p < values.size(); ++p) {
      CHECK(words[p + 1].second == values[p]);
      CHECK(words[p + 1].first == columns[p + 1].first);
    }
  };
  //                 cartpole   seed      atari       atari-v5    catch
  check_row("lr", {"0.0023", "0.0001", "0.0001", "0.0001", "0.0005"});
  check_row("buffer_size", {"100000", "50000", "1000000", "1000000", "10000"});
  check_row("repeat_action_probability", {"0", "0", "0", "0.25", "0"});
  check_row("target_update_unit", {"updates", "updates", "env_steps", "env_steps", "updates"});
  check_row("hidden", {"64,64", "256,256", "256,256", "256,256", "256,256"});
  // A key no preset changes is printed once.
  const auto gamma = row("gamma");
  REQUIRE(gamma.size() == 4);
  CHECK(gamma[1].second == "0.99");
  CHECK(gamma[2].second + " " + gamma[3].second == "(every preset)");
  // The second table: rainbow's and der's values, and only for keys where some preset differs.
  const auto second = std::find_if(std::next(header), lines.end(),
                                   [](const auto& l) { return l.rfind("key ", 0) == 0; });
  REQUIRE(second != lines.end());
  auto second_row = [&](const std::string& key) {
    const auto it = std::find_if(second, lines.end(),
                                 [&](const auto& l) { return l.rfind(key + " ", 0) == 0; });
    REQUIRE(it != lines.end());
    return words_at(*it);
  };
  const auto n_step = second_row("n_step");
  REQUIRE(n_step.size() == 3);
  CHECK(n_step[1].second + " " + n_step[2].second == "3 20");
  // Every key has a row in the first table and a description below it, and a row in the
  // second table exactly when the presets disagree on it.
  std::vector<Config> presets;
  for (const std::string& name : names) presets.push_back(make_preset(name));
  for (const std::string& key : Config::keys()) {
    CAPTURE(key);
    bool same = true;
    for (const Config& c : presets) same = same && c.value_text(key) == presets[0].value_text(key);
    CHECK(std::count_if(lines.begin(), lines.end(), [&](const auto& l) {
            return l.rfind(key + " ", 0) == 0;
          }) == (same ? 2 : 3));
  }
  CHECK(table.find("discount factor; [0, 1].") != std::string::npos);
}

TEST_CASE("the config help table wraps descriptions under their own column at any width") {
  const std::string narrow = config_help_table(60);
  const auto description = narrow.find("what each key means");
  REQUIRE(description != std::string::npos);
  const std::vector<std::string> lines = lines_of(narrow.substr(description));
  const std::size_t indent = std::string("repeat_action_probability  ").size();
  for (std::size_t i = 1; i < lines.size(); ++i) {
    CAPTURE(lines[i]);
    CHECK(lines[i].size() <= 60);
    // Continuation lines start in the description column, not at the margin.
    if (!lines[i].empty() && lines[i][0] == ' ') CHECK(lines[i].find_first_not_of(' ') == indent);
  }
  // No word is lost to the wrapping.
  std::string joined;
  for (std::size_t i = 1; i < lines.size(); ++i)
    for (const auto& word : words_at(lines[i])) joined += word.second + " ";
  CHECK(joined.find("sticky actions: chance the last action repeats,") != std::string::npos);
}

TEST_CASE("episodic_life, the key's earlier name, still loads as terminal_on_life_loss") {
  // Checkpoints and config.txt files written before the Atari protocols were named carry it.
  Config c = make_preset("atari");
  c.set("episodic_life", "false");
  CHECK_FALSE(c.terminal_on_life_loss);
  c.set("episodic_life", "true");
  CHECK(c.terminal_on_life_loss);
}

TEST_CASE("the C51 keys: off by default, validated, shown only where they apply") {
  Config c = make_preset("cartpole");
  CHECK_FALSE(c.distributional);
  CHECK(c.atoms == 51);
  CHECK(c.v_min == -10.0);
  CHECK(c.v_max == 10.0);
  CHECK(error_of(c, "atoms", "1").find("atoms must be in [2, 1024]") != std::string::npos);
  CHECK(error_of(c, "atoms", "51.5").find("whole number") != std::string::npos);
  CHECK(error_of(c, "distributional", "yes").find("true or false") != std::string::npos);
  CHECK(c.to_text(true).find("atoms") == std::string::npos);
  CHECK(c.to_text(true).find("huber_delta") != std::string::npos);
  c.set("distributional", "true");
  c.set("v_min", "0");
  c.set("v_max", "100");
  CHECK(c.to_text(true).find("atoms = 51") != std::string::npos);
  CHECK(c.to_text(true).find("v_max = 100") != std::string::npos);
  CHECK(c.to_text(true).find("huber_delta") == std::string::npos);  // C51 has no Huber loss
  c.validate();
  c.set("v_min", "100");
  try {
    c.validate();
    FAIL("v_min = v_max was accepted");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("v_min (100) must be below v_max (100)") != std::string::npos);
  }
}

TEST_CASE("noisy_nets drops the epsilon keys from a run's config, and network applies to pixels") {
  Config c = make_preset("cartpole");
  CHECK(c.key_applies("epsilon_start"));
  CHECK_FALSE(c.key_applies("noisy_sigma0"));
  CHECK_FALSE(c.key_applies("network"));  // CartPole's MLP
  c.set("noisy_nets", "true");
  c.set("noisy_sigma0", "0.1");
  for (const char* key : {"epsilon_start", "epsilon_end", "epsilon_steps"})
    CHECK_FALSE(c.key_applies(key));
  CHECK(c.key_applies("eval_epsilon"));  // evaluation still takes its epsilon
  CHECK(c.key_applies("noisy_sigma0"));
  const std::string text = c.to_text(/*applicable_only=*/true);
  CHECK(text.find("epsilon_steps") == std::string::npos);
  CHECK(text.find("noisy_sigma0 = 0.1\n") != std::string::npos);
  CHECK(error_of(c, "noisy_sigma0", "-1") == "config: noisy_sigma0 must be in [0, 10], got -1");

  Config atari = make_preset("atari");
  CHECK(atari.network == "nature");
  CHECK(atari.key_applies("network"));
  atari.set("network", "der");
  CHECK(atari.network == "der");
  CHECK(error_of(atari, "network", "resnet") ==
        "config: network must be one of nature, der; got 'resnet'");

  CHECK(atari.precision == "fp32");
  atari.set("precision", "bf16");
  CHECK(atari.precision == "bf16");
  CHECK(atari.key_applies("precision"));
  CHECK(error_of(atari, "precision", "fp16") ==
        "config: precision must be one of fp32, bf16; got 'fp16'");
}

TEST_CASE("config: the built-in games' names of earlier runs load as the mini: games") {
  Config c;
  for (const char* old : {"breakout", "pong", "catch"}) {
    c.set("env", old);
    CHECK(c.env == std::string("mini:") + old);
  }
  c.set("env", "ale:pong");
  CHECK(c.env == "ale:pong");
  CHECK(c.key_applies("rom"));
  c.set("env", "mini:pong");
  CHECK_FALSE(c.key_applies("rom"));
  CHECK_FALSE(c.key_applies("game_mode"));
  CHECK_THROWS_AS(c.set("env", "ale:pitfall"), Error);
  CHECK_THROWS_AS(c.set("game_difficulty", "4"), Error);
}
