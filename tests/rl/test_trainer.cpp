// Tests for rl/trainer.hpp: CartPole solved at a fixed seed, bitwise determinism, bit-exact
// resume, and the errors a user can cause.
#include <doctest/doctest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "core/error.hpp"
#include "rl/trainer.hpp"

using namespace dqn;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// ctest may run test cases as parallel processes: folders carry the process id.
std::string temp_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("dqn_test_" + name + "_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

// A shortened cartpole run for the determinism and resume tests.
Config short_config() {
  Config c = make_preset("cartpole");
  c.total_steps = 6000;
  c.learning_starts = 500;
  c.train_freq = 64;
  c.gradient_steps = 16;
  c.target_update_interval = 64;
  c.hidden = {32, 32};
  c.eval_interval = 2000;
  c.eval_episodes = 2;
  c.final_eval_episodes = 2;
  return c;
}

bool same_parameters(QNetwork& a, QNetwork& b) {
  for (std::size_t i = 0; i < a.parameters().size(); ++i) {
    const Tensor& x = a.parameters()[i].variable->value;
    const Tensor& y = b.parameters()[i].variable->value;
    for (std::int64_t k = 0; k < x.numel(); ++k)
      if (x[k] != y[k]) return false;
  }
  return true;
}

}  // namespace

TEST_CASE(
    "the cartpole preset solves CartPole-v1 at seed 1 (mean >= 475 over 100 unseen episodes)") {
  // Seeded and deterministic: the same seed and thread count give the same run every time.
  const Config c = make_preset("cartpole");
  Trainer trainer(c, "");
  const TrainResult r = trainer.run();
  MESSAGE("final evaluation mean ", r.final_eval.mean, " (best periodic ", r.best_eval, " at step ",
          r.best_eval_step, ") in ", r.wall_seconds, " s");
  CHECK(r.finished);
  CHECK(r.env_steps == 50000);
  CHECK(r.final_eval.episodes == 100);
  CHECK(r.final_eval.mean >= 475.0);
}

TEST_CASE("two runs with the same seed write identical metrics and parameters") {
  const Config c = short_config();
  const std::string a = temp_dir("det_a"), b = temp_dir("det_b");
  Trainer ta(c, a), tb(c, b);
  ta.run();
  tb.run();
  CHECK(read_all(a + "/metrics.jsonl") == read_all(b + "/metrics.jsonl"));
  CHECK(read_all(a + "/metrics.jsonl").size() > 100);
  CHECK(same_parameters(ta.agent().online(), tb.agent().online()));
}

TEST_CASE("20k env steps in one go equal 10k, a pause, and a resume to 20k, bit for bit") {
  Config c = short_config();
  c.total_steps = 20000;
  c.eval_interval = 5000;
  const std::string straight = temp_dir("straight"), paused = temp_dir("paused");
  Trainer whole(c, straight);
  whole.run();
  {
    Trainer first_half(c, paused);
    const TrainResult half = first_half.run(10000);
    CHECK_FALSE(half.finished);
    CHECK(half.env_steps == 10000);
  }
  auto resumed = Trainer::resume(paused);
  const TrainResult r = resumed->run();
  CHECK(r.finished);
  CHECK(read_all(straight + "/metrics.jsonl") == read_all(paused + "/metrics.jsonl"));
  CHECK(same_parameters(whole.agent().online(), resumed->agent().online()));
  CHECK(same_parameters(whole.agent().target(), resumed->agent().target()));
}

TEST_CASE("resume refuses a corrupt snapshot with a clear error") {
  const Config c = short_config();
  const std::string dir = temp_dir("corrupt");
  {
    Trainer t(c, dir);
    t.run(1000);
  }
  const std::string path = dir + "/snapshot.bin";
  const std::string bytes = read_all(path);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 2);
  CHECK_THROWS_AS(Trainer::resume(dir), Error);
}

TEST_CASE("a stop request (Ctrl-C) pauses at the next env step with a resumable snapshot") {
  const Config c = short_config();
  const std::string dir = temp_dir("stop");
  std::atomic<bool> stop{true};
  Trainer t(c, dir);
  t.set_stop_flag(&stop);
  const TrainResult r = t.run();
  CHECK_FALSE(r.finished);
  CHECK(std::filesystem::exists(dir + "/snapshot.bin"));
  auto resumed = Trainer::resume(dir);
  CHECK(resumed->run().finished);
}

TEST_CASE("a diverging run stops naming the step and the quantity and keeps its last checkpoint") {
  Config c = short_config();
  c.checkpoint_interval = 400;
  c.learning_starts = 450;
  c.train_freq = 1;
  c.gradient_steps = 1;
  const std::string dir = temp_dir("diverge");
  Trainer t(c, dir);
  t.run(500);
  // A NaN weight, as an exploding run would produce, reaches the Q-values at the next update.
  t.agent().online().parameters()[0].variable->value[0] = std::nanf("");
  try {
    t.run();
    FAIL("expected the divergence guard to stop the run");
  } catch (const Error& e) {
    const std::string what = e.what();
    CHECK(what.find("divergence") != std::string::npos);
    CHECK(what.find("step 501") != std::string::npos);
    CHECK(what.find("not finite") != std::string::npos);
    CHECK(what.find("the last good checkpoint is " + dir + "/checkpoint.dqn (env step 400)") !=
          std::string::npos);
  }
  // The last checkpoint (step 400, written before the NaN) is intact and loads.
  const CheckpointInfo info = read_checkpoint_info(dir + "/checkpoint.dqn");
  CHECK(info.meta.get_or("env_steps", "") == "400");
  Rng rng(0);
  QNetwork net(info.spec, rng);
  load_checkpoint(dir + "/checkpoint.dqn", net, nullptr, nullptr);
  for (const auto& p : net.parameters())
    for (std::int64_t i = 0; i < p.variable->value.numel(); ++i)
      REQUIRE(std::isfinite(p.variable->value[i]));
}

TEST_CASE("max_minutes stops training on the wall clock, then evaluates the returned policy") {
  Config c = short_config();
  c.total_steps = 1'000'000'000;  // would take hours: only the wall-clock budget can stop it
  c.max_minutes = 0.5 / 60;       // half a second
  Trainer trainer(c, "");
  const TrainResult r = trainer.run();
  CHECK(r.finished);
  CHECK(r.env_steps > 0);
  CHECK(r.env_steps < c.total_steps);
  CHECK(r.wall_seconds >= 0.5);
  CHECK(r.wall_seconds < 30);  // stops at the first env step past the budget
  CHECK(r.final_eval.episodes == 2);
}

TEST_CASE("the per-phase seconds of a run are positive where work was done and within its wall") {
  Config c = short_config();
  Trainer trainer(c, "");
  const TrainResult r = trainer.run();
  const PhaseSeconds& p = r.phases;
  CHECK(p.act > 0);
  CHECK(p.env > 0);
  CHECK(p.store > 0);
  CHECK(p.sample > 0);
  CHECK(p.update > 0);
  CHECK(p.eval > 0);
  CHECK(p.checkpoint == 0);  // no run folder: nothing is written
  CHECK(p.total() <= r.wall_seconds);
  CHECK(p.update > p.sample);  // an update costs more than drawing its batch
}

// ---------------------------------------------------------------- runs that lose nothing

namespace {

// What the progress callback throws to stand in for kill -9: the process dies between two
// snapshots, with lines in its logs that no snapshot covers.
struct Killed {};

std::string error_text(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("a run killed between checkpoints and resumed writes the metrics of a straight run") {
  Config c = short_config();
  c.total_steps = 8000;
  c.checkpoint_interval = 2000;
  c.log_interval = 500;
  const std::string straight = temp_dir("kill_straight"), killed = temp_dir("kill_resumed");
  Trainer whole(c, straight);
  whole.run();
  {
    Trainer t(c, killed);
    t.on_progress([](const TrainProgress& p) {
      if (p.step == 5500) throw Killed{};  // 1,500 steps past the last snapshot (step 4000)
    });
    CHECK_THROWS_AS(t.run(), Killed);
  }
  // The dead run's logs run past its snapshot: episodes up to step 5500 are in metrics.jsonl.
  CHECK(read_all(killed + "/metrics.jsonl").size() >
        read_all(straight + "/metrics.jsonl").size() / 2);
  auto resumed = Trainer::resume(killed);
  CHECK(resumed->env_steps() == 4000);
  const TrainResult r = resumed->run();
  CHECK(r.finished);
  CHECK(read_all(killed + "/metrics.jsonl") == read_all(straight + "/metrics.jsonl"));
  // Wall-clock figures differ, but every step's timing line appears once, in order.
  std::istringstream timing(read_all(killed + "/timing.jsonl"));
  std::string line;
  std::int64_t last = 0, lines = 0;
  while (std::getline(timing, line)) {
    if (line.rfind("{\"step\":", 0) != 0) continue;
    const std::int64_t step = std::stoll(line.substr(8));
    CHECK(step > last);
    last = step;
    ++lines;
  }
  CHECK(lines == c.total_steps / c.log_interval);
  CHECK(same_parameters(whole.agent().online(), resumed->agent().online()));
}

TEST_CASE("a stop inside the final evaluation resumes into that evaluation, losing nothing") {
  Config c = short_config();
  c.log_interval = 500;  // a progress line at the last step, right before the final evaluation
  const std::string straight = temp_dir("final_straight"), stopped = temp_dir("final_stopped");
  Trainer whole(c, straight);
  const TrainResult expected = whole.run();
  std::atomic<bool> stop{false};
  {
    Trainer t(c, stopped);
    t.set_stop_flag(&stop);
    t.on_progress([&](const TrainProgress& p) {
      if (p.step == c.total_steps) stop = true;  // the loop is over: only the evaluation is left
    });
    const TrainResult r = t.run();
    CHECK_FALSE(r.finished);
    CHECK(r.env_steps == c.total_steps);
    CHECK_FALSE(std::filesystem::exists(stopped + "/model.dqn"));
    CHECK(std::filesystem::exists(stopped + "/snapshot.bin"));
  }
  auto resumed = Trainer::resume(stopped);
  const TrainResult r = resumed->run();
  CHECK(r.finished);
  CHECK(r.final_eval.mean == expected.final_eval.mean);
  CHECK(read_all(stopped + "/metrics.jsonl") == read_all(straight + "/metrics.jsonl"));
}

TEST_CASE("a stop during a periodic evaluation is honoured, and the evaluation runs again") {
  // The evaluation at step 2000 plays 3,000 episodes (about a second), and a thread raises the
  // stop flag 20 ms after the step before it. Wherever the flag lands, resuming must give the
  // straight run's metrics; where it lands inside the evaluation (almost always), the run stops
  // at step 2000 with that evaluation undone and redone after resume.
  Config c = short_config();
  c.total_steps = 2500;
  c.eval_interval = 2000;
  c.eval_episodes = 3000;
  c.log_interval = 1;
  const std::string straight = temp_dir("eval_straight"), stopped = temp_dir("eval_stopped");
  {
    Trainer whole(c, straight);
    whole.run();
  }
  std::atomic<bool> stop{false};
  std::thread raiser;
  std::int64_t paused_at = 0;
  {
    Trainer t(c, stopped);
    t.set_stop_flag(&stop);
    t.on_progress([&](const TrainProgress& p) {
      if (p.step == 1999)
        raiser = std::thread([&] {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          stop = true;
        });
    });
    const TrainResult r = t.run();
    raiser.join();
    CHECK_FALSE(r.finished);
    paused_at = r.env_steps;
  }
  MESSAGE("the stop landed at env step ", paused_at, " (2000: inside the evaluation)");
  auto resumed = Trainer::resume(stopped);
  CHECK(resumed->run().finished);
  CHECK(read_all(stopped + "/metrics.jsonl") == read_all(straight + "/metrics.jsonl"));
}

TEST_CASE("evaluate stops at once when the stop flag is raised") {
  Config c = short_config();
  auto env = make_env("cartpole");
  Rng rng(3);
  QNetwork net(network_spec_for(c, *env), rng);
  std::atomic<bool> stop{true};
  const EvalResult r = evaluate(net, *env, 1000000, 0, 0.0, rng, &stop);
  CHECK(r.interrupted);
}

TEST_CASE("a finished run has no snapshot, and resume says the run has finished") {
  Config c = short_config();
  c.checkpoint_interval = 2000;
  const std::string dir = temp_dir("finished");
  {
    Trainer t(c, dir);
    CHECK(t.run().finished);
  }
  CHECK(std::filesystem::exists(dir + "/model.dqn"));
  CHECK(std::filesystem::exists(dir + "/checkpoint.dqn"));
  CHECK_FALSE(std::filesystem::exists(dir + "/snapshot.bin"));
  const std::string message = error_text([&] { Trainer::resume(dir); });
  CHECK(message.find("has finished") != std::string::npos);
  CHECK(message.find("--config") != std::string::npos);
  const std::string metrics = read_all(dir + "/metrics.jsonl");
  CHECK(metrics.find("\"type\":\"summary\"") == metrics.rfind("\"type\":\"summary\""));
}

TEST_CASE("a new run refuses a folder holding a run, and overwrite replaces it entirely") {
  Config c = short_config();
  c.total_steps = 1000;
  const std::string dir = temp_dir("twice");
  {
    Trainer first(c, dir);
    first.run(600);  // leaves a snapshot, as an interrupted run does
  }
  const std::string before = read_all(dir + "/metrics.jsonl");
  const std::string message = error_text([&] { Trainer second(c, dir); });
  CHECK(message.find("already holds a run") != std::string::npos);
  CHECK(message.find("dqn resume") != std::string::npos);
  CHECK(read_all(dir + "/metrics.jsonl") == before);  // untouched
  {
    Trainer replaced(c, dir, /*overwrite=*/true);
    CHECK_FALSE(std::filesystem::exists(dir + "/snapshot.bin"));  // the stale one is gone
    replaced.run();
  }
  CHECK_FALSE(std::filesystem::exists(dir + "/snapshot.bin"));
  CHECK(std::filesystem::exists(dir + "/model.dqn"));
}

TEST_CASE("run folders that cannot work are refused before training, saying why") {
  const std::string base = temp_dir("folders");
  std::filesystem::create_directories(base);
  CHECK(error_text([] { prepare_run_folder("", false); }).find("empty") != std::string::npos);
  std::ofstream(base + "/a_file") << "x";
  CHECK(error_text([&] {
          prepare_run_folder(base + "/a_file", false);
        }).find("is a file, not a folder") != std::string::npos);
  CHECK(error_text([&] {
          prepare_run_folder(base + "/" + std::string(300, 'x'), false);
        }).find("file names stop at 255") != std::string::npos);
  // A folder of someone else's files is never deleted, not even with overwrite.
  CHECK(error_text([&] { prepare_run_folder(base, true); }).find("holds other files") !=
        std::string::npos);
  CHECK(std::filesystem::exists(base + "/a_file"));
  // /proc refuses new folders even to root (file permissions would not stop root).
  CHECK(error_text([] {
          prepare_run_folder("/proc/dqn_run", false);
        }).find("cannot create the run folder") != std::string::npos);
}

TEST_CASE("a log write that fails (disk full) stops the run at once, naming the file") {
  Config c = short_config();
  const std::string dir = temp_dir("disk_full");
  Trainer t(c, dir);
  // A file-size limit makes every write past 8 KB fail (EFBIG) as a full disk would (ENOSPC),
  // for this process only; SIGXFSZ, which would kill it, is ignored for the test's duration.
  rlimit saved{};
  REQUIRE(getrlimit(RLIMIT_FSIZE, &saved) == 0);
  rlimit small = saved;
  small.rlim_cur = 8192;
  auto previous = std::signal(SIGXFSZ, SIG_IGN);
  REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
  const std::string message = error_text([&] { t.run(); });
  setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, previous);
  MESSAGE(message);
  CHECK(message.find("cannot write " + dir + "/") != std::string::npos);
  CHECK(message.find(".jsonl") != std::string::npos);
  CHECK(message.find("disk full") != std::string::npos);
  CHECK(message.find("no checkpoint was written") != std::string::npos);
  CHECK(t.env_steps() < c.total_steps);  // stopped at once, not trained to the end
}

TEST_CASE("the replay never outgrows the run, and one beyond available memory is refused") {
  Config c = make_preset("atari", "breakout");
  c.total_steps = 2000;
  Trainer short_atari(c, "");
  CHECK(short_atari.replay_capacity() == 2001);  // not the preset's 1,000,000 (7 GB)
  CHECK(short_atari.replay_memory_bytes() < 20'000'000);

  Config big = short_config();
  big.total_steps = 1'000'000'000;
  big.buffer_size = 1'000'000'000;  // 46 GB of CartPole transitions
  const std::int64_t available = available_memory_bytes();
  REQUIRE(available > 0);
  if (available < 46'000'000'000) {
    const std::string message = error_text([&] { Trainer t(big, ""); });
    CHECK(message.find("buffer_size = 1000000000") != std::string::npos);
    CHECK(message.find("46.00 GB") != std::string::npos);
    CHECK(message.find(format_gb(available).substr(0, 2)) != std::string::npos);
    CHECK(message.find("allow_swap") != std::string::npos);
  } else {
    MESSAGE("this machine has ", available, " bytes available: the refusal is not exercised");
  }
}

TEST_CASE("without periodic evaluations the run returns the last network and says so") {
  Config c = short_config();
  c.eval_interval = 0;
  const std::string dir = temp_dir("no_eval");
  Trainer t(c, dir);
  const TrainResult r = t.run();
  CHECK(r.evaluations == 0);
  CHECK(r.best_eval_step == c.total_steps);
  const CheckpointInfo info = read_checkpoint_info(dir + "/model.dqn");
  CHECK(info.meta.get_or("returned_policy", "") == "the last network (no periodic evaluation ran)");
}

TEST_CASE("phase times cover the whole run across a resume") {
  Config c = short_config();
  const std::string dir = temp_dir("phases");
  PhaseSeconds first;
  {
    Trainer t(c, dir);
    first = t.run(3000).phases;
  }
  auto resumed = Trainer::resume(dir);
  const TrainResult r = resumed->run();
  CHECK(r.phases.update >= first.update);
  CHECK(r.phases.act >= first.act);
  CHECK(r.phases.total() <= r.wall_seconds);
  // Most of a run is in its phases; "other" is bookkeeping (was ~35% after a resume when the
  // phases restarted from zero and the wall clock did not).
  MESSAGE("phases ", r.phases.total(), " s of ", r.wall_seconds, " s");
  CHECK(r.phases.total() > 0.5 * r.wall_seconds);
}

TEST_CASE("env_options_for carries every protocol key of the config to the env") {
  Config c = make_preset("atari-v5");
  c.full_action_space = true;
  c.max_frames_per_episode = 5000;
  c.clip_rewards = false;
  const EnvOptions o = env_options_for(c);
  CHECK(o.repeat_action_probability == 0.25);
  CHECK(o.noop_max == 0);
  CHECK_FALSE(o.fire_reset);
  CHECK_FALSE(o.terminal_on_life_loss);
  CHECK(o.full_action_space);
  CHECK(o.max_episode_frames == 5000);
  CHECK_FALSE(o.clip_rewards);
  const EnvOptions mnih = env_options_for(make_preset("atari"));
  CHECK(mnih.terminal_on_life_loss);
  CHECK(mnih.fire_reset);
  CHECK(mnih.noop_max == 30);
}

TEST_CASE("progress is reported every few seconds even when log_interval is far away") {
  // An Atari run logs every 10,000 steps (minutes apart): the terminal still hears from it.
  Config c = short_config();
  c.total_steps = 1'000'000'000;
  c.log_interval = 1'000'000'000;
  c.eval_interval = 0;
  c.final_eval_episodes = 0;
  c.max_minutes = 5.0 / 60;  // 5 s: two or three progress calls at one every 2 s
  Trainer t(c, "");
  int calls = 0;
  double rate = 0;
  t.on_progress([&](const TrainProgress& p) {
    ++calls;
    rate = p.steps_per_second;
  });
  t.run();
  CHECK(calls >= 2);
  CHECK(rate > 0);
}
