// envs/atari2600/ale.hpp: a ROM run the way ALE 0.12's loadROM and act() run it, and a
// `rom-trace` driver that prints the oracle's JSON lines for the same command line.
//
// loadROM (README 4.6): power-on; with display format AUTO-DETECT reset #1, 60 frames with no
// input (PAL if at least 15 of frames 30-59 have more than 285 lines), reset #2 (otherwise only
// one reset); then the environment's reset (GAMES.md §1.3): reset #3, 60 NOOP frames, 4 frames
// with RESET held, the game logic's reset, the game's mode loop (SELECT presses until its mode
// byte shows the mode, then 4 RESET frames), 4 more RESET frames, the starting actions. The game
// logic's step() runs after every frame from reset #3 on, except SELECT-held ones. act(a) runs
// frame_skip frames with joystick a, unless the episode is over.
//
// Game logic: "raw" (no rewards, never terminal) or any id of games.hpp's table (GAMES.md): its
// reset runs the game's mode loop and starting actions, and a ROM whose MD5 is a table game's
// gets that game's console properties (controllers, YStart, HMOVE blanks), as in ALE.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "envs/atari2600/console.hpp"
#include "envs/atari2600/games.hpp"

namespace atari2600 {

// ALE's action numbering.
enum Action : int {
  kNoop,
  kFire,
  kUp,
  kRight,
  kLeft,
  kDown,
  kUpRight,
  kUpLeft,
  kDownRight,
  kDownLeft,
  kUpFire,
  kRightFire,
  kLeftFire,
  kDownFire,
  kUpRightFire,
  kUpLeftFire,
  kDownRightFire,
  kDownLeftFire
};
constexpr int kNumActions = 18;
const char* action_name(int action);
// Joystick inputs of an action (console switches released).
Inputs action_inputs(int action);
// "FIRE*3,RIGHT, 0" -> {1,1,1,3,0}; names case-insensitive, numbers 0-17; '#' comments to the
// end of a line, so an --actions-file's contents parse too. Throws on bad input.
std::vector<int> parse_actions(const std::string& list);

struct AleOptions {
  std::string game = "raw";  // "raw" or an id of games() (games.hpp)
  int mode = -1;             // -1: the game's default (first of its modes)
  int difficulty = 0;        // one of the game's difficulties
  ConsoleOptions console;
  bool auto_detect_format = true;  // ALE's Display.Format AUTO-DETECT
  int frame_skip = 1;
  int max_num_frames_per_episode = 0;
  // Sticky actions (README 4.8): with this probability a frame repeats the previous action.
  // The oracle's default is 0 (ALE's C++ default 0.25); random_seed seeds the draws.
  double repeat_action_probability = 0.0;
  std::uint32_t random_seed = 0;
  // Controllers (ALE's per-ROM properties Controller.Left = PADDLES, Controller.SwapPaddles):
  // player A then drives paddle 0 with the LEFT/RIGHT/FIRE parts of its action.
  bool left_paddles = false;
  bool swap_paddles = false;
  // Called after every emulated frame, from power-on, with its phase ("load", "reset" or
  // "step"), like the oracle's --all-frames lines.
  std::function<void(const Console&, const FrameInfo&, const char* phase)> on_frame;
};

class AleRunner {
 public:
  AleRunner(std::vector<std::uint8_t> rom, const AleOptions& options = {});

  // One agent step: the summed reward of frame_skip frames; 0 and no emulation once over.
  int act(int action);
  // One frame of act() once the episode is over: ALE still draws that frame's sticky-action
  // numbers (README 4.8) and emulates nothing. A frame skip done outside the runner (one act()
  // per frame, as AtariPreprocessing does) calls it for the frames its step has left after the
  // game ended, so that the generator stays where ALE's is when the next episode starts.
  void idle_frame(int action);
  void reset_game();

  bool terminal() const { return logic_.terminal(); }
  bool truncated() const {
    return options_.max_num_frames_per_episode > 0 &&
           episode_frame_ >= static_cast<std::uint64_t>(options_.max_num_frames_per_episode);
  }
  int lives() const { return logic_.lives(); }
  const Game& game() const { return logic_.game(); }
  int reward() const { return logic_.reward(); }
  // The action each frame of the last act() really used (differs only with sticky actions).
  const std::vector<int>& applied() const { return applied_; }
  std::uint64_t frame() const { return frame_; }
  std::uint64_t episode_frame() const { return episode_frame_; }
  std::uint64_t tia_frames() const { return tia_frames_; }
  bool pal() const { return pal_; }
  std::vector<int> minimal_actions() const;

  Console& console() { return *console_; }
  const Console& console() const { return *console_; }

  // The whole run (machine, counters, game logic) as bytes, and back.
  std::string save_state() const;
  void load_state(const std::string& blob);

 private:
  void sticky_choice(int action);  // one frame's draws and choice (README 4.8)
  void run_frame(const Inputs& in, bool count_step, const char* phase, bool step_logic = true);
  void soft_reset();
  void select(int frames);

  AleOptions options_;
  std::unique_ptr<Console> console_;
  bool pal_ = false;
  std::uint64_t frame_ = 0, episode_frame_ = 0, tia_frames_ = 0;
  std::mt19937 env_rng_;
  int last_action_ = kNoop;
  std::array<std::int32_t, 2> paddle_{};  // resistance of paddles 0 (player A) and 1
  Inputs inputs_for(int action) const;
  std::vector<int> applied_;
  GameLogic logic_;
  int mode_ = 0;
  int power_on_difficulty_ = 0;
};

// FNV-1a 64 of a screen, as the oracle's `screen` field.
std::uint64_t screen_hash(const std::uint8_t* pixels, std::size_t count);

struct RomTraceOptions {
  std::string game = "raw";
  std::vector<int> actions;  // repeated to `frames` steps; empty with random_steps = 0: NOOP
  int frames = -1;           // -1: the list's length (or random_steps)
  int random_steps = 0;      // > 0: std::mt19937(seed) draws over the minimal action set
  std::uint32_t seed = 0;
  bool reset_on_terminal = false;
  std::optional<CartType> cart_type;       // the oracle's --set type=...; empty = detect
  double repeat_action_probability = 0.0;  // --set repeat_action_probability=...
  std::uint32_t random_seed = 0;           // --set random_seed=...
  bool left_paddles = false;               // --set lc=PADDLES
  bool swap_paddles = false;               // --set cp=YES
};

// Prints the oracle's `reset` line, then one `step` line per step (and a `reset` line after
// each terminal step with reset_on_terminal), with the oracle's keys and formats.
void rom_trace(const std::vector<std::uint8_t>& rom, const RomTraceOptions& options,
               std::ostream& out);

}  // namespace atari2600
