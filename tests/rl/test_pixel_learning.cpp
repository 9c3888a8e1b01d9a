// Tests that the pixel path (AtariPreprocessing -> FrameReplay -> a CNN) learns: the catch
// preset trains on Catch (envs/catch.hpp) at a fixed seed with 2 threads and must clearly beat
// random play. Issue 9: "a small pixel task that learns in CI ... under 2 minutes on 2 cores".
// The same for the data-efficient CNN (network = der) on a longer run.
#include <doctest/doctest.h>

#include "core/parallel.hpp"
#include "envs/env.hpp"
#include "rl/trainer.hpp"
#include "tests/under_asan.hpp"

using namespace dqn;

// ASan checks memory and the release run checks learning: under ASan this run would take 3-5x
// its release time (several minutes), and every code path it touches (the CNN, frame replay,
// Catch, preprocessing) is already exercised by the shorter tests of those layers.
using dqn::test::kUnderAsan;

TEST_CASE("the catch preset learns Catch from pixels at seed 1 and clearly beats random play" *
          doctest::skip(kUnderAsan)) {
  // Seeded and deterministic: the same seed and thread count (2, as CI runs) give the same run.
  const ThreadScope threads(2);
  Config c = make_preset("catch");
  c.seed = 1;
  c.threads = 2;
  Trainer trainer(c, "");
  const TrainResult r = trainer.run();

  // Random play on the same unseen episodes the final evaluation uses (epsilon 1: every action
  // is random, so the network is never consulted).
  std::unique_ptr<Env> env = make_env("catch", env_options_for(c));
  Rng rng(7);
  const EvalResult random =
      evaluate(trainer.agent().online(), *env, c.final_eval_episodes, 2'000'000'000ULL, 1.0, rng);
  MESSAGE("catch: random ", random.mean, " +- ", random.std, "; learned ", r.final_eval.mean,
          " +- ", r.final_eval.std, " (best periodic ", r.best_eval, " at step ", r.best_eval_step,
          ") over ", r.final_eval.episodes, " episodes, ", r.updates, " updates in ",
          r.wall_seconds, " s");
  CHECK(r.finished);
  CHECK(r.final_eval.episodes == 10);
  CHECK(random.mean < -3.0);
  // A game is 10 balls, +1 caught, -1 missed. Random play catches about 1 ball in 6 (-6.7 a
  // game over 100 games in test_catch.cpp). A mean of +2 over 10 games means 60 of 100 balls
  // caught (with epsilon 0.05), which a 1-in-6 catcher reaches with probability below 1e-15; the
  // learned policy scores 6.2 at this seed (about 81 of 100), so the bar leaves it 4 points.
  CHECK(r.final_eval.mean >= 2.0);
}

TEST_CASE("a short C51 run on Catch (the dueling Nature CNN on frames) trains with proper targets" *
          doctest::skip(kUnderAsan)) {
  // A smoke test of the pixel path with the categorical head: FrameReplay batches, the CNN's
  // (N, A*51) logits, the per-atom dueling head. That the update itself is right is the CNN
  // parity test's job (tests/rl/test_c51_parity.cpp); here the whole loop must run, and every
  // target it built must be a distribution.
  Config c = make_preset("catch");
  c.distributional = true;
  c.dueling = true;
  c.total_steps = 700;  // learning starts at 500, one update every 2 steps: ~100 updates
  c.eval_interval = 0;
  c.final_eval_episodes = 1;
  Trainer trainer(c, "");
  const TrainResult r = trainer.run();
  CHECK(r.finished);
  CHECK(r.updates >= 90);
  REQUIRE(trainer.agent().spec().atoms == 51);
  const Tensor& m = trainer.agent().target_distribution();
  REQUIRE(m.numel() == c.batch_size * 51);
  for (std::int64_t i = 0; i < c.batch_size; ++i) {
    double sum = 0;
    for (std::int64_t j = 0; j < 51; ++j) sum += m[i * 51 + j];
    CHECK(sum == doctest::Approx(1.0).epsilon(1e-5));
  }
}

TEST_CASE("the data-efficient CNN (network = der) learns Catch from pixels at seed 1" *
          doctest::skip(kUnderAsan)) {
  // The catch preset with van Hasselt et al. 2019's smaller CNN and 10,000 steps instead of
  // 4,000 (at 4,000 it scored 1.0, 0.2, -2.4 at seeds 1-3: the smaller net needs more data
  // here, at an eighth of the update cost). Margin: at seeds 1-5 (one thread) the returned
  // policy scored 7.8, 8.6, 7.6, 9.2 and 9.0 over the 10 unseen games, against about -6.7 for
  // random play (tests/envs/test_catch.cpp); the bar of +4 (70 of 100 balls) leaves 3.6 points.
  Config c = make_preset("catch");
  c.network = "der";
  c.total_steps = 10000;
  c.seed = 1;
  c.threads = 1;
  Trainer trainer(c, "");
  REQUIRE(trainer.agent().spec().kind == NetworkKind::kDataEfficientCnn);
  const TrainResult r = trainer.run();
  MESSAGE("catch, der-cnn: learned ", r.final_eval.mean, " +- ", r.final_eval.std,
          " (best periodic ", r.best_eval, " at step ", r.best_eval_step, ") in ", r.wall_seconds,
          " s");
  CHECK(r.finished);
  CHECK(r.final_eval.episodes == 10);
  CHECK(r.final_eval.mean >= 4.0);
}

TEST_CASE("the der preset runs every Rainbow part at once on pixels (mini:catch, 2,000 steps)" *
          doctest::skip(kUnderAsan)) {
  // A smoke test of the whole combination through the trainer: the frame replay with
  // priorities and 20-step returns, the dueling data-efficient CNN with a C51 head and noisy
  // layers. Learning on pixels is the other tests' job; here every update must run and keep
  // its priorities and targets proper.
  Config c = make_preset("der");
  c.env = "mini:catch";
  c.terminal_on_life_loss = false;
  c.total_steps = 2000;
  c.learning_starts = 500;
  c.eval_interval = 0;
  c.final_eval_episodes = 1;
  Trainer trainer(c, "");
  const NetworkSpec& spec = trainer.agent().spec();
  CHECK(spec.kind == NetworkKind::kDataEfficientCnn);
  CHECK((spec.atoms == 51 && spec.noisy && spec.dueling));
  const TrainResult r = trainer.run();
  CHECK(r.finished);
  CHECK(r.updates == 1501);  // one update per step from step 500 to step 2000, both included
  const Tensor& m = trainer.agent().target_distribution();
  REQUIRE(m.numel() == c.batch_size * 51);
  for (std::int64_t i = 0; i < c.batch_size; ++i) {
    double sum = 0;
    for (std::int64_t j = 0; j < 51; ++j) sum += m[i * 51 + j];
    CHECK(sum == doctest::Approx(1.0).epsilon(1e-5));
  }
}

// Issue #17: the whole path of a real cartridge, from ROM bytes to a learned policy. Our own
// Catch cartridge (envs/atari2600/roms/catch2600.asm, built into the library) runs on our Atari
// 2600 emulator, frame-exact against ALE (test_parity.cpp), and the catch preset (the default
// for ale:catch2600) trains the Nature CNN on its pixels at a fixed seed with 2 threads. Its
// balls fall for about 20 agent steps, not 13, so the preset's 4000 steps are about 20 games
// instead of 30 (this test runs 6000: about 30), and an evaluation game costs 1.6x Catch's:
// periodic evaluations every 2000 steps instead of 1000 keep the run inside the budget (they do
// not change training: the final score is the same either way).
// Runtime (release, 2 threads, 1751 updates at 4000 steps): 49 s alone and 59 s in the full
// ctest run on the 2-core machine while other engineers' builds ran, 121 s while two other
// learning tests shared its 2 cores (Zen 4). At 6000 steps on Zen 5: about 20 s alone.
TEST_CASE("the catch preset learns our own ROM ale:catch2600 from pixels and beats random" *
          doctest::skip(kUnderAsan)) {
  const ThreadScope threads(2);
  Config c = make_preset("catch", "ale:catch2600");
  c.total_steps = 6000;  // the preset's 4000 leave seed 1 short of the bar (see below)
  c.eval_interval = 2000;
  c.seed = 1;
  c.threads = 2;
  Trainer trainer(c, "");
  const TrainResult r = trainer.run();

  std::unique_ptr<Env> env = make_env("ale:catch2600", env_options_for(c));
  Rng rng(7);
  const EvalResult random =
      evaluate(trainer.agent().online(), *env, c.final_eval_episodes, 2'000'000'000ULL, 1.0, rng);
  MESSAGE("ale:catch2600: random ", random.mean, " +- ", random.std, "; learned ",
          r.final_eval.mean, " +- ", r.final_eval.std, " (best periodic ", r.best_eval, " at step ",
          r.best_eval_step, ") over ", r.final_eval.episodes, " episodes, ", r.updates,
          " updates in ", r.wall_seconds, " s");
  CHECK(r.finished);
  CHECK(r.final_eval.episodes == 10);
  CHECK(random.mean < -3.0);
  // A game is 10 balls, +1 caught, -1 missed. Random play scores -5.54 a game, sd 2.68, over
  // 1000 games (dqn eval random --env ale:catch2600 --set noop_max=0): it catches 22% of balls
  // (-7.2 on this test's 10 games). A mean of +2 over 10 games is 60 of 100 balls caught (with
  // epsilon 0.05): 9 standard deviations of a 10-game random mean (2.68 / sqrt(10) = 0.85)
  // above random's -5.54, which a 22% catcher reaches with probability below 1e-15. The learned
  // policy learned at 4000 steps used to score 6.6 at this seed, but that margin was luck:
  // seeds 2 and 3 ended at +4.0 and +1.2, and when the convolution's weight gradient changed
  // its summation order (to give the same bits at any thread count) seeds 1-3 ended at -1.8,
  // +5.8 and +2.6. At 6000 steps, measured again with that code: +5.0, +8.8 and +7.0, so the
  // run trains 6000 steps and seed 1 clears the bar by 3 points, the least of the three.
  // Trap: a change that moves the run's random draws or sums (seed, thread count, preset,
  // kernels' summation order) needs this margin measured again.
  CHECK(r.final_eval.mean >= 2.0);
}
