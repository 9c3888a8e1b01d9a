// envs/atari2600/games.hpp: the ALE 0.12 rules of the 30 supported games (the Atari 100k
// benchmark's 26, Beam Rider, Enduro, Space Invaders, Tetris), and of the project's own Catch
// cartridge (catch2600, roms/catch2600.asm), as one table of descriptions, ALE's restated
// from ../shared/atari/GAMES.md (cited as GAMES.md §N below): each game's ROM (MD5,
// size, bank scheme), console properties, minimal action set, modes, difficulties, starting
// actions, and how reward, terminal and lives are read off RAM after every frame.
//
//   const Game* g = find_game("pong");        // by id; find_game_by_md5(md5) by ROM
//   GameLogic logic(*g);                       // one game's running state (prev score, latches)
//   logic.reset();  logic.step(ram);           // after every emulated frame (GAMES.md §1.1)
//   logic.reward(), logic.terminal(), logic.lives()
//
// AleRunner (ale.hpp) drives the reset protocol (modes, SEL, starting actions) from the same
// table. Nothing here knows about DQN.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace atari2600 {

using Ram = std::array<std::uint8_t, 128>;

// GAMES.md §0: one BCD byte, nibbles not validated.
inline int bcd(std::uint8_t x) {
  return 10 * (x >> 4) + (x & 0x0F);
}
// RAM at bus address $80..$FF.
inline std::uint8_t at(const Ram& ram, int address) {
  return ram[static_cast<std::size_t>(address - 0x80)];
}

// The per-game state the formulas carry from frame to frame (GAMES.md §3): a "started" or
// "level change" latch, and Q*bert's / Beam Rider's own lives counters.
struct Latches {
  bool flag = false;
  int last = 0, counter = 0;
};

// What a game reads off one frame's RAM; `lives` before gating.
struct Reading {
  int score = 0;
  bool terminal = false;
  int lives = 0;
};

// How the frame's reward follows from the score (GAMES.md §0 and the exceptions of §3).
enum class RewardRule {
  kDifference,      // r = score - prev
  kNonNegative,     // crazy_climber: a negative r becomes 0
  kClampZeroOne,    // freeway: r in [0, 1]
  kIncreaseOnly,    // tetris: r = score - prev if score > prev; prev := 0 on the terminal step
  kWrap10000,       // space_invaders: a negative r means the score wrapped at 10000
  kZeroOnTerminal,  // qbert: r = 0 and prev unchanged on the terminal step
};

struct Game {
  std::string_view id{};    // ALE's ROM stem, e.g. "ms_pacman"
  std::string_view md5{};   // the supported ROM (GAMES.md §2)
  int rom_bytes{};          // GAMES.md §6 (third-party databases; ALE has no sizes)
  std::string_view bank{};  // "2K", "4K", "F8", "E0", "F6"
  // Console properties, applied only when the ROM's MD5 is this game's (GAMES.md §4.1).
  bool paddles = false;       // Controller.Left = PADDLES (breakout; pong also Right)
  bool swap_paddles = false;  // pong: player A's paddle on INPT1 / SWCHA bit 6
  int ystart = 34;
  bool hmove_blanks = true;
  int power_on_difficulty = 0;  // amidar: A/A (3) before ALE's first input application
  std::vector<int> minimal{};   // ascending ALE action ids
  std::vector<int> modes{};     // first = default; {0} alone = a game without modes
  std::vector<int> difficulties{};
  std::vector<int> start_actions{};  // one frame each after the reset (GAMES.md §1.3 step 9)
  int reset_lives = 0;               // lives() of a fresh logic = ALE's L0
  int reset_prev = 0;                // private_eye: 1000
  RewardRule reward_rule = RewardRule::kDifference;
  bool gated_lives = true;  // lives() = 0 while terminal (GAMES.md §0)
  // The frame's score, terminal flag and lives; may update the latches.
  Reading (*read)(const Ram& ram, Latches& latches) = nullptr;
  // setMode (GAMES.md §1.3 step 7): while !mode_reached(ram, m): SEL(sel_frames); softReset.
  // sel_frames = 0: the game has no mode loop. mode_reached = nullptr: RAM[mode_byte] == m.
  int sel_frames = 0;
  int mode_byte = 0;
  bool (*mode_reached)(const Ram& ram, int mode) = nullptr;
  bool soft_reset_before_modes = false;  // gopher
  bool latch_before_mode_reset = false;  // demon_attack: level_change := true before softReset
  // The project's own games (bundled.hpp): the ROM compiled into the library, used when no ROM
  // file is given. nullptr for ALE's games, whose ROMs the user brings.
  std::span<const std::uint8_t> (*bundled_rom)() = nullptr;
};

// The 30 games in GAMES.md §2's order, then the project's own (catch2600), which ALE lacks:
// the oracle runs it only as "raw", so its rules are tested on synthetic RAM alone.
const std::vector<Game>& games();
const Game* find_game(std::string_view id);
const Game* find_game_by_md5(std::string_view md5);
// The oracle's "raw" logic: no reward, never terminal, lives 0, all 18 actions, no modes.
const Game& raw_game();
// Every action a game accepts: 0..17 for all of them (GAMES.md §0).
std::vector<int> full_action_set();

// One game's logic as ALE runs it: step() after every emulated frame.
class GameLogic {
 public:
  explicit GameLogic(const Game& game) : game_(&game) { reset(); }
  void reset();  // GAMES.md §1.3 step 6
  void step(const Ram& ram);
  const Game& game() const { return *game_; }
  int reward() const { return reward_; }
  bool terminal() const { return terminal_; }
  int lives() const { return lives_; }
  Latches& latches() { return latches_; }

  // Everything that moves, for save/load (a fixed-size record).
  struct State {
    int prev, reward, lives;
    bool terminal;
    Latches latches;
  };
  State state() const { return {prev_, reward_, lives_, terminal_, latches_}; }
  void set_state(const State& s);

 private:
  const Game* game_;
  int prev_ = 0, reward_ = 0, lives_ = 0;
  bool terminal_ = false;
  Latches latches_;
};

}  // namespace atari2600
