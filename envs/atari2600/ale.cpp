// envs/atari2600/ale.cpp: ALE's load, reset and act protocol over games.hpp's table, and rom_trace.
#include "envs/atari2600/ale.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <random>
#include <sstream>

#include "envs/atari2600/error.hpp"
#include "envs/atari2600/md5.hpp"

namespace atari2600 {
namespace {

constexpr const char* kActionNames[kNumActions] = {
    "NOOP",     "FIRE",     "UP",          "RIGHT",      "LEFT",          "DOWN",
    "UPRIGHT",  "UPLEFT",   "DOWNRIGHT",   "DOWNLEFT",   "UPFIRE",        "RIGHTFIRE",
    "LEFTFIRE", "DOWNFIRE", "UPRIGHTFIRE", "UPLEFTFIRE", "DOWNRIGHTFIRE", "DOWNLEFTFIRE"};

const Game& resolve_game(const std::string& id) {
  if (const Game* g = find_game(id)) return *g;
  std::string known = "raw";
  for (const Game& g : games()) known.append(", ").append(g.id);
  throw_error("ale: unknown game logic '", id, "'; this emulator knows ", known);
}

// A list of ints as "0, 4, 8" for messages.
std::string list_text(const std::vector<int>& v) {
  std::string s;
  for (int x : v) s.append(s.empty() ? "" : ", ").append(std::to_string(x));
  return s;
}

std::string hex_ram(const std::array<std::uint8_t, 128>& ram) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(256);
  for (std::uint8_t b : ram) s += kHex[b >> 4], s += kHex[b & 15];
  return s;
}

}  // namespace

const char* action_name(int action) {
  if (action < 0 || action >= kNumActions) throw_error("action ", action, " is not in 0-17");
  return kActionNames[action];
}

Inputs action_inputs(int action) {
  const std::string name = action_name(action);
  Inputs in;
  in.fire = name.find("FIRE") != std::string::npos;
  in.up = name.find("UP") != std::string::npos;
  in.down = name.find("DOWN") != std::string::npos;
  in.left = name.find("LEFT") != std::string::npos;
  in.right = name.find("RIGHT") != std::string::npos;
  return in;
}

std::vector<int> parse_actions(const std::string& list) {
  std::vector<int> out;
  std::string token;
  auto flush = [&]() {
    if (token.empty()) return;
    std::string name = token;
    long repeat = 1;
    if (const auto star = token.find('*'); star != std::string::npos) {
      name = token.substr(0, star);
      const std::string count = token.substr(star + 1);
      if (count.empty() || !std::all_of(count.begin(), count.end(), ::isdigit) ||
          count.size() > 7) {
        throw_error("actions: '", token, "' has a bad repeat count; write NAME*K with K >= 1");
      }
      repeat = std::stol(count);
    }
    for (auto& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    int action = -1;
    if (!name.empty() && name.size() <= 2 && std::all_of(name.begin(), name.end(), ::isdigit)) {
      action = std::stoi(name);
    } else {
      for (int a = 0; a < kNumActions; ++a) {
        if (name == kActionNames[a]) action = a;
      }
    }
    if (action < 0 || action >= kNumActions) {
      throw_error("actions: '", token,
                  "' is not an action; use 0-17 or a name such as NOOP, "
                  "FIRE, UP, RIGHT, LEFT, DOWN, UPFIRE, DOWNLEFTFIRE");
    }
    out.insert(out.end(), static_cast<std::size_t>(repeat), action);
    token.clear();
  };
  bool comment = false;  // '#' starts a comment that runs to the end of the line (--actions-file)
  for (char c : list) {
    if (c == '\n') comment = false;
    if (comment) continue;
    if (c == '#') {
      flush();
      comment = true;
    } else if (c == ',' || std::isspace(static_cast<unsigned char>(c))) {
      flush();
    } else {
      token += c;
    }
  }
  flush();
  return out;
}

std::uint64_t screen_hash(const std::uint8_t* pixels, std::size_t count) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i < count; ++i) h = (h ^ pixels[i]) * 0x100000001b3ull;
  return h;
}

AleRunner::AleRunner(std::vector<std::uint8_t> rom, const AleOptions& options)
    : options_(options), env_rng_(options.random_seed), logic_(resolve_game(options.game)) {
  if (options_.frame_skip < 1)
    throw_error("ale: frame_skip must be >= 1, got ", options_.frame_skip);
  const Game& game = logic_.game();
  mode_ = options_.mode < 0 ? game.modes.front() : options_.mode;
  if (std::find(game.modes.begin(), game.modes.end(), mode_) == game.modes.end())
    throw_error("ale: ", game.id, " has no mode ", mode_, "; its modes are ",
                list_text(game.modes));
  if (std::find(game.difficulties.begin(), game.difficulties.end(), options_.difficulty) ==
      game.difficulties.end())
    throw_error("ale: ", game.id, " has no difficulty ", options_.difficulty,
                "; its difficulties are ", list_text(game.difficulties));
  // GAMES.md §4.1: console properties follow the ROM's MD5 only, whatever logic runs it.
  if (const Game* props = find_game_by_md5(md5_hex(rom))) {
    options_.console.ystart = props->ystart;
    options_.console.hmove_blanks = props->hmove_blanks;
    options_.left_paddles = props->paddles;
    options_.swap_paddles = props->swap_paddles;
    power_on_difficulty_ = props->power_on_difficulty;
  }
  console_ = std::make_unique<Console>(std::move(rom), options_.console);
  Inputs none;
  none.difficulty = power_on_difficulty_;  // GAMES.md §1.6: before ALE's first input application
  if (options_.auto_detect_format) {
    console_->system_reset();
    int long_frames = 0;
    for (int f = 0; f < 60; ++f) {
      console_->set_inputs(none);
      const FrameInfo info = console_->run_frame();
      ++tia_frames_;
      if (options_.on_frame) options_.on_frame(*console_, info, "load");
      if (f >= 30 && info.lines > 285) ++long_frames;
    }
    pal_ = long_frames >= 15;
  }
  console_->system_reset();
  if (pal_) {
    console_->set_line_cap(342);
    if (options_.console.height == 210) console_->set_window(options_.console.ystart, 250);
  }
  reset_game();  // its SELECT presses count in frame_ as in ALE (GAMES.md §1.5)
}

void AleRunner::run_frame(const Inputs& in, bool count_step, const char* phase, bool step_logic) {
  Inputs with_switches = in;
  with_switches.difficulty = options_.difficulty;  // GAMES.md §1.6: every input application
  console_->set_inputs(with_switches);
  const FrameInfo info = console_->run_frame();
  ++tia_frames_;
  if (options_.on_frame) options_.on_frame(*console_, info, phase);
  if (count_step) ++frame_, ++episode_frame_;
  if (step_logic) logic_.step(console_->ram());
}

// GAMES.md §1.5: 4 frames with RESET held, the logic stepping, not counted.
void AleRunner::soft_reset() {
  Inputs reset_switch = inputs_for(kNoop);
  reset_switch.reset = true;
  for (int f = 0; f < 4; ++f) run_frame(reset_switch, false, "reset");
  last_action_ = kNoop;
}

// GAMES.md §1.5 SEL(n): n frames with SELECT held and no step(), then one NOOP frame that
// steps and IS counted (it moves the episode frame number, so the 108,000-frame cap).
void AleRunner::select(int frames) {
  Inputs select_switch = inputs_for(kNoop);
  select_switch.select = true;
  for (int f = 0; f < frames; ++f) run_frame(select_switch, false, "reset", false);
  run_frame(inputs_for(kNoop), true, "reset");
}

// README 4.7: the paddles' range and centre (ALE's paddle_min / paddle_max defaults).
constexpr std::int32_t kPaddleMin = 27450, kPaddleMax = 790196;
constexpr std::int32_t kPaddleStep = 23000;  // per frame of a LEFT or RIGHT action

Inputs AleRunner::inputs_for(int action) const {
  if (!options_.left_paddles) return action_inputs(action);
  const Inputs joystick = action_inputs(action);
  Inputs in;
  in.left_paddles = true;
  // Player A's paddle 0 is wired to pin 0 (INPT0, SWCHA bit 7), or pin 1 when swapped (Pong).
  const std::size_t a = options_.swap_paddles ? 1 : 0;
  in.paddle_resistance[a] = paddle_[0];
  in.paddle_resistance[1 - a] = paddle_[1];
  in.paddle_button[a] = joystick.fire;
  return in;
}

// GAMES.md §1.3, step by step.
void AleRunner::reset_game() {
  episode_frame_ = 0;
  paddle_ = {(kPaddleMin + kPaddleMax) / 2, (kPaddleMin + kPaddleMax) / 2};
  console_->system_reset();
  const Inputs noop = inputs_for(kNoop);
  for (int f = 0; f < 60; ++f) run_frame(noop, false, "reset");
  soft_reset();
  logic_.reset();
  const Game& game = logic_.game();
  if (game.sel_frames > 0) {  // setMode: the loop runs for the default mode too (GAMES.md §5)
    if (game.soft_reset_before_modes) soft_reset();
    auto reached = [&] {
      const Ram& ram = console_->ram();
      return game.mode_reached ? game.mode_reached(ram, mode_) : at(ram, game.mode_byte) == mode_;
    };
    // ALE's loop has no bound and hangs on a ROM that never shows the mode; ours gives up.
    constexpr int kMaxSelects = 10000;
    for (int n = 0; !reached(); ++n) {
      if (n == kMaxSelects)
        throw_error("ale: ", game.id, "'s mode ", mode_, " never appeared in RAM after ",
                    kMaxSelects, " SELECT presses; is this ROM really ", game.id, "?");
      select(game.sel_frames);
    }
    if (game.latch_before_mode_reset) logic_.latches().flag = true;
    soft_reset();
  }
  soft_reset();
  // Starting actions: one frame each, not counted; the sticky previous action stays NOOP.
  for (int a : game.start_actions) run_frame(inputs_for(a), false, "reset");
}

// README 4.8: two draws per frame (player A, then B); A's decides whether the new action replaces
// the previous one. Player B's action is always NOOP under act(). The draws (and the choice)
// happen even when the episode is over and nothing is emulated (GAMES.md 1.1; the oracle's
// `applied` after a terminal step shows it).
void AleRunner::sticky_choice(int action) {
  const double u_a = static_cast<double>(env_rng_()) / 4294967296.0;
  env_rng_();
  if (u_a >= options_.repeat_action_probability) last_action_ = action;
  applied_.push_back(last_action_);
}

void AleRunner::idle_frame(int action) {
  action_name(action);  // throws on an action outside 0-17
  applied_.clear();     // as act(): applied() lists this call's frame
  sticky_choice(action);
}

int AleRunner::act(int action) {
  action_name(action);  // throws on an action outside 0-17
  applied_.clear();
  int total = 0;
  for (int k = 0; k < options_.frame_skip; ++k) {
    sticky_choice(action);
    if (terminal() || truncated()) continue;
    if (options_.left_paddles) {
      // GAMES.md 4.2: each frame the RIGHT forms turn the paddle by -23000 ohms, LEFT by +23000.
      const Inputs j = action_inputs(last_action_);
      const std::int32_t delta = j.right ? -kPaddleStep : j.left ? kPaddleStep : 0;
      paddle_[0] = std::clamp(paddle_[0] + delta, kPaddleMin, kPaddleMax);
    }
    run_frame(inputs_for(last_action_), true, "step");
    total += logic_.reward();
  }
  return total;
}

std::vector<int> AleRunner::minimal_actions() const {
  return logic_.game().minimal;
}

// The run's blob: the console's blob (length-prefixed), the counters and the game logic's
// fields, then the sticky-action generator as text.
std::string AleRunner::save_state() const {
  const std::string console = console_->save_state();
  std::string out;
  auto put = [&](const auto& v) { out.append(reinterpret_cast<const char*>(&v), sizeof(v)); };
  put(static_cast<std::uint64_t>(console.size()));
  out += console;
  // The game logic field by field (a struct's padding bytes would make blobs differ).
  const GameLogic::State s = logic_.state();
  put(frame_), put(episode_frame_), put(tia_frames_), put(s.prev), put(s.reward), put(s.lives);
  put(s.terminal), put(s.latches.flag), put(s.latches.last), put(s.latches.counter);
  put(pal_), put(last_action_), put(paddle_);
  std::ostringstream rng;
  rng << env_rng_;
  out += rng.str();
  return out;
}

void AleRunner::load_state(const std::string& blob) {
  std::uint64_t console_size = 0;
  constexpr std::size_t kFields =
      3 * sizeof(std::uint64_t) + 6 * sizeof(int) + 3 * sizeof(bool) + sizeof(paddle_);
  if (blob.size() >= sizeof(console_size))
    std::memcpy(&console_size, blob.data(), sizeof(console_size));
  if (blob.size() < sizeof(console_size) || console_size > blob.size() - sizeof(console_size) ||
      blob.size() - sizeof(console_size) - console_size < kFields) {
    throw_error("ale state: a blob of ", blob.size(),
                " bytes is not a saved run (cut short, or "
                "from another program); save it with AleRunner::save_state");
  }
  const char* p = blob.data() + sizeof(console_size) + console_size;
  std::uint64_t frame = 0, episode_frame = 0, tia_frames = 0;
  GameLogic::State logic{};
  int last_action = 0;
  bool pal = false;
  std::array<std::int32_t, 2> paddle{};
  auto get = [&](auto& v) { std::memcpy(&v, p, sizeof(v)), p += sizeof(v); };
  get(frame), get(episode_frame), get(tia_frames), get(logic.prev), get(logic.reward);
  get(logic.lives), get(logic.terminal), get(logic.latches.flag), get(logic.latches.last);
  get(logic.latches.counter);
  get(pal), get(last_action), get(paddle);
  std::istringstream rng_text(blob.substr(static_cast<std::size_t>(p - blob.data())));
  std::mt19937 rng;
  rng_text >> rng;
  if (!rng_text || last_action < 0 || last_action >= kNumActions) {
    throw_error("ale state: the blob's run fields are damaged; save it with AleRunner::save_state");
  }
  // Everything is read and checked before anything changes.
  console_->load_state(blob.substr(sizeof(console_size), console_size));
  frame_ = frame, episode_frame_ = episode_frame, tia_frames_ = tia_frames;
  logic_.set_state(logic);
  pal_ = pal, last_action_ = last_action;
  paddle_ = paddle;
  env_rng_ = rng;
}

namespace {
std::string applied_list(const std::vector<int>& applied) {
  std::string s;
  for (std::size_t i = 0; i < applied.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(applied[i]);
  }
  return s;
}
}  // namespace

void rom_trace(const std::vector<std::uint8_t>& rom, const RomTraceOptions& options,
               std::ostream& out) {
  AleOptions ale;
  ale.game = options.game;
  ale.console.cart_type = options.cart_type;
  ale.repeat_action_probability = options.repeat_action_probability;
  ale.random_seed = options.random_seed;
  ale.left_paddles = options.left_paddles;
  ale.swap_paddles = options.swap_paddles;
  AleRunner runner(rom, ale);
  const std::vector<int> minimal = runner.minimal_actions();
  std::mt19937 g(options.seed);
  int steps = options.frames;
  if (steps < 0)
    steps =
        options.random_steps > 0 ? options.random_steps : static_cast<int>(options.actions.size());
  auto state_fields = [&]() {
    const Console& c = runner.console();
    const std::uint64_t h =
        screen_hash(c.screen(), static_cast<std::size_t>(c.screen_height()) * Tia::kWidth);
    char hash[17];
    std::snprintf(hash, sizeof(hash), "%016llx", static_cast<unsigned long long>(h));
    return std::string("\"lives\":") + std::to_string(runner.lives()) + ",\"ram\":\"" +
           hex_ram(c.ram()) + "\",\"screen\":\"" + hash + "\"}";
  };
  auto reset_line = [&]() {
    out << "{\"kind\":\"reset\",\"tia_frames\":" << runner.tia_frames()
        << ",\"frame\":" << runner.frame() << ",\"episode_frame\":" << runner.episode_frame()
        << ",\"terminal\":" << (runner.terminal() ? "true" : "false") << "," << state_fields()
        << "\n";
  };
  reset_line();
  for (int step = 0; step < steps; ++step) {
    int action = kNoop;
    if (options.random_steps > 0) {
      action = minimal[g() % minimal.size()];
    } else if (!options.actions.empty()) {
      action = options.actions[static_cast<std::size_t>(step) % options.actions.size()];
    }
    const int reward = runner.act(action);
    out << "{\"kind\":\"step\",\"tia_frames\":" << runner.tia_frames()
        << ",\"frame\":" << runner.frame() << ",\"episode_frame\":" << runner.episode_frame()
        << ",\"step\":" << step << ",\"action\":" << action << ",\"applied\":["
        << applied_list(runner.applied()) << "],\"reward\":" << reward
        << ",\"terminal\":" << (runner.terminal() ? "true" : "false")
        << ",\"truncated\":" << (runner.truncated() ? "true" : "false") << "," << state_fields()
        << "\n";
    if (options.reset_on_terminal && (runner.terminal() || runner.truncated())) {
      runner.reset_game();
      reset_line();
    }
  }
}

}  // namespace atari2600
