// Tests for tools/cli.hpp: every subcommand's happy path and its bad inputs, with exact exit
// codes (0 ok, 1 runtime error, 2 usage error) and the messages a person acts on.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "rl/config.hpp"
#include "rl/trainer.hpp"
#include "tests/under_asan.hpp"
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

TEST_CASE("train --help gives every key's meaning and the presets' values side by side") {
  const Outcome o = cli({"train", "--help"});
  CHECK(o.code == 0);
  CHECK(o.err.empty());
  CHECK(contains(o.out, "--preset VALUE"));  // the flags first
  CHECK(contains(o.out,
                 "key                        cartpole  seed      atari      atari-v5   catch"));
  CHECK(contains(
      o.out, "\nlr                         0.0023    0.0001    0.0001     0.0001     0.0005\n"));
  CHECK(contains(o.out,
                 "\nrepeat_action_probability  0         0         0          0.25       0\n"));
  CHECK(contains(o.out, "\ngamma                      0.99 (every preset)\n"));
  CHECK(contains(o.out, "\ngamma                      discount factor; [0, 1].\n"));
  for (const std::string& key : dqn::Config::keys()) {
    CAPTURE(key);
    CHECK(contains(o.out, "\n" + key + " "));
  }
  // The config part fits an 80-column terminal (the flags above are the usage text's own).
  std::istringstream lines(o.out.substr(o.out.find("config keys:")));
  for (std::string line; std::getline(lines, line);) {
    CAPTURE(line);
    CHECK(line.size() <= 80);
  }
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

// ---------------------------------------------------------------- bad input loses nothing

namespace {

// Runs `f` with the working directory set to `dir` (default run folders are relative).
template <typename F>
auto in_directory(const std::string& dir, F f) {
  const auto previous = std::filesystem::current_path();
  std::filesystem::create_directories(dir);
  std::filesystem::current_path(dir);
  auto result = f();
  std::filesystem::current_path(previous);
  return result;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A short, cheap CartPole run's flags.
std::vector<std::string> quick(std::vector<std::string> args) {
  for (const char* a : {"--steps", "300", "--set", "hidden=8", "--set", "learning_starts=100",
                        "--set", "final_eval_episodes=1", "--set", "eval_interval=0"})
    args.emplace_back(a);
  return args;
}

}  // namespace

TEST_CASE("--set preset=seed trains with the seed preset's values, not cartpole's relabelled") {
  const std::string dir = temp_dir("preset_set");
  const Outcome o = cli(quick({"train", "--set", "preset=seed", "--out", dir}));
  REQUIRE(o.code == 0);
  const std::string config = read_text(dir + "/config.txt");
  CHECK(contains(config, "preset = seed"));
  CHECK(contains(config, "lr = 0.0001"));          // seed's, not cartpole's 0.0023
  CHECK(contains(config, "buffer_size = 50000"));  // seed's, not cartpole's 100000
  CHECK(contains(config, "double_dqn = false"));
  CHECK(contains(o.out, "returned policy: the last network (no periodic evaluation ran"));
}

TEST_CASE("a config file's preset = atari with env = breakout trains with the atari values") {
  const std::string dir = temp_dir("preset_file");
  std::filesystem::create_directories(dir);
  const std::string file = dir + "/my.conf";
  std::ofstream(file) << "env = breakout\npreset = atari\nfinal_eval_episodes = 0\n";
  const Outcome o = cli({"train", "--config", file, "--steps", "40", "--out", dir + "/run"});
  REQUIRE(o.code == 0);
  const std::string config = read_text(dir + "/run/config.txt");
  CHECK(contains(config, "preset = atari"));
  CHECK(contains(config, "lr = 0.0001"));
  CHECK(contains(config, "learning_starts = 80000"));
  // The preset's 1M-transition replay is capped at the run's 40 steps.
  CHECK(contains(o.out, "replay: 41 transitions (buffer_size, capped at the run's steps)"));
}

TEST_CASE("empty or contradicting presets, duplicate keys and a folder as --config exit 2") {
  Outcome o = cli({"train", "--preset", ""});
  CHECK(o.code == 2);
  CHECK(contains(o.err, "--preset is empty"));
  o = cli({"train", "--preset", "atari", "--set", "preset=seed"});
  CHECK(o.code == 2);
  CHECK(contains(o.err, "--preset atari contradicts preset 'seed'"));
  const std::string dir = temp_dir("dup");
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/config.txt") << "lr = 1e-3\ngamma = 0.9\nlr = 2e-3\n";
  o = cli({"train", "--config", dir + "/config.txt"});
  CHECK(o.code == 2);
  CHECK(contains(o.err,
                 "config.txt:3: 'lr' is set a second time (first at " + dir + "/config.txt:1)"));
  o = cli({"train", "--config", dir});
  CHECK(o.code == 2);
  CHECK(contains(o.err, "is a folder, not a config file"));
  CHECK_FALSE(std::filesystem::exists(dir + "/metrics.jsonl"));  // nothing was trained
}

TEST_CASE("default run folders are unique and land in the caller's directory") {
  const std::string cwd = temp_dir("cwd");
  const auto [first, second] = in_directory(cwd, [] {
    return std::make_pair(cli(quick({"train", "--seed", "4"})),
                          cli(quick({"train", "--seed", "4"})));
  });
  REQUIRE(first.code == 0);
  REQUIRE(second.code == 0);
  std::vector<std::string> runs;
  for (const auto& entry : std::filesystem::directory_iterator(cwd + "/runs"))
    runs.push_back(entry.path().filename().string());
  REQUIRE(runs.size() == 2);
  std::sort(runs.begin(), runs.end());
  CHECK(runs[0].rfind("cartpole__cartpole__4__", 0) == 0);
  CHECK(runs[1].rfind(runs[0], 0) == 0);  // the same second: runs[0] + "_2"
  for (const auto& run : runs) CHECK(std::filesystem::exists(cwd + "/runs/" + run + "/model.dqn"));
}

TEST_CASE(
    "--out of an existing run is refused unless --overwrite, and a bad --out fails up front") {
  const std::string dir = temp_dir("out_twice");
  REQUIRE(cli(quick({"train", "--out", dir})).code == 0);
  const std::string model = read_text(dir + "/model.dqn");
  Outcome o = cli(quick({"train", "--seed", "9", "--out", dir}));
  CHECK(o.code == 1);
  CHECK(contains(o.err, "already holds a run"));
  CHECK(contains(o.err, "--overwrite"));
  CHECK(read_text(dir + "/model.dqn") == model);  // the first run is intact
  o = cli(quick({"train", "--seed", "9", "--out", dir, "--overwrite"}));
  CHECK(o.code == 0);
  CHECK(contains(read_text(dir + "/config.txt"), "seed = 9"));

  o = cli(quick({"train", "--out", ""}));
  CHECK(o.code == 2);
  CHECK(contains(o.err, "--out is empty"));
  o = cli(quick({"train", "--out", dir + "/model.dqn"}));
  CHECK(o.code == 1);
  CHECK(contains(o.err, "is a file, not a folder"));
  o = cli(quick({"train", "--out", "/proc/dqn_cannot_be_here"}));
  CHECK(o.code == 1);
  CHECK(contains(o.err, "cannot create the run folder"));
  o = cli(quick({"train", "--out",
                 (std::filesystem::temp_directory_path() / std::string(260, 'n')).string()}));
  CHECK(o.code == 1);
  CHECK(contains(o.err, "file names stop at 255"));
}

TEST_CASE("printed commands are shell-quoted, so a path with spaces pastes back") {
  const std::string dir = temp_dir("with space");
  const Outcome o = cli(quick({"train", "--out", dir}));
  REQUIRE(o.code == 0);
  CHECK(contains(o.out, " eval '" + dir + "/model.dqn'"));
  CHECK(dqn::shell_quote("it's") == "'it'\\''s'");
  CHECK(dqn::shell_quote("plain/path-1.dqn") == "plain/path-1.dqn");
}

TEST_CASE("a finished run cannot be resumed, and says so") {
  const Outcome o = cli({"resume", trained_run()});
  CHECK(o.code == 1);
  CHECK(contains(o.err, "has finished"));
  CHECK_FALSE(contains(o.err, "dqn resume: dqn resume:"));
  CHECK_FALSE(std::filesystem::exists(trained_run() + "/snapshot.bin"));
}

TEST_CASE("eval takes a run folder, and non-regular files and mismatched networks are refused") {
  Outcome o = cli({"eval", trained_run(), "--episodes", "2"});
  CHECK(o.code == 0);
  CHECK(contains(o.out, "cartpole: 2 episodes"));
  o = cli({"info", "/dev/zero"});
  CHECK(o.code == 1);
  CHECK(contains(o.err, "is not a regular file"));
  const std::string fifo = temp_dir("fifo");
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  o = cli({"info", fifo});  // would block forever on open(2) without O_NONBLOCK
  CHECK(o.code == 1);
  CHECK(contains(o.err, "is not a regular file"));
  // A CartPole network labelled as Pong: refused, naming both shapes.
  dqn::Rng rng(1);
  dqn::NetworkSpec spec;
  spec.kind = dqn::NetworkKind::kMlp;
  spec.observation_shape = {4};
  spec.num_actions = 2;
  spec.hidden = {8};
  dqn::QNetwork net(spec, rng);
  dqn::CheckpointMeta meta;
  meta.set("env", "pong");  // an earlier run's name of mini:pong: it still loads
  const std::string path = temp_dir("pong") + ".dqn";
  dqn::save_checkpoint(path, net, nullptr, meta);
  o = cli({"eval", path});
  CHECK(o.code == 1);
  CHECK(contains(o.err,
                 "an MLP for observations (4) and 2 actions, but its env 'mini:pong' gives "
                 "observations (4,84,84) and 6 actions"));
}

TEST_CASE("numbers are parsed strictly: 1x, 0x10 and nan are errors") {
  for (const char* bad : {"1x", "0x10", "nan", "inf", "", "5 steps"}) {
    CAPTURE(bad);
    Outcome o = cli({"train", "--steps", bad});
    CHECK(o.code == 2);
    CHECK(contains(o.err, "total_steps must be"));
  }
  Outcome o = cli({"trace", "--state", "nan,0,0,0", "--actions", "1"});
  CHECK(o.code == 2);
  CHECK(contains(o.err, "'nan' is not a number"));
  o = cli({"trace", "--state", "0,0,0,0", "--actions", "0x1"});
  CHECK(o.code == 2);
  o = cli({"eval", trained_run(), "--episodes", "3x"});
  CHECK(o.code == 2);
  o = cli({"bench", "--seconds", "0x1"});
  CHECK(o.code == 2);
}

// ---------------------------------------------------------------- eval scores as training did

namespace {

// A short Atari run under `preset`, whose checkpoint carries its config. The frame cap keeps
// evaluation episodes short (a greedy untrained network may never press FIRE).
std::string atari_run(const std::string& preset) {
  const std::string dir = temp_dir("atari_" + preset);
  const Outcome o =
      cli({"train", "--env", "mini:breakout", "--preset", preset, "--steps", "40", "--set",
           "final_eval_episodes=0", "--set", "max_frames_per_episode=1200", "--out", dir});
  REQUIRE(o.code == 0);
  return dir;
}

std::string result_line(const std::string& out) {
  return out.substr(out.find("breakout: "));
}

}  // namespace

TEST_CASE("eval of an atari-v5 checkpoint uses sticky actions without being told") {
  const std::string run = atari_run("atari-v5");
  const Outcome o = cli({"eval", run, "--episodes", "3"});
  REQUIRE(o.code == 0);
  CHECK(contains(o.out,
                 "preset atari-v5: repeat_action_probability 0.25, noop_max 0, "
                 "fire_reset false, full_action_space false, max_frames_per_episode 1200"));
  CHECK(contains(o.out, "epsilon 0.05, as the checkpoint's run was configured"));
  // The stickiness reaches the game: with random actions (an untrained greedy network mostly
  // repeats one action, which stickiness cannot change) the same seeds play other games
  // without it, and the same games when it is given explicitly.
  const Outcome sticky = cli({"eval", run, "--episodes", "3", "--epsilon", "1"});
  const Outcome plain = cli(
      {"eval", run, "--episodes", "3", "--epsilon", "1", "--set", "repeat_action_probability=0"});
  const Outcome explicit_flags = cli({"eval", run, "--episodes", "3", "--epsilon", "1", "--set",
                                      "repeat_action_probability=0.25"});
  REQUIRE(plain.code == 0);
  CHECK(contains(plain.out, "repeat_action_probability 0,"));
  CHECK(result_line(plain.out) != result_line(sticky.out));
  CHECK(result_line(explicit_flags.out) == result_line(sticky.out));
}

TEST_CASE("eval of an atari checkpoint uses epsilon 0.05 and no-op starts") {
  const std::string run = atari_run("atari");
  const Outcome o = cli({"eval", run, "--episodes", "2"});
  REQUIRE(o.code == 0);
  CHECK(contains(o.out, "preset atari: repeat_action_probability 0, noop_max 30, fire_reset true"));
  CHECK(contains(o.out, "epsilon 0.05"));
  const Outcome greedy = cli({"eval", run, "--episodes", "2", "--epsilon", "0"});
  CHECK(contains(greedy.out, "epsilon 0,"));
  // A full action set the network was not built for is refused, naming the cause.
  const Outcome wrong = cli({"eval", run, "--set", "full_action_space=true"});
  CHECK(wrong.code == 1);
  CHECK(contains(wrong.err,
                 "4 actions, but its env 'mini:breakout' gives observations (4,84,84) and "
                 "18 actions"));
}

TEST_CASE("the progress line fits the terminal, dropping the least important fields first") {
  dqn::TrainProgress p;
  p.step = 1'234'567;
  p.total_steps = 10'000'000;
  p.episodes = 4321;
  p.recent_return = 12.34;
  p.last_eval = 45.6;
  p.epsilon = 0.01;
  p.loss = 0.0123;
  p.steps_per_second = 234;
  p.eta_seconds = 37'000;  // 10 h 16 min 40 s
  const std::string full = dqn::tools::progress_line(p, 0);
  CHECK(full ==
        "step 1.2M/10M (12%) | return 12.3 | eval 45.6 | 234 steps/s | ETA 10h16m | "
        "episodes 4321 | eps 0.010 | loss 0.0123");
  for (const int columns : {40, 60, 80, 100}) {
    CAPTURE(columns);
    const std::string line = dqn::tools::progress_line(p, columns);
    CHECK(static_cast<int>(line.size()) <= columns - 1);
    CHECK(full.rfind(line, 0) == 0);  // a prefix of whole fields
    CHECK(contains(line, "step 1.2M/10M"));
  }
  CHECK(contains(dqn::tools::progress_line(p, 80), "ETA 10h16m"));
  p.last_eval = -1;
  CHECK(contains(dqn::tools::progress_line(p, 0), "eval -"));
}

TEST_CASE("config.txt records the keys that apply, the command line, the commit and the build") {
  const std::string atari = read_text(atari_run("atari") + "/config.txt");
  CHECK_FALSE(contains(atari, "\nhidden ="));  // the Nature CNN has no hidden widths
  CHECK(contains(atari, "\nnoop_max = 30\n"));
  CHECK(contains(atari, "# command: dqn train --env mini:breakout --preset atari --steps 40"));
  CHECK(contains(atari, "# git commit: "));
  CHECK(contains(atari, "# build: "));
  const std::string cartpole = read_text(trained_run() + "/config.txt");
  CHECK(contains(cartpole, "\nhidden = 16\n"));
  CHECK_FALSE(contains(cartpole, "noop_max"));
  CHECK_FALSE(contains(cartpole, "repeat_action_probability"));
}

// ---------------------------------------------------------------- rom-trace against the oracle

namespace {

// Runs `dqn rom-trace` with `args` and compares its output, line for line, with the oracle's
// for the same command line (tests/fixtures/rom_trace/make_goldens.sh, the info line dropped).
void check_rom_trace(const std::string& golden, std::vector<std::string> args) {
  args.insert(args.begin(), "rom-trace");
  const Outcome o = cli(args);
  REQUIRE(o.code == 0);
  std::istringstream want(
      read_text(std::string(DQN_SOURCE_DIR) + "/tests/fixtures/rom_trace/" + golden)),
      got(o.out);
  std::string w, g;
  std::size_t lines = 0, equal = 0, terminal = 0;
  while (std::getline(want, w)) {
    ++lines;
    if (!std::getline(got, g)) FAIL(golden << ": dqn rom-trace stopped after " << lines - 1);
    if (g == w)
      ++equal;
    else if (lines - equal <= 3)
      CHECK(g == w);  // show the first differences in full
    terminal += contains(w, "\"terminal\":true");
  }
  CHECK_FALSE(std::getline(got, g));  // and no more lines than the oracle
  MESSAGE(golden << ": " << equal << " of " << lines << " lines equal the oracle's (" << terminal
                 << " terminal)");
  CHECK(equal == lines);
}

std::string probe(const std::string& name) {
  return std::string(DQN_SOURCE_DIR) + "/tests/atari2600/probes/" + name;
}

}  // namespace

TEST_CASE("rom-trace prints the oracle's lines for a probe ROM, actions as a list") {
  check_rom_trace("resm0_noop33.jsonl", {"--rom", probe("resm0.bin"), "--game", "raw", "--frames",
                                         "33", "--actions", "NOOP"});
  check_rom_trace("paddles_mixed40.jsonl",
                  {"--rom", probe("paddles.bin"), "--game", "raw", "--set", "lc=PADDLES",
                   "--frames", "40", "--actions", "RIGHT*10,LEFTFIRE*10,FIRE*5,NOOP*15"});
}

TEST_CASE("rom-trace prints the oracle's lines for Tetris under seeded random play") {
  const std::string rom = std::string(DQN_SOURCE_DIR) + "/../shared/atari/roms/tetris.bin";
  if (!std::filesystem::exists(rom)) {
    MESSAGE("skipped: " << rom << " is absent (the Atari kit lives in ../shared/atari)");
    return;
  }
  check_rom_trace("tetris_random2750_seed7.jsonl", {"--rom", rom, "--game", "tetris", "--random",
                                                    "2750", "--seed", "7", "--reset-on-terminal"});
}

TEST_CASE("rom-trace refuses bad ROMs, actions and settings with exit 2 or 1") {
  Outcome o = cli({"rom-trace"});
  CHECK(o.code == 2);
  CHECK(contains(o.err, "--rom FILE"));
  o = cli({"rom-trace", "--rom", probe("resm0.bin"), "--actions", "JUMP"});
  CHECK(o.code == 2);
  o = cli({"rom-trace", "--rom", probe("resm0.bin"), "--game", "pitfall"});
  CHECK(o.code == 2);
  CHECK(contains(o.err, "--game must be one of raw, alien"));
  o = cli({"rom-trace", "--rom", probe("resm0.bin"), "--set", "type=Z9"});
  CHECK(o.code == 2);
  o = cli({"rom-trace", "--rom", probe("resm0.bin"), "--set", "repeat_action_probability=0x1"});
  CHECK(o.code == 2);
  o = cli({"rom-trace", "--rom", "/dev/zero"});
  CHECK(o.code == 1);
  CHECK(contains(o.err, "not a regular file"));
  o = cli({"rom-trace", "--rom", probe("resm0.bin"), "--actions", "NOOP", "--random", "3"});
  CHECK(o.code == 2);
  // Any bytes are a ROM to load or to refuse: a 3-byte file is refused with a message.
  const std::string tiny = temp_dir("tiny") + ".bin";
  std::ofstream(tiny) << "abc";
  o = cli({"rom-trace", "--rom", tiny, "--frames", "2"});
  CHECK(o.code == 1);
  CHECK_FALSE(o.err.empty());
}

// Issue #17's check: Tetris through dqn (make_env, RomGame, AtariPreprocessing), episodes of the
// uniform random policy, against the ALE oracle's figures for the same action sequence (made by
// make_tetris_eval_golden.sh): the return and length sums must be equal exactly. The golden lists
// every episode of one continuous random stream, so its first `episodes` lines are what a shorter
// eval with the same seed must sum to (0: all of them).
void check_tetris_eval(const std::string& golden_file, const std::vector<std::string>& sets,
                       std::int64_t episodes = 0) {
  const std::string rom = std::string(DQN_SOURCE_DIR) + "/../shared/atari/roms/tetris.bin";
  if (!std::filesystem::exists(rom)) {
    MESSAGE("skipped: " << rom << " is absent (the Atari kit lives in ../shared/atari)");
    return;
  }
  std::istringstream golden(read_text(std::string(DQN_SOURCE_DIR) + "/tests/tools/" + golden_file));
  std::string line, seed;
  std::int64_t summary_episodes = -1, summary_return = -1, summary_length = -1;
  std::vector<std::pair<std::int64_t, std::int64_t>> per_episode;  // (return, length)
  while (std::getline(golden, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    if (line.rfind("seed ", 0) == 0) {
      std::string w;
      words >> w >> seed >> w >> summary_episodes >> w >> summary_return >> w >> summary_length;
      continue;
    }
    std::int64_t index = -1, ret = 0, len = 0;
    words >> index >> ret >> len;
    REQUIRE(index == static_cast<std::int64_t>(per_episode.size()));
    per_episode.emplace_back(ret, len);
  }
  // The per-episode lines and the oracle's summary agree, so a prefix of them is as good.
  REQUIRE(summary_episodes == static_cast<std::int64_t>(per_episode.size()));
  if (episodes == 0) episodes = summary_episodes;
  REQUIRE(episodes <= summary_episodes);
  auto sums_of_first = [&](std::int64_t n) {  // (return sum, length sum) of episodes [0, n)
    std::pair<std::int64_t, std::int64_t> sums{0, 0};
    for (std::int64_t e = 0; e < n; ++e) {
      sums.first += per_episode[static_cast<std::size_t>(e)].first;
      sums.second += per_episode[static_cast<std::size_t>(e)].second;
    }
    return sums;
  };
  REQUIRE(sums_of_first(summary_episodes) == std::make_pair(summary_return, summary_length));
  const auto [return_sum, length_sum] = sums_of_first(episodes);
  std::vector<std::string> args = {"eval",   "random", "--env",      "ale:tetris",
                                   "--rom",  rom,      "--episodes", std::to_string(episodes),
                                   "--seed", seed};
  for (const std::string& kv : sets) args.insert(args.end(), {"--set", kv});
  const Outcome o = cli(args);
  REQUIRE(o.code == 0);
  CHECK(contains(o.out, "ale:tetris: " + std::to_string(episodes) + " episodes"));
  CHECK(contains(o.out, "(return sum " + std::to_string(return_sum) + ", length sum " +
                            std::to_string(length_sum) + ")"));
}

// ASan checks memory; the release run checks parity. The 100 episodes of Tetris take over 10
// minutes under ASan, so that case runs only in release. The atari-v5 case below checks the
// first 4 episodes everywhere and all 20 in release (they took 598 s under ASan on a 2-vCPU VM,
// most of the ASan step). The short prefix is a check of its own: when a game over in the
// middle of a frame skip left out the sticky-action draws of the step's remaining frames,
// episode 3 on drifted from ALE's (541 steps for 631), yet the 20 lengths still summed to the
// oracle's 10,548 by chance; 4 episodes summed to 2,248, not 2,210.
using dqn::test::kUnderAsan;

TEST_CASE("eval random on ale:tetris equals the ALE oracle's 100-episode return and length" *
          doctest::skip(kUnderAsan)) {
  check_tetris_eval("tetris_random_eval.txt", {"noop_max=0", "fire_reset=false"});
}

TEST_CASE("eval random on ale:tetris under atari-v5 (sticky actions) equals the ALE oracle's") {
  check_tetris_eval("tetris_random_eval_v5.txt", {"preset=atari-v5"}, 4);
  if (!kUnderAsan) check_tetris_eval("tetris_random_eval_v5.txt", {"preset=atari-v5"});
}

TEST_CASE("eval random needs an env and refuses a checkpoint's flags mixed in") {
  Outcome o = cli({"eval", "random"});
  CHECK(o.code == 2);
  CHECK(contains(o.err, "--env ale:tetris --rom FILE"));
  o = cli({"eval", "random", "--env", "pong"});
  CHECK(o.code == 2);
  CHECK(contains(o.err, "is now mini:pong"));
  o = cli({"eval", "random", "--env", "mini:catch", "--episodes", "3"});
  CHECK(o.code == 0);
  CHECK(contains(o.out, "mini:catch: 3 episodes"));
}

TEST_CASE("dqn roms lists the supported games, and a folder's ROMs by MD5") {
  Outcome o = cli({"roms"});
  if (std::getenv("DQN_ROMS") == nullptr) {
    CHECK(o.code == 0);
    CHECK(contains(o.out, "the 30 supported games"));
    CHECK(contains(o.out, "ale:ms_pacman  ms_pacman.bin (md5 87e79cd41ce136fd4f72cc6e2c161bee"));
    CHECK(contains(o.out, "ale:catch2600  built in (envs/atari2600/roms/catch2600.bin"));
  }
  const std::string kit = std::string(DQN_SOURCE_DIR) + "/../shared/atari/roms";
  if (!std::filesystem::exists(kit + "/tetris.bin")) {
    MESSAGE("skipped the folder part: " << kit << "/tetris.bin is absent");
    return;
  }
  o = cli({"roms", kit});
  CHECK(o.code == 0);
  CHECK(contains(o.out, "ale:tetris  tetris.bin  b0e1ee07fbc73493eac5651a52f90f00  banks 2K\n"));
  CHECK(contains(o.out, "missing (29 of 30):"));  // our own catch2600 is never missing
  CHECK(!contains(o.out, "ale:catch2600  catch2600.bin"));
  CHECK(contains(o.out, "ale:pong  pong.bin (md5 60e0ea3cbe0913d39803477945e9e5ec, 2048 bytes)"));
  CHECK(contains(o.out, "ale-py"));
}
