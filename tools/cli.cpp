// tools/cli.cpp: the subcommands of `dqn`: train, resume, eval, play, info, trace, bench.
#include "tools/cli.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <functional>
#include <iostream>
#include <new>
#include <random>
#include <sstream>
#include <thread>

#ifdef DQN_HAVE_MPI
#include "rl/mpi/apex_mpi.hpp"
#endif

#include "build_info.hpp"
#include "envs/atari2600/ale.hpp"
#include "envs/atari2600/error.hpp"
#include "envs/atari2600/roms.hpp"
#include "envs/atari_preprocessing.hpp"
#include "envs/cartpole.hpp"
#include "envs/trace.hpp"
#include "nn/checkpoint.hpp"
#include "rl/apex.hpp"
#include "rl/trainer.hpp"
#include "tools/args.hpp"
#include "tools/gif.hpp"
#include "tools/plot.hpp"
#include "tools/quick_bench.hpp"

namespace dqn::tools {
namespace {

constexpr const char* kSubcommands =
    "train, resume, eval, play, info, trace, rom-trace, roms, bench (and, through tools/dqn, test "
    "and "
    "build)";

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) {
  g_stop = true;
}

// How to call this program in a printed command: tools/dqn passes the path it was started by
// (DQN_COMMAND), so the hint works from the caller's directory; else the binary's own name.
std::string self_command(const char* argv0) {
  const char* launcher = std::getenv("DQN_COMMAND");
  return shell_quote(launcher && *launcher ? launcher : argv0);
}

std::vector<std::int64_t> parse_int_list(const std::string& text, const std::string& what) {
  std::vector<std::int64_t> values;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    const std::optional<std::int64_t> v = parse_whole(item);
    if (!v) throw UsageError(what + ": expected comma-separated whole numbers, got '" + text + "'");
    values.push_back(*v);
  }
  return values;
}

// ---------------------------------------------------------------- train / resume

const std::vector<FlagSpec> kTrainFlags = {
    {"env", true,
     "cartpole (default); mini:breakout|pong|catch (built in); ale:GAME (dqn roms; "
     "ale:catch2600 is our own cartridge, built in)"},
    {"rom", true, "the ROM file of an ale: env (the config's rom)"},
    {"roms", true, "a ROM folder searched by MD5 (the config's roms; default $DQN_ROMS)"},
    {"preset", true,
     "cartpole (default), seed, atari, atari-v5, catch (the default for mini:catch and "
     "ale:catch2600), rainbow or der"},
    {"config", true, "a config file of 'key = value' lines (a run's config.txt)"},
    {"set", true, "key=value, overrides the preset and the file; repeatable"},
    {"seed", true, "the run's seed (default 1)"},
    {"threads", true, "threads for the kernels (default 1)"},
    {"steps", true, "total env steps (the config's total_steps)"},
    {"out", true, "the run folder (default runs/<env>__<preset>__<seed>__<unix time>)"},
    {"overwrite", false, "let --out replace a run that is already there (its files are deleted)"},
    {"distributed", false,
     "Ape-X under mpirun: rank 0 learns, the others act (mpirun -np 3 dqn train --distributed)"},
    {"help", false, "this text, and every config key"},
};

// --set key=value pairs as config settings (train takes every key; eval and play the env's:
// repeat_action_probability, noop_max, fire_reset, full_action_space, max_frames_per_episode).
std::vector<ConfigSetting> set_flags(const Args& args) {
  std::vector<ConfigSetting> settings;
  for (const std::string& kv : args.all("set")) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos) throw UsageError("--set needs key=value, got '" + kv + "'");
    settings.push_back({kv.substr(0, eq), kv.substr(eq + 1), "--set " + kv});
  }
  return settings;
}

// A flag's value; --rom and --roms made absolute, so that the run's config.txt and checkpoint
// still find the ROM from another directory (eval, play, resume).
std::string flag_value(const Args& args, const std::string& flag) {
  const std::string v = args.get(flag);
  if ((flag == "rom" || flag == "roms") && !v.empty())
    return std::filesystem::absolute(v).lexically_normal().string();
  return v;
}

// Issue #17: a new command line must not take the built-in games for ALE's (config files and
// checkpoints of earlier runs still load them under their old names, rl/config.cpp).
void refuse_bare_game_names(const std::vector<ConfigSetting>& settings, const char* command) {
  for (const ConfigSetting& s : settings) {
    if (s.key != "env" || s.where.rfind("--", 0) != 0) continue;
    if (s.value == "breakout" || s.value == "pong" || s.value == "catch") {
      std::string text = command;
      text.append(": ").append(s.where).append(": '").append(s.value).append("' is now mini:");
      text.append(s.value).append(", the project's built-in game, not ALE's");
      if (s.value != "catch")
        text.append("; ALE's is ale:")
            .append(s.value)
            .append(" (it needs your ROM: --rom FILE or --roms DIR)");
      throw UsageError(text);
    }
  }
}

// The run's Config: the preset (--preset, or a `preset` line in --config or --set, else the
// one --env implies) first, then the config file, then --set, then the shorthand flags.
Config config_from_args(const Args& args) {
  if (args.has("preset") && args.get("preset").empty())
    throw UsageError("dqn train: --preset is empty; valid presets: " + preset_list());
  std::vector<ConfigSetting> settings;
  try {
    if (args.has("config")) settings = read_config_file(args.get("config"));
    const std::vector<ConfigSetting> sets = set_flags(args);
    settings.insert(settings.end(), sets.begin(), sets.end());
    for (const auto& [flag, key] : {std::pair<const char*, const char*>{"seed", "seed"},
                                    {"threads", "threads"},
                                    {"steps", "total_steps"},
                                    {"env", "env"},
                                    {"rom", "rom"},
                                    {"roms", "roms"}})
      if (args.has(flag))
        settings.push_back({key, flag_value(args, flag), std::string("--") + flag});
    refuse_bare_game_names(settings, "dqn train");
    Config c = resolve_config(args.get("preset"), settings);
    c.validate();
    return c;
  } catch (const UsageError&) {
    throw;
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
}

// "time: update 81.0%  act 6.1%  ..." : where the run's wall time went (the README's profile).
std::string phase_summary(const PhaseSeconds& p, double wall) {
  if (wall <= 0) return "";
  const std::pair<const char*, double> parts[] = {{"update", p.update},
                                                  {"act", p.act},
                                                  {"env", p.env},
                                                  {"sample", p.sample},
                                                  {"store", p.store},
                                                  {"eval", p.eval},
                                                  {"checkpoint", p.checkpoint},
                                                  {"other", wall - p.total()}};
  std::string text = "time:";
  for (const auto& [name, seconds] : parts) {
    char item[48];
    std::snprintf(item, sizeof item, "  %s %.1f%%", name, 100 * seconds / wall);
    text += item;
  }
  return text + "\n";
}

// The terminal's width in columns (80 when it cannot be asked).
int terminal_columns() {
  winsize w{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 0) return w.ws_col;
  return 80;
}

// "1.2M", "45.0k", "950": a step count in at most 5 characters.
std::string short_count(double n) {
  char text[16];
  if (n >= 1e6)
    std::snprintf(text, sizeof text, "%.*fM", n >= 1e7 ? 0 : 1, n / 1e6);
  else if (n >= 1e4)
    std::snprintf(text, sizeof text, "%.0fk", n / 1e3);
  else
    std::snprintf(text, sizeof text, "%.0f", n);
  return text;
}

std::string short_duration(double seconds) {
  char text[24];
  const long long s = static_cast<long long>(seconds + 0.5);
  if (s >= 3600)
    std::snprintf(text, sizeof text, "%lldh%02lldm", s / 3600, s / 60 % 60);
  else if (s >= 60)
    std::snprintf(text, sizeof text, "%lldm%02llds", s / 60, s % 60);
  else
    std::snprintf(text, sizeof text, "%llds", s);
  return text;
}

}  // namespace

// One progress line, at most `columns - 1` characters when columns > 0 (a terminal: the line
// is redrawn in place, and one that wrapped could not be): fields are dropped from the least
// important end until it fits. columns = 0 (a log file) keeps every field.
std::string progress_line(const TrainProgress& p, int columns) {
  char buf[64];
  std::vector<std::string> fields;
  std::snprintf(buf, sizeof buf, "step %s/%s (%.0f%%)",
                short_count(static_cast<double>(p.step)).c_str(),
                short_count(static_cast<double>(p.total_steps)).c_str(),
                100.0 * static_cast<double>(p.step) /
                    static_cast<double>(std::max<std::int64_t>(p.total_steps, 1)));
  fields.emplace_back(buf);
  std::snprintf(buf, sizeof buf, "return %.1f", p.recent_return);
  fields.emplace_back(buf);
  if (p.last_eval >= 0)
    std::snprintf(buf, sizeof buf, "eval %.1f", p.last_eval);
  else
    std::snprintf(buf, sizeof buf, "eval -");
  fields.emplace_back(buf);
  std::snprintf(buf, sizeof buf, "%.0f steps/s", p.steps_per_second);
  fields.emplace_back(buf);
  fields.push_back("ETA " + short_duration(p.eta_seconds));
  std::snprintf(buf, sizeof buf, "episodes %lld", static_cast<long long>(p.episodes));
  fields.emplace_back(buf);
  std::snprintf(buf, sizeof buf, "eps %.3f", p.epsilon);
  fields.emplace_back(buf);
  std::snprintf(buf, sizeof buf, "loss %.4f", p.loss);
  fields.emplace_back(buf);
  std::string line;
  for (const std::string& f : fields) {
    const std::string next = line.empty() ? f : line + " | " + f;
    if (columns > 0 && static_cast<int>(next.size()) > columns - 1) break;
    line = next;
  }
  return line;
}

namespace {

int run_training(Trainer& trainer, const std::string& out_dir, const std::string& self,
                 std::ostream& out) {
  const Config& c = trainer.config();
  const bool live = isatty(STDOUT_FILENO) && &out == &std::cout;
  const std::string plot_title =
      c.env + " (" + c.preset + " preset, seed " + std::to_string(c.seed) + ")";
  // The learning curve is redrawn during training, at most every kPlotSeconds, so a long run
  // can be watched in a browser.
  constexpr double kPlotSeconds = 10;
  auto last_plot = std::chrono::steady_clock::now();
  trainer.on_progress([&](const TrainProgress& p) {
    const auto now = std::chrono::steady_clock::now();
    if (std::chrono::duration<double>(now - last_plot).count() > kPlotSeconds) {
      write_learning_curve(out_dir + "/metrics.jsonl", out_dir + "/learning_curve.svg", plot_title);
      last_plot = now;
    }
    const std::string line = progress_line(p, live ? terminal_columns() : 0);
    if (live)
      out << "\r" << line << "\033[K" << std::flush;  // \033[K: clear what a longer line left
    else
      out << line << std::endl;  // flushed: a log file or a pipe sees progress as it happens
  });
  // Ctrl-C and SIGTERM (a scheduler's or `kill`'s polite stop) both end in a snapshot.
  g_stop = false;
  trainer.set_stop_flag(&g_stop);
  auto previous_int = std::signal(SIGINT, on_stop_signal);
  auto previous_term = std::signal(SIGTERM, on_stop_signal);
  TrainResult r;
  try {
    r = trainer.run();
  } catch (...) {
    std::signal(SIGINT, previous_int);
    std::signal(SIGTERM, previous_term);
    throw;
  }
  std::signal(SIGINT, previous_int);
  std::signal(SIGTERM, previous_term);
  if (live) out << "\n";
  if (!r.finished) {
    out << "stopped at env step " << r.env_steps << "; the run is saved. Continue it with:\n"
        << "  " << self << " resume " << shell_quote(out_dir) << "\n";
    return 0;
  }
  write_learning_curve(out_dir + "/metrics.jsonl", out_dir + "/learning_curve.svg", plot_title);
  char summary[512];
  std::snprintf(summary, sizeof summary,
                "done: %lld env steps, %lld episodes, %lld updates in %.1f s\n",
                static_cast<long long>(r.env_steps), static_cast<long long>(r.episodes),
                static_cast<long long>(r.updates), r.wall_seconds);
  out << summary;
  if (r.evaluations > 0)
    std::snprintf(summary, sizeof summary,
                  "returned policy: the best periodic evaluation, %.1f (at step %lld)", r.best_eval,
                  static_cast<long long>(r.best_eval_step));
  else
    std::snprintf(summary, sizeof summary,
                  "returned policy: the last network (no periodic evaluation ran, eval_interval "
                  "= %lld)",
                  static_cast<long long>(c.eval_interval));
  out << summary;
  std::snprintf(summary, sizeof summary, "; it scores %.1f +- %.1f over %lld unseen episodes\n",
                r.final_eval.mean, r.final_eval.std, static_cast<long long>(r.final_eval.episodes));
  out << summary << phase_summary(r.phases, r.wall_seconds) << "model: " << out_dir
      << "/model.dqn\n"
      << "curve: " << out_dir << "/learning_curve.svg\n"
      << "metrics: " << out_dir << "/metrics.jsonl\n"
      << "evaluate it: " << self << " eval " << shell_quote(out_dir + "/model.dqn") << "\n";
  return 0;
}

// `dqn train --distributed` and `dqn resume` of such a job, one process of an mpirun job: rank 0
// the learner (made by make_learner), the others actors (rl/apex.hpp), which take the job's
// config from the learner. A rank that fails says which it is and where, then ends the whole
// job (MPI_Abort); checkpoint.dqn and snapshot.bin are written atomically, so the last ones are
// intact. Ctrl-C (mpirun passes it to every rank) saves a snapshot for dqn resume.
int run_distributed(const std::function<std::unique_ptr<ApexLearner>(std::int64_t)>& make_learner,
                    const std::string& out_dir, const std::string& self, std::ostream& out) {
#ifndef DQN_HAVE_MPI
  (void)make_learner, (void)out_dir, (void)self, (void)out;
  throw UsageError(
      "dqn train --distributed: this build has no MPI. Install Debian's OpenMPI and rebuild "
      "(./tools/dqn build --mpi does both), then start the job with mpirun, e.g.\n"
      "  mpirun -np 3 build/release/tools/dqn train --distributed --out runs/apex");
#else
  if (!launched_by_mpirun())
    throw UsageError(
        "dqn train --distributed (and dqn resume of a distributed job): start it with mpirun, "
        "one learner and at least one actor, e.g.\n"
        "  mpirun -np 3 build/release/tools/dqn train --distributed --out runs/apex");
  MpiTransport t(nullptr, nullptr);
  const std::string where = "rank " + std::to_string(t.rank()) + " on " + t.host();
  if (t.size() < 2) {
    std::cerr << "dqn: a distributed job needs a learner and at least one actor; it has 1 "
                 "process: mpirun -np 3 ...\n";
    t.abort(2);
  }
  g_stop = false;
  auto previous_int = std::signal(SIGINT, on_stop_signal);
  auto previous_term = std::signal(SIGTERM, on_stop_signal);
  try {
    if (t.rank() == 0) {
      const std::unique_ptr<ApexLearner> learner = make_learner(t.size() - 1);
      const Config& c = learner->config();
      out << "dqn train --distributed: " << c.env << ", preset " << c.preset << ", seed " << c.seed
          << "; 1 learner and " << t.size() - 1 << " actors x " << c.envs_per_actor
          << " envs; replay " << learner->streams() << " x " << learner->stream_capacity()
          << " transitions; from env step " << learner->env_steps() << " to " << c.total_steps
          << " -> " << out_dir << std::endl;
      const EvalResult r = run_learner(t, *learner, &g_stop);
      if (r.interrupted) {
        out << "stopped at env step " << learner->env_steps() << " (" << learner->updates()
            << " updates); the job is saved. Continue it with:\n  mpirun -np " << t.size() << " "
            << self << " resume " << shell_quote(out_dir) << "\n";
      } else {
        char line[256];
        std::snprintf(line, sizeof line,
                      "done: %lld env steps, %lld updates in %.1f s; the returned policy scores "
                      "%.1f +- %.1f over %lld unseen episodes\n",
                      static_cast<long long>(learner->env_steps()),
                      static_cast<long long>(learner->updates()), learner->seconds(), r.mean, r.std,
                      static_cast<long long>(r.episodes));
        out << line << "model: " << out_dir << "/model.dqn\nmetrics: " << out_dir
            << "/metrics.jsonl\n";
      }
    } else {
      run_actor(t, &g_stop);
    }
  } catch (const std::exception& e) {
    std::cerr << "dqn: distributed job: " << (t.rank() == 0 ? "the learner" : "an actor") << " ("
              << where << ") failed: " << e.what() << "\nthe job ends"
              << (out_dir.empty() ? ""
                                  : "; the learner's last checkpoint (if one was written) is " +
                                        out_dir + "/checkpoint.dqn")
              << std::endl;
    t.abort(1);
  }
  std::signal(SIGINT, previous_int);
  std::signal(SIGTERM, previous_term);
  return 0;
#endif
}

// runs/<env>__<preset>__<seed>__<unix time>, as CleanRL names its runs; a run started in the
// same second gets a suffix, so two runs never share a folder.
std::string default_run_folder(const Config& c) {
  const long long now = static_cast<long long>(std::time(nullptr));
  std::string env = c.env;  // "ale:pong" -> "ale-pong": no ':' in file names
  std::replace(env.begin(), env.end(), ':', '-');
  const std::string base =
      "runs/" + env + "__" + c.preset + "__" + std::to_string(c.seed) + "__" + std::to_string(now);
  std::string dir = base;
  for (int i = 2; std::filesystem::exists(dir); ++i) dir = base + "_" + std::to_string(i);
  return dir;
}

int cmd_train(int argc, char** argv, std::ostream& out) {
  const Args args(argc, argv, 2, kTrainFlags, "train");
  if (args.has("help")) {
    out << usage_text("train", "[options]", kTrainFlags) << "\n" << config_help_table();
    return 0;
  }
  if (!args.positional().empty())
    throw UsageError("dqn train: unexpected argument '" + args.positional()[0] + "'");
  Config c = config_from_args(args);
  if (args.has("distributed")) c.distributed = true;
  if (args.has("out") && args.get("out").empty())
    throw UsageError(
        "dqn train: --out is empty, so the run would write nothing (the policy would be lost); "
        "give a folder, or leave --out out for runs/<env>__<preset>__<seed>__<time>");
  const std::string out_dir = args.has("out") ? args.get("out") : default_run_folder(c);
  if (!c.distributed)  // a distributed job's rank 0 says it, once
    out << "dqn train: " << c.env << ", preset " << c.preset << ", seed " << c.seed << ", "
        << c.threads << " thread(s), " << c.total_steps << " env steps -> " << out_dir << "\n";
  // How the run was started, for config.txt: the command line as typed (quoted so that it can
  // be pasted back), and the commit and build type of this program.
  std::string command_line = "dqn";
  for (int i = 1; i < argc; ++i) {
    command_line += ' ';  // not " " + ...: GCC 12 -O3 flags that with a false -Wrestrict
    command_line += shell_quote(argv[i]);
  }
  const std::vector<std::string> provenance = {"command: " + command_line,
                                               std::string("git commit: ") + DQN_GIT_COMMIT,
                                               std::string("build: ") + DQN_BUILD_TYPE};
  if (c.distributed) {
    const bool overwrite = args.has("overwrite");
    return run_distributed(
        [&](std::int64_t actors) {
          return std::make_unique<ApexLearner>(c, actors, out_dir, overwrite, provenance);
        },
        out_dir, self_command(argv[0]), out);
  }
  // The folder and the memory are settled here, before any step is trained.
  Trainer trainer(c, out_dir, args.has("overwrite"), provenance);
  const std::int64_t replay_bytes = trainer.replay_memory_bytes();
  const std::int64_t available = available_memory_bytes();
  out << "replay: " << trainer.replay_capacity() << " transitions"
      << (trainer.replay_capacity() < c.buffer_size ? " (buffer_size, capped at the run's steps)"
                                                    : "")
      << ", " << format_gb(replay_bytes) << " of "
      << (available >= 0 ? format_gb(available) : std::string("unknown")) << " available\n";
  return run_training(trainer, out_dir, self_command(argv[0]), out);
}

int cmd_resume(int argc, char** argv, std::ostream& out) {
  const std::vector<FlagSpec> flags = {{"help", false, "this text"}};
  const Args args(argc, argv, 2, flags, "resume");
  if (args.has("help") || args.positional().size() != 1) {
    if (!args.has("help"))
      throw UsageError("dqn resume: expected one run folder\n" +
                       usage_text("resume", "DIR", flags));
    out << usage_text("resume", "DIR", flags);
    return 0;
  }
  const std::string dir = args.positional()[0];
  // A distributed job's folder: resumed as a job, under mpirun (its config says so).
  if (std::filesystem::exists(dir + "/config.txt") &&
      load_config_file(dir + "/config.txt").distributed)
    return run_distributed([&](std::int64_t actors) { return ApexLearner::resume(dir, actors); },
                           dir, self_command(argv[0]), out);
  auto trainer = Trainer::resume(dir);
  out << "dqn resume: continuing " << dir << " at env step " << trainer->env_steps() << "\n";
  return run_training(*trainer, dir, self_command(argv[0]), out);
}

// ---------------------------------------------------------------- eval / info / play

// A checkpoint with the run configuration it was trained under: `eval` and `play` score a
// policy the way its training scored it (env protocol, frame cap, evaluation epsilon) unless
// flags say otherwise.
struct LoadedModel {
  CheckpointInfo info;
  std::unique_ptr<QNetwork> net;
  std::string env;
  Config config;
  bool config_from_checkpoint = false;
};

std::string join_dims(const std::vector<std::int64_t>& dims) {
  std::string text;
  for (std::size_t i = 0; i < dims.size(); ++i) text += (i ? "," : "") + std::to_string(dims[i]);
  return "(" + text + ")";
}

// A checkpoint file, or a run folder (its model.dqn), with the env it was trained on. The
// network must fit that env: a 4-action network playing 6-action Pong, or an MLP fed pixels,
// would run without complaint and mean nothing.
LoadedModel load_model(const std::string& given, const std::vector<ConfigSetting>& overrides) {
  std::string path = given;
  if (std::filesystem::is_directory(given)) {
    path = (std::filesystem::path(given) / "model.dqn").string();
    if (!std::filesystem::exists(path))
      throw Error("'" + given + "' is a folder without model.dqn; give a checkpoint file or a " +
                  "finished run's folder");
  }
  LoadedModel m;
  m.info = read_checkpoint_info(path);
  const std::string stored = m.info.meta.get_or("config", "");
  std::vector<ConfigSetting> settings;
  if (!stored.empty()) {
    settings = parse_config_text(stored, path + " (its stored config)");
    m.config_from_checkpoint = true;
  } else {
    // A checkpoint without its config (written by hand through the library): its env, with
    // that env's default preset.
    std::string env = m.info.meta.get_or("env", "");
    if (env.empty()) env = m.info.spec.kind == NetworkKind::kMlp ? "cartpole" : "breakout";
    settings.push_back({"env", env, path});
  }
  settings.insert(settings.end(), overrides.begin(), overrides.end());
  try {
    m.config = resolve_config("", settings);
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  m.env = m.config.env;
  const auto probe = make_env(m.env, env_options_for(m.config));
  const Shape shape = probe->observation_shape();
  const std::vector<std::int64_t> obs(shape.dims.begin(), shape.dims.begin() + shape.rank);
  const bool pixels = probe->observation_is_u8();
  if (obs != m.info.spec.observation_shape || probe->num_actions() != m.info.spec.num_actions ||
      pixels != m.info.spec.pixels())
    throw Error(
        "'" + path + "' holds " + (m.info.spec.kind == NetworkKind::kMlp ? "an MLP" : "a CNN") +
        " for observations " + join_dims(m.info.spec.observation_shape) + " and " +
        std::to_string(m.info.spec.num_actions) + " actions, but its env '" + m.env +
        "' gives observations " + join_dims(obs) + " and " + std::to_string(probe->num_actions()) +
        " actions; the checkpoint's env entry is wrong, the file was altered, or a --set "
        "(full_action_space?) changed the env");
  Rng rng(0);
  m.net = std::make_unique<QNetwork>(m.info.spec, rng);
  load_checkpoint(path, *m.net, nullptr, nullptr);
  return m;
}

// The evaluation epsilon: --epsilon, else the run's eval_epsilon.
double epsilon_flag(const Args& args, const Config& config, const char* command) {
  if (!args.has("epsilon")) return config.eval_epsilon;
  Config probe;
  try {
    probe.set("eval_epsilon", args.get("epsilon"));
  } catch (const Error& e) {
    throw UsageError(std::string("dqn ") + command + ": --epsilon: " + e.what());
  }
  return probe.eval_epsilon;
}

// One line of what the policy is scored under, so a number can be put next to a paper's.
std::string protocol_text(const LoadedModel& m, double epsilon) {
  const Config& c = m.config;
  std::ostringstream text;
  text << m.env;
  if (m.env != "cartpole")
    text << " (preset " << c.preset << ": repeat_action_probability " << c.repeat_action_probability
         << ", noop_max " << c.noop_max << ", fire_reset " << (c.fire_reset ? "true" : "false")
         << ", full_action_space " << (c.full_action_space ? "true" : "false")
         << ", max_frames_per_episode " << c.max_frames_per_episode << ")";
  text << ", epsilon " << epsilon
       << (m.config_from_checkpoint ? ", as the checkpoint's run was configured"
                                    : ", the env's defaults (the checkpoint stores no config)");
  return text.str();
}

const FlagSpec kSetEnvFlag = {
    "set", true,
    "key=value: override an env key of the checkpoint's run (repeat_action_probability, "
    "noop_max, fire_reset, full_action_space, max_frames_per_episode, rom, roms); repeatable"};

// `dqn eval random --env ENV`: the uniform random policy, its actions drawn as ale-oracle's
// --random draws them (std::mt19937(seed), set[g() % size] over the env's action set) and its
// episodes played back to back in one session (one ROM load, then reset_game after each game
// over, as ale-oracle --reset-on-terminal), so a ROM game's figures can be put beside the
// oracle's on the same action sequence (README: Tetris).
int eval_random(const Args& args, std::int64_t episodes, std::int64_t seed, std::ostream& out) {
  if (!args.has("env"))
    throw UsageError("dqn eval random: give the env to play, e.g. --env ale:tetris --rom FILE");
  if (args.has("epsilon")) throw UsageError("dqn eval random: --epsilon needs a network");
  std::vector<ConfigSetting> settings = set_flags(args);
  for (const char* flag : {"env", "rom", "roms"})
    if (args.has(flag))
      settings.push_back({flag, flag_value(args, flag), std::string("--") + flag});
  refuse_bare_game_names(settings, "dqn eval random");
  Config c;
  try {
    c = resolve_config("", settings);
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  auto env = make_env(c.env, env_options_for(c));
  out << "evaluating the uniform random policy on " << c.env << ", seed " << seed
      << " (actions std::mt19937(seed) as ale-oracle --random; episodes back to back)\n";
  std::mt19937 g(static_cast<std::uint32_t>(seed));
  env->reset(static_cast<std::uint64_t>(seed));
  double sum = 0, sum_sq = 0, lo = 1e300, hi = -1e300;
  std::int64_t total_length = 0;
  for (std::int64_t e = 0; e < episodes; ++e) {
    if (e > 0) env->reset();  // reset_game only, as after a game over in ALE's own loop
    double score = 0;
    while (true) {
      const StepResult r = env->step(static_cast<std::int64_t>(g() % env->num_actions()));
      score += r.raw_reward;
      ++total_length;
      if (r.terminated || r.truncated) break;
    }
    sum += score, sum_sq += score * score, lo = std::min(lo, score), hi = std::max(hi, score);
  }
  const double n = static_cast<double>(episodes), mean = sum / n;
  char line[320];
  std::snprintf(line, sizeof line,
                "%s: %lld episodes, return mean %.2f  std %.2f  min %.0f  max %.0f  "
                "length mean %.2f steps (return sum %.0f, length sum %lld)\n",
                c.env.c_str(), static_cast<long long>(episodes), mean,
                std::sqrt(std::max(0.0, sum_sq / n - mean * mean)), lo, hi,
                static_cast<double>(total_length) / n, sum, static_cast<long long>(total_length));
  out << line;
  return 0;
}

int cmd_eval(int argc, char** argv, std::ostream& out) {
  const std::vector<FlagSpec> flags = {
      {"episodes", true, "episodes to play (default 100)"},
      {"seed", true, "first env seed (default 3000000000: seeds no training run uses)"},
      {"epsilon", true, "exploration while evaluating (default: the run's eval_epsilon)"},
      kSetEnvFlag,
      {"env", true, "with 'random' instead of a checkpoint: the env the random policy plays"},
      {"rom", true, "with 'random': the ROM file of an ale: env"},
      {"roms", true, "with 'random': a ROM folder searched by MD5 (default $DQN_ROMS)"},
      {"help", false, "this text"}};
  const Args args(argc, argv, 2, flags, "eval");
  if (args.has("help")) {
    out << usage_text("eval", "CHECKPOINT|RUN_FOLDER|random [options]", flags);
    return 0;
  }
  if (args.positional().size() != 1)
    throw UsageError("dqn eval: expected one checkpoint file or run folder\n" +
                     usage_text("eval", "CHECKPOINT|RUN_FOLDER [options]", flags));
  const std::int64_t episodes = args.get_int("episodes", 100, 1, 1000000);
  const std::int64_t seed = args.get_int("seed", 3000000000LL, 0, INT64_MAX);
  if (args.positional()[0] == "random") return eval_random(args, episodes, seed, out);
  for (const char* flag : {"env", "rom", "roms"})
    if (args.has(flag))
      throw UsageError(std::string("dqn eval: --") + flag +
                       " goes with 'random'; a checkpoint plays its own env (--set rom=FILE "
                       "moves its ROM)");
  LoadedModel m = load_model(args.positional()[0], set_flags(args));
  const double epsilon = epsilon_flag(args, m.config, "eval");
  out << "evaluating on " << protocol_text(m, epsilon) << "\n";
  auto env = make_env(m.env, env_options_for(m.config));
  Rng rng(static_cast<std::uint64_t>(seed), 7);
  // A long evaluation (100 Atari games take minutes) reports progress at most once a second.
  const bool live = isatty(STDOUT_FILENO) && &out == &std::cout;
  const auto start = std::chrono::steady_clock::now();
  auto last = start;
  auto progress = [&](std::int64_t done, double mean) {
    const auto now = std::chrono::steady_clock::now();
    if (std::chrono::duration<double>(now - last).count() < 1.0 || done == episodes) return;
    last = now;
    char line[128];
    std::snprintf(line, sizeof line, "  %lld/%lld episodes, mean so far %.2f, %.0f s",
                  static_cast<long long>(done), static_cast<long long>(episodes), mean,
                  std::chrono::duration<double>(now - start).count());
    out << (live ? "\r" : "") << line << (live ? "" : "\n") << std::flush;
  };
  g_stop = false;
  auto previous_int = std::signal(SIGINT, on_stop_signal);
  const EvalResult r = evaluate(*m.net, *env, episodes, static_cast<std::uint64_t>(seed), epsilon,
                                rng, &g_stop, progress);
  std::signal(SIGINT, previous_int);
  if (live && last != start) out << "\n";
  if (r.interrupted) throw Error("eval: interrupted (Ctrl-C) before the evaluation finished");
  char line[256];
  std::snprintf(line, sizeof line,
                "%s: %lld episodes, return mean %.2f  std %.2f  min %.0f  max %.0f  "
                "length mean %.1f steps\n",
                m.env.c_str(), static_cast<long long>(r.episodes), r.mean, r.std, r.min, r.max,
                r.mean_length);
  out << line;
  return 0;
}

int cmd_info(int argc, char** argv, std::ostream& out) {
  const std::vector<FlagSpec> flags = {{"help", false, "this text"}};
  const Args args(argc, argv, 2, flags, "info");
  if (args.has("help")) {
    out << usage_text("info", "CHECKPOINT", flags);
    return 0;
  }
  if (args.positional().size() != 1) throw UsageError("dqn info: expected one checkpoint file");
  LoadedModel m = load_model(args.positional()[0], {});
  out << "network: " << m.net->describe() << "\n"
      << "parameters: " << m.net->parameter_count() << "\n";
  for (const auto& p : m.net->parameters())
    out << "  " << p.name << " " << p.variable->value.shape().str() << "\n";
  for (const auto& [key, value] : m.info.meta.entries) {
    if (key == "config") continue;
    out << key << ": " << value << "\n";
  }
  const std::string config = m.info.meta.get_or("config", "");
  if (!config.empty()) out << "config:\n" << config;
  return 0;
}

int cmd_play(int argc, char** argv, std::ostream& out) {
  const std::vector<FlagSpec> flags = {
      {"gif", true, "write the episode as an animated GIF to this file"},
      {"view", true,
       "what the GIF shows: screen (the game as drawn, default) or agent (84x84 input)"},
      {"seed", true, "env seed (default 0)"},
      {"epsilon", true, "random-action probability (default: the run's eval_epsilon)"},
      kSetEnvFlag,
      {"max-steps", true, "stop after this many agent steps (default 5000)"},
      {"delay-ms", true, "milliseconds between frames in the terminal (default 20)"},
      {"help", false, "this text"}};
  const std::string synopsis = "CHECKPOINT [options]";
  const Args args(argc, argv, 2, flags, "play");
  if (args.has("help")) {
    out << usage_text("play", synopsis, flags);
    return 0;
  }
  if (args.positional().size() != 1)
    throw UsageError("dqn play: expected one checkpoint file\n" +
                     usage_text("play", synopsis, flags));
  const std::int64_t seed = args.get_int("seed", 0, 0, INT64_MAX);
  const std::int64_t delay = args.get_int("delay-ms", 20, 0, 10000);
  const std::int64_t max_steps = args.get_int("max-steps", 5000, 1, 10000000);
  const std::string view = args.get("view", "screen");
  if (view != "screen" && view != "agent")
    throw UsageError("dqn play: --view must be screen or agent, got '" + view + "'");
  LoadedModel m = load_model(args.positional()[0], set_flags(args));
  const double epsilon = epsilon_flag(args, m.config, "play");
  out << "playing " << protocol_text(m, epsilon) << "\n";
  auto env = make_env(m.env, env_options_for(m.config));
  env->reset(static_cast<std::uint64_t>(seed));
  auto* cart = dynamic_cast<CartPole*>(env.get());
  auto* atari = dynamic_cast<AtariPreprocessing*>(env.get());

  // The GIF: CartPole's 600x400 picture, the Atari screen (210x160 RGB), or the agent's newest
  // 84x84 grey frame, drawn 4x larger so it can be seen.
  std::unique_ptr<GifWriter> gif;
  std::vector<std::uint8_t> pixels;
  auto add_frame = [&] {
    if (!gif) return;
    if (cart)
      cart->render_rgb(pixels.data());
    else if (view == "agent") {
      const std::int64_t frame = env->observation_shape().numel() / env->observation_shape()[0];
      const std::uint8_t* obs = env->observation_u8();
      std::copy(obs + env->observation_shape().numel() - frame,
                obs + env->observation_shape().numel(), pixels.begin());
    } else
      atari->game().get_screen_rgb(pixels.data());
    gif->add_frame(pixels.data());
  };
  if (args.has("gif")) {
    if (cart) {
      pixels.resize(CartPole::kRenderHeight * CartPole::kRenderWidth * 3);
      gif = std::make_unique<GifWriter>(args.get("gif"), CartPole::kRenderHeight,
                                        CartPole::kRenderWidth, GifColour::kRgb, 4, 1);
    } else if (view == "agent") {
      const Shape s = env->observation_shape();
      pixels.resize(static_cast<std::size_t>(s[1] * s[2]));
      gif = std::make_unique<GifWriter>(args.get("gif"), s[1], s[2], GifColour::kGrey, 4, 4);
    } else {
      pixels.resize(210 * 160 * 3);
      gif = std::make_unique<GifWriter>(args.get("gif"), 210, 160, GifColour::kRgb, 4, 2);
    }
  }
  add_frame();
  Rng rng(static_cast<std::uint64_t>(seed), 9);
  Tensor q;
  double score = 0;
  std::int64_t steps = 0;
  const bool live = cart && !gif && isatty(STDOUT_FILENO) && &out == &std::cout;
  while (steps < max_steps) {
    const std::int64_t action =
        env->observation_is_u8()
            ? epsilon_greedy_action(*m.net, env->observation_u8(), epsilon, rng, q)
            : epsilon_greedy_action(*m.net, env->observation_f32(), epsilon, rng, q);
    const StepResult r = env->step(action);
    score += r.raw_reward;
    ++steps;
    add_frame();
    if (cart && !gif) {
      out << (live ? "\r" : "") << cart->render_text() << (live ? "" : "\n") << std::flush;
      if (live && delay > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    }
    if (r.terminated || r.truncated) break;
  }
  if (live) out << "\n";
  if (gif) {
    gif->finish();
    out << "wrote " << gif->frames() << " frames to " << args.get("gif") << "\n";
  }
  out << m.env << ": return " << score << " in " << steps << " steps\n";
  return 0;
}

// ---------------------------------------------------------------- trace

int cmd_trace(int argc, char** argv, std::ostream& out) {
  const std::vector<FlagSpec> flags = {
      {"state", true, "initial state x,x_dot,theta,theta_dot (default 0,0,0,0)"},
      {"actions", true, "comma-separated actions (0 left, 1 right)"},
      {"random", true, "instead: this many random-policy episodes with their initial states"},
      {"seed", true, "seed for --random (default 0)"},
      {"help", false, "this text"}};
  const Args args(argc, argv, 2, flags, "trace");
  if (args.has("help")) {
    out << usage_text("trace", "[--state S --actions A | --random N --seed S]", flags);
    return 0;
  }
  if (args.has("random")) {
    print_random_episodes(out, static_cast<std::uint64_t>(args.get_int("seed", 0, 0, INT64_MAX)),
                          args.get_int("random", 1, 1, 100000));
    return 0;
  }
  if (!args.has("actions"))
    throw UsageError("dqn trace: give --actions (and --state), or --random N\n" +
                     usage_text("trace", "[--state S --actions A | --random N --seed S]", flags));
  CartPoleState state{0, 0, 0, 0};
  if (args.has("state")) {
    std::stringstream in(args.get("state"));
    std::string item;
    std::vector<double> values;
    while (std::getline(in, item, ',')) {
      const std::optional<double> v = parse_decimal(item);
      if (!v)
        throw UsageError(
            "dqn trace: --state needs four finite numbers x,x_dot,theta,theta_dot, "
            "got '" +
            args.get("state") + "' ('" + item + "' is not a number)");
      values.push_back(*v);
    }
    if (values.size() != 4)
      throw UsageError("dqn trace: --state needs four numbers x,x_dot,theta,theta_dot, got " +
                       std::to_string(values.size()));
    for (int i = 0; i < 4; ++i) state[i] = values[i];
  }
  const auto actions = parse_int_list(args.get("actions"), "dqn trace: --actions");
  for (std::int64_t a : actions)
    if (a != 0 && a != 1)
      throw UsageError("dqn trace: CartPole actions are 0 (left) and 1 (right), got " +
                       std::to_string(a));
  trace_cartpole(out, state, actions);
  return 0;
}

// ---------------------------------------------------------------- roms

// Which of the supported games' ROMs a folder holds, found by MD5 (issue #17).
int cmd_roms(int argc, char** argv, std::ostream& out) {
  const std::vector<FlagSpec> flags = {{"help", false, "this text"}};
  const std::string synopsis = "[DIR]   (default: $DQN_ROMS; without either, the supported games)";
  const Args args(argc, argv, 2, flags, "roms");
  if (args.has("help")) {
    out << usage_text("roms", synopsis, flags);
    return 0;
  }
  if (args.positional().size() > 1)
    throw UsageError("dqn roms: give at most one folder\n" + usage_text("roms", synopsis, flags));
  std::string dir = args.positional().empty() ? "" : args.positional()[0];
  if (const char* env = std::getenv("DQN_ROMS"); dir.empty() && env) dir = env;
  const auto& table = atari2600::games();
  // The project's own cartridges (bundled_rom) are inside the program: never missing, never
  // looked for in a folder.
  const auto is_ale = [](const atari2600::Game& g) { return g.bundled_rom == nullptr; };
  const auto n_ale = std::count_if(table.begin(), table.end(), is_ale);
  std::ostringstream built_in;
  for (const auto& g : table)
    if (!is_ale(g))
      built_in << "  ale:" << g.id << "  built in (envs/atari2600/roms/" << g.id << ".bin, md5 "
               << g.md5 << ")\n";
  if (dir.empty()) {
    out << "the " << n_ale << " supported games (ALE 0.12's rules), found by MD5:\n";
    for (const auto& g : table)
      if (is_ale(g)) out << "  ale:" << g.id << "  " << atari2600::expected_rom(g) << "\n";
    out << "this project's own, built into the program (no ROM file needed):\n" << built_in.str();
    out << "give a folder (dqn roms DIR, or DQN_ROMS) to see which of them it holds\n";
    return 0;
  }
  std::vector<atari2600::RomFile> files;
  try {
    files = atari2600::scan_rom_folder(dir);
  } catch (const atari2600::Error& e) {
    throw UsageError(std::string("dqn roms: ") + e.what());
  }
  std::vector<const atari2600::Game*> found;
  std::ostringstream known, unknown;
  int n_unknown = 0;
  for (const auto& f : files) {
    if (f.game) {
      found.push_back(f.game);
      known << "  ale:" << f.game->id << "  " << f.path.filename().string() << "  " << f.md5
            << "  banks " << (f.banks.empty() ? "?" : f.banks);
      if (f.banks != f.game->bank)  // GAMES.md §8.1: the detector decides, as in ALE
        known << " (GAMES.md expects " << f.game->bank << ": please report this ROM)";
      known << "\n";
    } else {
      ++n_unknown;
      unknown << "  " << f.path.filename().string() << "  ";
      if (f.md5.empty())
        unknown << "too big for a 2600 ROM";
      else
        unknown << "md5 " << f.md5;
      unknown << ", " << f.bytes << " bytes\n";
    }
  }
  out << "ROM folder " << dir << ": " << files.size() << " files\n";
  out << "recognised (" << found.size() << "):\n" << known.str();
  out << "not recognised (" << n_unknown
      << "): these run only as ale:raw (no reward, no episode end)\n"
      << unknown.str();
  std::size_t missing = 0;
  std::ostringstream missing_text;
  for (const auto& g : table) {
    if (!is_ale(g) || std::find(found.begin(), found.end(), &g) != found.end()) continue;
    ++missing;
    missing_text << "  ale:" << g.id << "  " << atari2600::expected_rom(g) << "\n";
  }
  out << "missing (" << missing << " of " << n_ale << "):\n" << missing_text.str();
  out << "built in (no ROM file needed):\n" << built_in.str();
  if (missing)
    out << "the project never ships or downloads commercial ROMs; if you own the games, the ROM "
           "set that ships with ALE's Python package (pip install ale-py) has them\n";
  return 0;
}

// ---------------------------------------------------------------- rom-trace

// The oracle's command line on our emulator (envs/atari2600/): the same options, and on its
// `step` lines the same keys and values, so `diff` against ale-oracle's output compares the two.
int cmd_rom_trace(int argc, char** argv, std::ostream& out) {
  const std::vector<FlagSpec> flags = {
      {"rom", true, "the ROM file (required)"},
      {"game", true,
       "raw (no rewards, never terminal, default) or a game id (dqn roms lists them)"},
      {"actions", true, "actions by number 0-17 or ALE name, NAME*K repeats: FIRE*3,RIGHT,NOOP"},
      {"actions-file", true, "the same syntax in a file ('#' starts a comment)"},
      {"random", true, "N steps of std::mt19937(seed) draws over the minimal action set"},
      {"seed", true, "seed for --random (default 0)"},
      {"frames", true, "steps to run (an action list repeats; default: its length)"},
      {"reset-on-terminal", false, "reset the game after a step that ends the episode"},
      {"set", true,
       "KEY=VALUE as the oracle takes it: type (cartridge: 2K, 4K, F8, F8SC, F6, F6SC, F4, F4SC, "
       "E0, FE, 3F), repeat_action_probability, random_seed, lc=PADDLES, cp=YES; repeatable"},
      {"help", false, "this text"}};
  const std::string synopsis =
      "--rom FILE [--game raw|ID] [--actions LIST | --actions-file F | --random N --seed S] "
      "[--frames N] [--reset-on-terminal]";
  const Args args(argc, argv, 2, flags, "rom-trace");
  if (args.has("help")) {
    out << usage_text("rom-trace", synopsis, flags);
    return 0;
  }
  if (!args.has("rom") || !args.positional().empty())
    throw UsageError("dqn rom-trace: give the ROM with --rom FILE\n" +
                     usage_text("rom-trace", synopsis, flags));
  const int sources = args.has("actions") + args.has("actions-file") + args.has("random");
  if (sources > 1)
    throw UsageError("dqn rom-trace: give one of --actions, --actions-file and --random");
  atari2600::RomTraceOptions o;
  o.game = args.get("game", "raw");
  if (!atari2600::find_game(o.game)) {
    std::string known = "raw";
    for (const auto& g : atari2600::games()) known.append(", ").append(g.id);
    throw UsageError("dqn rom-trace: --game must be one of " + known + "; got '" + o.game + "'");
  }
  o.frames = static_cast<int>(args.get_int("frames", -1, 0, 100'000'000));
  o.random_steps = static_cast<int>(args.get_int("random", 0, 0, 100'000'000));
  o.seed = static_cast<std::uint32_t>(args.get_int("seed", 0, 0, 4294967295LL));
  o.reset_on_terminal = args.has("reset-on-terminal");
  try {
    if (args.has("actions")) o.actions = atari2600::parse_actions(args.get("actions"));
    // An actions file is a short text; the cap keeps a wrong path (a ROM, a device) out.
    if (args.has("actions-file"))
      o.actions = atari2600::parse_actions(read_file(args.get("actions-file"), 16 << 20));
    for (const std::string& kv : args.all("set")) {
      const auto eq = kv.find('=');
      const std::string key = kv.substr(0, eq),
                        value = eq == std::string::npos ? "" : kv.substr(eq + 1);
      if (eq == std::string::npos)
        throw UsageError("dqn rom-trace: --set needs KEY=VALUE, got '" + kv + "'");
      if (key == "type") {
        o.cart_type = atari2600::parse_cart_type(value);
      } else if (key == "repeat_action_probability") {
        const std::optional<double> p = parse_decimal(value);
        if (!p || *p < 0 || *p > 1)
          throw UsageError("dqn rom-trace: repeat_action_probability must be in [0, 1], got '" +
                           value + "'");
        o.repeat_action_probability = *p;
      } else if (key == "random_seed") {
        const std::optional<std::int64_t> v = parse_whole(value);
        if (!v || *v < 0 || *v > 4294967295LL)
          throw UsageError("dqn rom-trace: random_seed must be a whole number in [0, 2^32), got '" +
                           value + "'");
        o.random_seed = static_cast<std::uint32_t>(*v);
      } else if (key == "lc" && (value == "PADDLES" || value == "JOYSTICK")) {
        o.left_paddles = value == "PADDLES";
      } else if (key == "cp" && (value == "YES" || value == "NO")) {
        o.swap_paddles = value == "YES";
      } else {
        throw UsageError("dqn rom-trace: --set " + kv +
                         " is not supported; keys: type, repeat_action_probability, random_seed, "
                         "lc=PADDLES|JOYSTICK, cp=YES|NO");
      }
    }
  } catch (const atari2600::Error& e) {
    throw UsageError(std::string("dqn rom-trace: ") + e.what());
  }
  // The largest cartridge scheme here (3F) addresses 512 KiB; anything far larger is not a ROM.
  const std::string bytes = read_file(args.get("rom"), 1 << 20);
  const std::vector<std::uint8_t> rom(bytes.begin(), bytes.end());
  try {
    atari2600::rom_trace(rom, o, out);
  } catch (const atari2600::Error& e) {
    throw Error(std::string("rom-trace: ") + e.what());
  }
  return 0;
}

// ---------------------------------------------------------------- bench

int cmd_bench(int argc, char** argv, std::ostream& out) {
  const std::vector<FlagSpec> flags = {{"seconds", true, "seconds per workload (default 1)"},
                                       {"help", false, "this text"}};
  const Args args(argc, argv, 2, flags, "bench");
  if (args.has("help")) {
    out << usage_text("bench", "[--seconds S]", flags);
    return 0;
  }
  double seconds = 1;
  if (args.has("seconds")) {
    const std::string text = args.get("seconds");
    seconds = parse_decimal(text).value_or(-1);
    if (!(seconds >= 0.01 && seconds <= 600))
      throw UsageError("dqn bench: --seconds must be a number in [0.01, 600], got '" + text + "'");
  }
  print_quick_bench(out, seconds);
  return 0;
}

// Every message starts with "dqn <command>: " exactly once, whichever layer wrote it.
std::string prefixed(const std::string& command, const std::string& message) {
  const std::string prefix = "dqn " + command + ": ";
  if (message.rfind(prefix, 0) == 0) return message;
  if (message.rfind(command + ": ", 0) == 0) return "dqn " + message;  // the library's "train: "
  return prefix + message;
}

}  // namespace

int run_cli(int argc, char** argv, std::ostream& out, std::ostream& err) {
  if (argc < 2) {
    err << "dqn: no subcommand given; valid subcommands: " << kSubcommands << "\n";
    return 2;
  }
  const std::string command = argv[1];
  try {
    if (command == "train") return cmd_train(argc, argv, out);
    if (command == "resume") return cmd_resume(argc, argv, out);
    if (command == "eval") return cmd_eval(argc, argv, out);
    if (command == "info") return cmd_info(argc, argv, out);
    if (command == "play") return cmd_play(argc, argv, out);
    if (command == "trace") return cmd_trace(argc, argv, out);
    if (command == "bench") return cmd_bench(argc, argv, out);
    if (command == "rom-trace") return cmd_rom_trace(argc, argv, out);
    if (command == "roms") return cmd_roms(argc, argv, out);
    if (command == "help" || command == "--help" || command == "-h") {
      out << "usage: dqn <subcommand> [options]; subcommands: " << kSubcommands << "\n"
          << "each subcommand takes --help\n";
      return 0;
    }
    err << "dqn: unknown subcommand '" << command << "'; valid subcommands: " << kSubcommands
        << "\n";
    return 2;
  } catch (const UsageError& e) {
    err << prefixed(command, e.what()) << "\n";
    return 2;
  } catch (const Error& e) {
    err << prefixed(command, e.what()) << "\n";
    return 1;
  } catch (const std::bad_alloc&) {
    err << "dqn " << command
        << ": out of memory (an allocation failed); lower buffer_size or free memory\n";
    return 1;
  } catch (const std::exception& e) {
    err << "dqn " << command << ": unexpected error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace dqn::tools
