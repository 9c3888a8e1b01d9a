// Tests for tools/cli.hpp: every subcommand's happy path and its bad inputs, with exact exit
// codes (0 ok, 1 runtime error, 2 usage error) and the messages a person acts on.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "rl/trainer.hpp"
#include "tools/cli.hpp"

using dqn::tools::run_cli;

namespace {

struct Outcome {
  int code;
  std::string out, err;
};

Outcome cli(std::vector<std::string> args) {
  args.insert(args.begin(), "dqn");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  std::ostringstream out, err;
  const int code = run_cli(static_cast<int>(argv.size()), argv.data(), out, err);
  return {code, out.str(), err.str()};
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// ctest runs test cases as separate processes, possibly at once: folders carry the process id.
std::string temp_dir(const std::string& name) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("dqn_cli_" + name + "_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

// A short run whose checkpoint the other tests use.
const std::string& trained_run() {
  static const std::string dir = [] {
    const std::string d = temp_dir("run");
    const Outcome o =
        cli({"train", "--steps", "3000", "--set", "hidden=16", "--set", "learning_starts=200",
             "--set", "eval_interval=1000", "--set", "final_eval_episodes=3", "--out", d});
    REQUIRE(o.code == 0);
    return d;
  }();
  return dir;
}

}  // namespace

TEST_CASE("an unknown subcommand exits 2 and names the valid ones") {
  const Outcome o = cli({"frobnicate"});
  CHECK(o.code == 2);
  CHECK(contains(o.err, "unknown subcommand 'frobnicate'"));
  CHECK(contains(o.err, "train, resume, eval"));
}

TEST_CASE("train writes config, metrics, plot and model, and says where they are") {
  const std::string& dir = trained_run();
  for (const char* file : {"config.txt", "metrics.jsonl", "learning_curve.svg", "model.dqn"})
    CHECK(std::filesystem::exists(dir + "/" + file));
  std::ifstream svg(dir + "/learning_curve.svg");
  std::stringstream text;
  text << svg.rdbuf();
  CHECK(contains(text.str(), "<polyline"));
}

TEST_CASE("train rejects an unknown flag, naming the closest valid one") {
  const Outcome o = cli({"train", "--seeed", "3"});
  CHECK(o.code == 2);
  CHECK(contains(o.err, "unknown flag '--seeed'"));
  CHECK(contains(o.err, "did you mean '--seed'"));
}

TEST_CASE("train rejects an unknown config key and a bad value with exit code 2") {
  Outcome o = cli({"train", "--set", "learnin_rate=0.1"});
  CHECK(o.code == 2);
  CHECK(contains(o.err, "unknown key 'learnin_rate'"));
  o = cli({"train", "--set", "gamma=2"});
  CHECK(o.code == 2);
  CHECK(contains(o.err, "gamma must be in [0, 1]"));
  o = cli({"train", "--threads", "0"});
  CHECK(o.code == 2);
  CHECK(contains(o.err, "threads must be in [1, 64]"));
}

TEST_CASE("train --config reads a run's own config.txt back") {
  const std::string& dir = trained_run();
  const std::string copy = temp_dir("copy");
  const Outcome o = cli({"train", "--config", dir + "/config.txt", "--steps", "300", "--set",
                         "final_eval_episodes=1", "--out", copy});
  CHECK(o.code == 0);
  std::ifstream in(copy + "/config.txt");
  std::stringstream text;
  text << in.rdbuf();
  CHECK(contains(text.str(), "hidden = 16"));
}

TEST_CASE("eval and info read a checkpoint") {
  const std::string model = trained_run() + "/model.dqn";
  Outcome o = cli({"eval", model, "--episodes", "3"});
  CHECK(o.code == 0);
  CHECK(contains(o.out, "3 episodes, return mean"));
  o = cli({"info", model});
  CHECK(o.code == 0);
  CHECK(contains(o.out, "net.0.weight (16,4)"));
  CHECK(contains(o.out, "mlp 4-16-2"));
}

TEST_CASE("eval of a missing file or a corrupt checkpoint exits 1 naming the file") {
  Outcome o = cli({"eval", "/nonexistent/model.dqn"});
  CHECK(o.code == 1);
  CHECK(contains(o.err, "/nonexistent/model.dqn"));
  const std::string bad = temp_dir("bad") + ".dqn";
  std::ofstream(bad) << "this is not a checkpoint";
  o = cli({"eval", bad});
  CHECK(o.code == 1);
  CHECK(contains(o.err, "not a dqn checkpoint"));
  o = cli({"eval", bad, "--episodes", "zero"});
  CHECK(o.code == 2);
  CHECK(contains(o.err, "--episodes must be a whole number"));
}

TEST_CASE("play draws a CartPole episode in text, or writes it as a GIF") {
  Outcome o = cli({"play", trained_run() + "/model.dqn", "--seed", "4", "--max-steps", "30"});
  CHECK(o.code == 0);
  CHECK(contains(o.out, "cartpole: return "));
  const std::string gif = temp_dir("gif") + ".gif";
  o = cli({"play", trained_run() + "/model.dqn", "--gif", gif, "--max-steps", "5"});
  CHECK(o.code == 0);
  CHECK(
      contains(o.out, "wrote 6 frames"));  // the first observation and 5 steps (no pole falls in 5)
  std::ifstream in(gif, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(bytes.substr(0, 6) == "GIF89a");
  CHECK(bytes.back() == ';');  // the GIF trailer
  o = cli({"play", trained_run() + "/model.dqn", "--view", "sideways"});
  CHECK(o.code == 2);
  CHECK(contains(o.err, "--view must be screen or agent"));
}

TEST_CASE("trace prints one JSON line per step and rejects bad actions") {
  Outcome o = cli({"trace", "--state", "0,0,0.01,0", "--actions", "1,0,1"});
  CHECK(o.code == 0);
  CHECK(std::count(o.out.begin(), o.out.end(), '\n') == 4);  // the initial state + 3 steps
  CHECK(contains(o.out, "\"terminated\":false"));
  o = cli({"trace", "--actions", "1,2"});
  CHECK(o.code == 2);
  CHECK(contains(o.err, "actions are 0 (left) and 1 (right)"));
  o = cli({"trace", "--random", "2", "--seed", "5"});
  CHECK(o.code == 0);
}

TEST_CASE("resume of a folder without a snapshot exits 1 and explains") {
  const std::string dir = temp_dir("empty");
  std::filesystem::create_directories(dir);
  Outcome o = cli({"resume", dir});
  CHECK(o.code == 1);
  CHECK(contains(o.err, "snapshot.bin' does not exist"));
  CHECK(o.err.rfind("dqn resume: resume:", 0) != 0);
  CHECK_FALSE(contains(o.err, "dqn resume: dqn resume:"));
  o = cli({"resume", dir + "/missing"});
  CHECK(o.code == 1);
  CHECK(contains(o.err, "is not a run folder"));
}

TEST_CASE("bench prints its table and rejects a bad duration") {
  Outcome o = cli({"bench", "--seconds", "0.01"});
  CHECK(o.code == 0);
  CHECK(contains(o.out, "MLP update, batch 64"));
  CHECK(contains(o.out, "CartPole-v1 env step"));
  o = cli({"bench", "--seconds", "-3"});
  CHECK(o.code == 2);
  CHECK(contains(o.err, "--seconds must be a number in [0.01, 600]"));
}

TEST_CASE("resume continues a stopped run to the end") {
  const std::string dir = temp_dir("resume");
  dqn::Config c = dqn::make_preset("cartpole");
  c.total_steps = 2000;
  c.hidden = {8};
  c.learning_starts = 500;
  c.final_eval_episodes = 2;
  {
    dqn::Trainer t(c, dir);
    t.run(1000);  // as Ctrl-C would leave it: a snapshot, no model yet
  }
  CHECK_FALSE(std::filesystem::exists(dir + "/model.dqn"));
  const Outcome o = cli({"resume", dir});
  CHECK(o.code == 0);
  CHECK(contains(o.out, "done: 2000 env steps"));
  CHECK(std::filesystem::exists(dir + "/model.dqn"));
}
