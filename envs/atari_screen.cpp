// envs/atari_screen.cpp: the palette, the shared ScreenGame machinery and make_atari_game.
#include "envs/atari_screen.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "envs/breakout.hpp"
#include "envs/catch.hpp"
#include "envs/pong.hpp"
#include "envs/state_blob.hpp"

namespace dqn {

std::vector<int> full_action_set() {
  std::vector<int> all(kNumAleActions);
  for (int a = 0; a < kNumAleActions; ++a) all[static_cast<std::size_t>(a)] = a;
  return all;
}

const char* atari_action_name(int action) {
  static constexpr const char* kNames[kNumAleActions] = {
      "NOOP",     "FIRE",     "UP",          "RIGHT",      "LEFT",          "DOWN",
      "UPRIGHT",  "UPLEFT",   "DOWNRIGHT",   "DOWNLEFT",   "UPFIRE",        "RIGHTFIRE",
      "LEFTFIRE", "DOWNFIRE", "UPRIGHTFIRE", "UPLEFTFIRE", "DOWNRIGHTFIRE", "DOWNLEFTFIRE"};
  DQN_CHECK(action >= 0 && action < kNumAleActions,
            "atari_action_name: expected an ALE action in [0, ", kNumAleActions, "), got ", action);
  return kNames[action];
}

std::uint8_t ntsc_grey(std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  return static_cast<std::uint8_t>(std::round(r * 0.2989 + g * 0.5870 + b * 0.1140));
}

namespace {

// Palette index -> RGB and grey for the entries in ntsc::kUsed; other indices show as black.
struct PaletteTables {
  std::array<std::uint8_t, 256> grey{}, identity{};
  std::array<std::array<std::uint8_t, 3>, 256> rgb{};
  PaletteTables() {
    for (int i = 0; i < 256; ++i) identity[i] = static_cast<std::uint8_t>(i);
    for (const PaletteColour& c : ntsc::kUsed) {
      grey[c.index] = ntsc_grey(c.r, c.g, c.b);
      rgb[c.index] = {c.r, c.g, c.b};
    }
  }
};
const PaletteTables& palette() {
  static const PaletteTables tables;
  return tables;
}

// 4x5 digits, one row per byte, bit 3 the leftmost column.
constexpr std::uint8_t kFont[10][5] = {{0xF, 0x9, 0x9, 0x9, 0xF}, {0x2, 0x6, 0x2, 0x2, 0x7},
                                       {0xF, 0x1, 0xF, 0x8, 0xF}, {0xF, 0x1, 0x7, 0x1, 0xF},
                                       {0x9, 0x9, 0xF, 0x1, 0x1}, {0xF, 0x8, 0xF, 0x1, 0xF},
                                       {0xF, 0x8, 0xF, 0x9, 0xF}, {0xF, 0x1, 0x2, 0x4, 0x4},
                                       {0xF, 0x9, 0xF, 0x9, 0xF}, {0xF, 0x9, 0xF, 0x1, 0xF}};

}  // namespace

void fill_rect(std::uint8_t* frame, int x0, int y0, int x1, int y1, std::uint8_t colour) {
  x0 = std::max(x0, 0), y0 = std::max(y0, 0);
  x1 = std::min(x1, AtariScreen::kWidth), y1 = std::min(y1, AtariScreen::kHeight);
  for (int y = y0; y < y1; ++y) {
    if (x1 > x0)
      std::fill(frame + y * AtariScreen::kWidth + x0, frame + y * AtariScreen::kWidth + x1, colour);
  }
}

void draw_digit(std::uint8_t* frame, int digit, int x, int y, int scale_x, int scale_y,
                std::uint8_t colour) {
  for (int row = 0; row < 5; ++row) {
    for (int col = 0; col < 4; ++col) {
      if (kFont[digit][row] & (0x8 >> col)) {
        fill_rect(frame, x + col * scale_x, y + row * scale_y, x + (col + 1) * scale_x,
                  y + (row + 1) * scale_y, colour);
      }
    }
  }
}

void draw_number(std::uint8_t* frame, int value, int right_x, int y, int scale_x, int scale_y,
                 std::uint8_t colour) {
  const int advance = 5 * scale_x;  // 4 columns and a gap
  int x = right_x - 4 * scale_x;
  do {
    draw_digit(frame, value % 10, x, y, scale_x, scale_y, colour);
    value /= 10;
    x -= advance;
  } while (value > 0);
}

ScreenGame::ScreenGame(const AtariSettings& settings)
    : settings_(settings), rng_(settings.random_seed), sticky_rng_(settings.random_seed, 1) {
  DQN_CHECK(settings.repeat_action_probability >= 0 && settings.repeat_action_probability <= 1,
            "AtariSettings: repeat_action_probability must be in [0, 1], got ",
            settings.repeat_action_probability, " (0.25 is ALE v5's sticky default, 0 disables)");
}

void ScreenGame::reset_game() {
  last_action_ = kNoop;
  episode_frame_ = 0;
  new_game();
  dirty_ = true;
}

void ScreenGame::set_seed(std::uint64_t seed) {
  settings_.random_seed = seed;
  rng_ = Rng(seed);
  sticky_rng_ = Rng(seed, 1);
  reset_game();
}

int ScreenGame::act(int action) {
  DQN_CHECK(action >= 0 && action < kNumAleActions, game_name(),
            ": expected an ALE action code in [0, ", kNumAleActions, "), got ", action,
            ": map the agent's index through minimal_action_set()");
  // ALE's StellaEnvironment::act: the new action replaces the previous one only with probability
  // 1 - repeat_action_probability. No draw when stickiness is off, so the stream stays unused.
  if (settings_.repeat_action_probability == 0 ||
      sticky_rng_.uniform_double() >= settings_.repeat_action_probability) {
    last_action_ = action;
  }
  ++frame_;
  ++episode_frame_;
  dirty_ = true;
  return emulate_frame(last_action_);
}

const std::uint8_t* ScreenGame::frame() const {
  if (dirty_) {
    draw(frame_buf_.data(), palette().identity.data());
    dirty_ = false;
  }
  return frame_buf_.data();
}

void ScreenGame::get_screen(std::uint8_t* palette_indices) const {
  std::copy(frame(), frame() + kHeight * kWidth, palette_indices);
}

void ScreenGame::get_screen_grayscale(std::uint8_t* grey) const {
  draw(grey, palette().grey.data());
}

void ScreenGame::get_screen_rgb(std::uint8_t* rgb) const {
  const std::uint8_t* f = frame();
  const auto& lut = palette().rgb;
  for (int i = 0; i < kHeight * kWidth; ++i) {
    rgb[3 * i + 0] = lut[f[i]][0];
    rgb[3 * i + 1] = lut[f[i]][1];
    rgb[3 * i + 2] = lut[f[i]][2];
  }
}

void ScreenGame::save_state(std::string& blob) const {
  const std::string tag = game_name() + "/1";
  BlobWriter w(blob, tag);
  w.put(settings_.repeat_action_probability);
  w.put_rng(rng_);
  w.put_rng(sticky_rng_);
  w.put<std::int32_t>(last_action_);
  w.put(frame_);
  w.put(episode_frame_);
  const std::string game = game_state();
  w.put_bytes(game.data(), game.size());
}

void ScreenGame::load_state(std::string_view blob) {
  const std::string tag = game_name() + "/1";
  BlobReader r(blob, tag);
  const auto p = r.get<double>();
  DQN_CHECK(p == settings_.repeat_action_probability, game_name(),
            "::load_state: expected repeat_action_probability ",
            settings_.repeat_action_probability, ", the blob has ", p,
            ": build the game with the settings of the run that saved it");
  const Rng rng = r.get_rng(), sticky = r.get_rng();
  const auto last = r.get<std::int32_t>();
  const auto frame = r.get<std::int64_t>(), episode_frame = r.get<std::int64_t>();
  const std::string game = game_state();  // the game's state has a fixed size
  std::string bytes(game.size(), '\0');
  r.get_bytes(bytes.data(), bytes.size());
  r.finish();
  DQN_CHECK(last >= 0 && last < kNumAleActions && frame >= 0 && episode_frame >= 0, game_name(),
            "::load_state: the blob holds impossible values: it is corrupt");
  DQN_CHECK(set_game_state(bytes), game_name(),
            "::load_state: the game's fields are out of range: the blob is corrupt");
  rng_ = rng, sticky_rng_ = sticky;
  last_action_ = last;
  frame_ = frame, episode_frame_ = episode_frame;
  dirty_ = true;
}

std::unique_ptr<AtariScreen> make_atari_game(const std::string& game,
                                             const AtariSettings& settings) {
  if (game == "breakout") return std::make_unique<Breakout>(settings);
  if (game == "pong") return std::make_unique<Pong>(settings);
  if (game == "catch") return std::make_unique<Catch>(settings);
  throw_error("make_atari_game: expected one of breakout, pong, catch, got '", game, "'");
}

}  // namespace dqn
