// Tests for rl/trainer.hpp: CartPole solved at a fixed seed, bitwise determinism, bit-exact
// resume, and the errors a user can cause.
#include <doctest/doctest.h>

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

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
