// envs/atari_screen.hpp: an Atari 2600 screen game behind an interface shaped like the ALE's
// (ale::ALEInterface, Bellemare et al. 2013; Machado et al. 2018 for the settings).
//
//   std::unique_ptr<AtariScreen> game = make_atari_game("breakout", AtariSettings{});
//   game->reset_game();
//   int reward = game->act(kFire);                 // one emulated frame, ALE action codes
//   game->get_screen_grayscale(gray);              // (210,160), grey as the ALE computes it
//   if (game->game_over()) game->reset_game();
//
// Our games (breakout.cpp, pong.cpp) are written from scratch; an adapter over the real ALE C++
// library implements this same interface in one file (act -> ALEInterface::act,
// get_screen_grayscale -> getScreenGrayscale, ...) and nothing above it changes.
//
// Screens hold NTSC palette indices, as the ALE's do; RGB and grey come from the palette at
// read time, grey exactly as ALE's ColourPalette derives it (see ntsc_grey below).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/rng.hpp"

namespace dqn {

// ALE action codes (ale::Action, PLAYER_A_*), the numbers the ALE's getMinimalActionSet returns.
enum AtariAction : int {
  kNoop = 0,
  kFire = 1,
  kUp = 2,
  kRight = 3,
  kLeft = 4,
  kDown = 5,
  kUpRight = 6,
  kUpLeft = 7,
  kDownRight = 8,
  kDownLeft = 9,
  kUpFire = 10,
  kRightFire = 11,
  kLeftFire = 12,
  kDownFire = 13,
  kUpRightFire = 14,
  kUpLeftFire = 15,
  kDownRightFire = 16,
  kDownLeftFire = 17,
};
constexpr int kNumAleActions = 18;
// The joystick directions an action holds. Games read only the directions they use, so an
// action outside a game's minimal set acts as its horizontal meaning (UPRIGHT as RIGHT).
constexpr bool action_pushes_right(int a) {
  return a == kRight || a == kUpRight || a == kDownRight || a == kRightFire || a == kUpRightFire ||
         a == kDownRightFire;
}
constexpr bool action_pushes_left(int a) {
  return a == kLeft || a == kUpLeft || a == kDownLeft || a == kLeftFire || a == kUpLeftFire ||
         a == kDownLeftFire;
}
// "NOOP", "FIRE", "UP", "RIGHT", ... as gymnasium's get_action_meanings() spells them.
const char* atari_action_name(int action);
// All 18 ALE action codes in ALE's order (NOOP, FIRE, UP, ..., DOWNLEFTFIRE): the full action
// space of Machado et al. 2018 and Gymnasium's full_action_space=True.
std::vector<int> full_action_set();

// Settings read when a game is built (like ALE's setFloat/setInt before loadROM).
struct AtariSettings {
  // Sticky actions (Machado et al. 2018): each frame, with this probability the previous frame's
  // action is kept instead of the new one. ALE v5's default is 0.25; ours 0.0 as in Mnih et al.
  // 2015, since the DQN reproduction compares against that paper.
  double repeat_action_probability = 0.0;
  std::uint64_t random_seed = 0;  // the game's own randomness (serves, sticky actions)
  // ROM games (envs/rom_game.hpp) only: ALE's game mode (-1: the game's default) and difficulty.
  int mode = -1;
  int difficulty = 0;
};

// The NTSC palette entries our games draw with, by their ALE/Stella palette index (even; the
// ALE stores the grey of entry i at i + 1). RGB values are Stella's NTSC table.
struct PaletteColour {
  std::uint8_t index, r, g, b;
};
namespace ntsc {
constexpr PaletteColour kBlack{0x00, 0x00, 0x00, 0x00};
constexpr PaletteColour kGrey142{0x06, 0x8e, 0x8e, 0x8e};    // Breakout walls and score
constexpr PaletteColour kWhite236{0x0e, 0xec, 0xec, 0xec};   // Pong walls and ball
constexpr PaletteColour kYellow162{0x16, 0xa2, 0xa2, 0x2a};  // Breakout row 3 (from the top)
constexpr PaletteColour kBrown144{0x22, 0x90, 0x48, 0x11};   // Pong background
constexpr PaletteColour kOchre180{0x26, 0xb4, 0x7a, 0x30};   // Breakout row 2
constexpr PaletteColour kOrange198{0x36, 0xc6, 0x6c, 0x3a};  // Breakout row 1
constexpr PaletteColour kOrange213{0x38, 0xd5, 0x82, 0x4a};  // Pong opponent
constexpr PaletteColour kRed200{0x46, 0xc8, 0x48, 0x48};     // Breakout row 0, paddle, ball
constexpr PaletteColour kBlue200{0x86, 0x42, 0x48, 0xc8};    // Breakout row 5
constexpr PaletteColour kGreen160{0xc6, 0x48, 0xa0, 0x48};   // Breakout row 4
constexpr PaletteColour kGreen186{0xc8, 0x5c, 0xba, 0x5c};   // Pong agent
constexpr std::array<PaletteColour, 12> kUsed = {kBlack,    kGrey142,  kWhite236,  kYellow162,
                                                 kBrown144, kOchre180, kOrange198, kOrange213,
                                                 kRed200,   kBlue200,  kGreen160,  kGreen186};
}  // namespace ntsc

// ALE's ColourPalette convertGrayscale: round(r * 0.2989 + g * 0.5870 + b * 0.1140) in double.
std::uint8_t ntsc_grey(std::uint8_t r, std::uint8_t g, std::uint8_t b);

class AtariScreen {
 public:
  static constexpr int kHeight = 210, kWidth = 160;

  virtual ~AtariScreen() = default;
  virtual std::string game_name() const = 0;
  // ALE action codes, in the order gymnasium's minimal action space numbers them.
  virtual std::vector<int> minimal_action_set() const = 0;
  // A new game (ALE reset_game); the game's Rng goes on from where it was.
  virtual void reset_game() = 0;
  // Reseeds the game's Rng and resets (ALE: setInt("random_seed", s) then loadROM).
  virtual void set_seed(std::uint64_t seed) = 0;
  // One emulated frame with an ALE action code (any of the 18; those outside the minimal set act
  // as their nearest meaning or as NOOP); returns the score change of that frame.
  virtual int act(int action) = 0;
  // A frame left in an agent step after the episode ended (game over or the frame cap), for
  // which ALE's act() draws its sticky-action numbers and emulates nothing. The emulator
  // (RomGame) draws them, to stay in step with ALE; our own games have their own generator,
  // which has no such draws to match, and ignore it.
  virtual void idle_frame(int /*action*/) {}
  // A speed hint for the act() calls that follow: false = nobody will read their screens.
  // Screens read anyway must still be right; games that draw lazily can ignore it.
  virtual void set_screen_wanted(bool /*wanted*/) {}
  virtual bool game_over() const = 0;
  virtual int lives() const = 0;
  virtual std::int64_t episode_frame_number() const = 0;
  virtual std::int64_t frame_number() const = 0;
  virtual void get_screen(std::uint8_t* palette_indices) const = 0;  // (210,160)
  virtual void get_screen_grayscale(std::uint8_t* grey) const = 0;   // (210,160)
  virtual void get_screen_rgb(std::uint8_t* rgb) const = 0;          // (210,160,3)
  virtual void save_state(std::string& blob) const = 0;
  virtual void load_state(std::string_view blob) = 0;  // throws on a bad blob, changes nothing
};

// "breakout", "pong" or "catch"; other names throw an Error listing these.
std::unique_ptr<AtariScreen> make_atari_game(const std::string& game,
                                             const AtariSettings& settings = {});

// What our games share: a frame of palette indices drawn lazily (only when a screen is read, so
// emulating frames nobody looks at costs no drawing), sticky actions, frame counters, and the
// palette lookups. A game implements the five protected hooks.
class ScreenGame : public AtariScreen {
 public:
  explicit ScreenGame(const AtariSettings& settings);

  void reset_game() override;
  void set_seed(std::uint64_t seed) override;
  int act(int action) override;
  std::int64_t episode_frame_number() const override { return episode_frame_; }
  std::int64_t frame_number() const override { return frame_; }
  void get_screen(std::uint8_t* palette_indices) const override;
  void get_screen_grayscale(std::uint8_t* grey) const override;
  void get_screen_rgb(std::uint8_t* rgb) const override;
  void save_state(std::string& blob) const override;
  void load_state(std::string_view blob) override;

 protected:
  virtual void new_game() = 0;                // set the game's state for a new game
  virtual int emulate_frame(int action) = 0;  // one frame with the effective action
  // Draws the screen (210,160), writing colour[palette index] for each pixel: colour is the
  // identity for the palette-index screen and the grey table for the grey one, so a grey read
  // costs one drawing pass and no per-pixel palette lookup.
  virtual void draw(std::uint8_t* frame, const std::uint8_t* colour) const = 0;
  virtual std::string game_state() const = 0;               // the game's own fields as bytes
  virtual bool set_game_state(std::string_view bytes) = 0;  // false: malformed
  void mark_dirty() { dirty_ = true; }
  Rng& rng() { return rng_; }

 private:
  const std::uint8_t* frame() const;

  AtariSettings settings_;
  Rng rng_;         // the game's randomness
  Rng sticky_rng_;  // sticky-action draws, a stream of their own
  int last_action_ = kNoop;
  std::int64_t frame_ = 0, episode_frame_ = 0;
  mutable std::array<std::uint8_t, kHeight * kWidth> frame_buf_{};
  mutable bool dirty_ = true;
};

// Draws a digit 0..9 in the games' 4x5 font, each font pixel scale_x wide and scale_y tall.
void draw_digit(std::uint8_t* frame, int digit, int x, int y, int scale_x, int scale_y,
                std::uint8_t colour);
// Draws a non-negative number right-aligned so its last digit ends at column right_x.
void draw_number(std::uint8_t* frame, int value, int right_x, int y, int scale_x, int scale_y,
                 std::uint8_t colour);
// Fills rows [y0,y1) x columns [x0,x1), clipped to the screen.
void fill_rect(std::uint8_t* frame, int x0, int y0, int x1, int y1, std::uint8_t colour);

}  // namespace dqn
