// envs/atari2600/games.cpp: the table of the 30 games (and our own catch2600) and the generic step
// that turns a game's reading of RAM into ALE's reward, terminal and lives. Every entry restates
// GAMES.md §2 (ROM, properties, actions, modes) and §3 (formulas); a game needs code of its own
// only for its RAM formula, and for the few latches GAMES.md names (breakout, chopper_command,
// demon_attack, qbert, beam_rider).
#include "envs/atari2600/games.hpp"

#include <algorithm>

#include "envs/atari2600/bundled.hpp"

namespace atari2600 {
namespace {

// GAMES.md §0: S2(lo, hi) and S3(lo, mid, hi) over BCD bytes.
int s2(const Ram& r, int lo, int hi) {
  return bcd(at(r, lo)) + 100 * bcd(at(r, hi));
}
int s3(const Ram& r, int lo, int mid, int hi) {
  return bcd(at(r, lo)) + 100 * bcd(at(r, mid)) + 10000 * bcd(at(r, hi));
}
// A nibble that reads $A stands for 0 (battle_zone, road_runner).
int digit(int nibble) {
  return nibble == 0xA ? 0 : nibble;
}

std::vector<int> range(int first, int last, int step = 1) {
  std::vector<int> v;
  for (int i = first; i <= last; i += step) v.push_back(i);
  return v;
}

const std::vector<int> kAll = range(0, 17);
const std::vector<int> kDirections = {0, 2, 3, 4, 5, 6, 7, 8, 9};  // NOOP + the 8 directions
const std::vector<int> kFireSides = {0, 1, 3, 4, 11, 12};          // NOOP FIRE RIGHT LEFT +FIRE

std::vector<Game> make_games() {
  using R = RewardRule;
  std::vector<Game> g;
  g.push_back({.id = "alien",
               .md5 = "f1a0a23e6464d954e3a9579c4ccd01c8",
               .rom_bytes = 4096,
               .bank = "4K",
               .minimal = kAll,
               .modes = {0, 1, 2, 3},
               .difficulties = {0, 1, 2, 3},
               .reset_lives = 3,
               .gated_lives = false,  // GAMES.md §8.5
               .read =
                   [](const Ram& r, Latches&) {
                     // Digit-glyph offsets, 8 bytes per glyph; $80 is a blank digit.
                     auto d = [&](int a) { return at(r, a) == 0x80 ? 0 : at(r, a) >> 3; };
                     const int lives = at(r, 0xC0) & 0x0F;
                     return Reading{10 * (d(0x8B) + 10 * d(0x89) + 100 * d(0x87) + 1000 * d(0x85) +
                                          10000 * d(0x83)),
                                    lives == 0, lives};
                   },
               .sel_frames = 1,
               .mode_byte = 0x81});
  g.push_back({.id = "amidar",
               .md5 = "acb7750b4d0c4bd34969802a7deb2990",
               .rom_bytes = 4096,
               .bank = "4K",
               .power_on_difficulty = 3,
               .minimal = {0, 1, 2, 3, 4, 5, 10, 11, 12, 13},
               .modes = {0},
               .difficulties = {0, 3},
               .reset_lives = 3,
               .read = [](const Ram& r, Latches&) {
                 return Reading{s3(r, 0xD9, 0xDA, 0xDB), at(r, 0xD6) == 0x80, at(r, 0xD6) & 0x0F};
               }});
  g.push_back({.id = "assault",
               .md5 = "de78b3a064d374390ac0710f95edde92",
               .rom_bytes = 4096,
               .bank = "4K",
               .minimal = {0, 1, 2, 3, 4, 11, 12},
               .modes = {0},
               .difficulties = {0},
               .reset_lives = 4,
               .read = [](const Ram& r, Latches&) {
                 return Reading{s3(r, 0x82, 0x81, 0x80), at(r, 0xE5) == 0, at(r, 0xE5)};
               }});
  g.push_back({.id = "asterix",
               .md5 = "89a68746eff7f266bbf08de2483abe55",
               .rom_bytes = 8192,
               .bank = "F8",
               .minimal = kDirections,
               .modes = {0},
               .difficulties = {0},
               .start_actions = {1},
               .reset_lives = 3,
               .read = [](const Ram& r, Latches&) {
                 const int lives = at(r, 0xD3) & 0x0F;
                 return Reading{s3(r, 0xE0, 0xDF, 0xDE), at(r, 0xC7) == 0x01 && lives == 1, lives};
               }});
  g.push_back({.id = "bank_heist",
               .md5 = "00ce0bdd43aed84a983bef38fe7f5ee3",
               .rom_bytes = 4096,
               .bank = "4K",
               .minimal = kAll,
               .modes = range(0, 28, 4),
               .difficulties = {0, 1, 2, 3},
               .reset_lives = 5,
               .read =
                   [](const Ram& r, Latches&) {
                     return Reading{s3(r, 0xDA, 0xD9, 0xD8),
                                    at(r, 0xCE) == 0x01 && at(r, 0xD5) == 0, at(r, 0xD5)};
                   },
               .sel_frames = 1,
               .mode_byte = 0x80});
  g.push_back({.id = "battle_zone",
               .md5 = "41f252a66c6301f1e8ab3612c19bc5d4",
               .rom_bytes = 8192,
               .bank = "F8",
               .hmove_blanks = false,
               .minimal = kAll,
               .modes = {1, 2, 3},
               .difficulties = {0},
               .reset_lives = 5,
               .read =
                   [](const Ram& r, Latches&) {
                     // The low nibble of $9D is ignored.
                     const int score =
                         1000 * (digit(at(r, 0x9D) >> 4) + 10 * digit(at(r, 0x9E) & 15) +
                                 100 * digit(at(r, 0x9E) >> 4));
                     const int lives = at(r, 0xBA) & 0x0F;
                     return Reading{score, lives == 0, lives};
                   },
               .sel_frames = 2,
               .mode_byte = 0xA1});
  g.push_back({.id = "boxing",
               .md5 = "c3ef5c4653212088eda54dc91d787870",
               .rom_bytes = 2048,
               .bank = "2K",
               .minimal = kAll,
               .modes = {0},
               .difficulties = {0, 1, 2, 3},
               .read = [](const Ram& r, Latches&) {
                 auto points = [&](int a) { return at(r, a) == 0xC0 ? 100 : bcd(at(r, a)); };  // KO
                 const int my = points(0x92), cpu = points(0x93);
                 const bool clock_out = (at(r, 0x90) >> 4) == 0 && bcd(at(r, 0x91)) == 0;
                 return Reading{my - cpu, my == 100 || cpu == 100 || clock_out, 0};
               }});
  g.push_back({.id = "breakout",
               .md5 = "f34f08e5eb96e500e851a80be3277a56",
               .rom_bytes = 2048,
               .bank = "2K",
               .paddles = true,
               .minimal = {0, 1, 3, 4},
               .modes = range(0, 44, 4),
               .difficulties = {0, 1},
               .reset_lives = 5,
               .read =
                   [](const Ram& r, Latches& l) {
                     if (at(r, 0xB9) == 5) l.flag = true;  // "started", cleared only by reset
                     return Reading{bcd(at(r, 0xCD)) + 100 * (at(r, 0xCC) & 0x0F),
                                    l.flag && at(r, 0xB9) == 0, at(r, 0xB9)};
                   },
               .sel_frames = 1,
               .mode_byte = 0xB2});
  g.push_back({.id = "chopper_command",
               .md5 = "c1cb228470a87beb5f36e90ac745da26",
               .rom_bytes = 4096,
               .bank = "4K",
               .minimal = kAll,
               .modes = {0, 2},
               .difficulties = {0, 1},
               .reset_lives = 3,
               .gated_lives = false,  // GAMES.md §8.5: may read 0 before the game starts
               .read =
                   [](const Ram& r, Latches& l) {
                     l.flag = l.flag || (at(r, 0xC2) & 1);
                     const int lives = at(r, 0xE4) & 0x0F;
                     return Reading{100 * s2(r, 0xEE, 0xEC), l.flag && lives == 0, lives};
                   },
               .sel_frames = 2,
               .mode_byte = 0xE0});
  g.push_back({.id = "crazy_climber",
               .md5 = "55ef7b65066428367844342ed59f956c",
               .rom_bytes = 8192,
               .bank = "F8",
               .minimal = kDirections,
               .modes = {0, 1, 2, 3},
               .difficulties = {0, 1},
               .reset_lives = 5,
               .reward_rule = R::kNonNegative,
               .read =
                   [](const Ram& r, Latches&) {
                     // One binary digit per byte, not BCD.
                     const int score = 100 * (at(r, 0x82) + 10 * at(r, 0x83) + 100 * at(r, 0x84) +
                                              1000 * at(r, 0x85));
                     return Reading{score, at(r, 0xAA) == 0, at(r, 0xAA)};
                   },
               .sel_frames = 2,
               .mode_byte = 0x80});
  g.push_back({.id = "demon_attack",
               .md5 = "f0e0addc07971561ab80d9abe1b8d333",
               .rom_bytes = 4096,
               .bank = "4K",
               .minimal = kFireSides,
               .modes = {1, 3, 5, 7},
               .difficulties = {0, 1},
               .reset_lives = 4,
               .read =
                   [](const Ram& r, Latches& l) {
                     // $AB $CD $EA: uninitialised RAM, not a score.
                     const bool junk =
                         at(r, 0x81) == 0xAB && at(r, 0x83) == 0xCD && at(r, 0x85) == 0xEA;
                     const bool terminal = at(r, 0xF2) == 0 && at(r, 0xF1) == 0xBD && !l.flag;
                     l.flag = false;  // level_change masks one frame only
                     return Reading{junk ? 0 : s3(r, 0x85, 0x83, 0x81), terminal, at(r, 0xF2) + 1};
                   },
               .sel_frames = 1,
               .mode_byte = 0xEA,
               .latch_before_mode_reset = true});
  g.push_back({.id = "freeway",
               .md5 = "8e0ab801b1705a740b476b7f588c6d16",
               .rom_bytes = 2048,
               .bank = "2K",
               .minimal = {0, 2, 5},
               .modes = range(0, 7),
               .difficulties = {0, 1},
               .reward_rule = R::kClampZeroOne,
               .read =
                   [](const Ram& r, Latches&) {
                     return Reading{bcd(at(r, 0xE7)), at(r, 0x96) == 1, 0};
                   },
               .sel_frames = 1,
               .mode_byte = 0x80});
  g.push_back(
      {.id = "frostbite",
       .md5 = "4ca73eb959299471788f0b685c3ba0b5",
       .rom_bytes = 4096,
       .bank = "4K",
       .minimal = kAll,
       .modes = {0, 2},
       .difficulties = {0},
       .reset_lives = 4,
       .read =
           [](const Ram& r, Latches&) {
             const int l = at(r, 0xCC) & 0x0F;
             return Reading{s3(r, 0xCA, 0xC9, 0xC8), l == 0 && (at(r, 0xF1) & 0x80) != 0, l + 1};
           },
       .sel_frames = 1,
       .mode_byte = 0x80});
  g.push_back({.id = "gopher",
               .md5 = "c16c79aad6272baffb8aae9a7fff0864",
               .rom_bytes = 4096,
               .bank = "4K",
               .minimal = {0, 1, 2, 3, 4, 10, 11, 12},
               .modes = {0, 2},
               .difficulties = {0, 1},
               .start_actions = {1},
               .reset_lives = 3,
               .read =
                   [](const Ram& r, Latches&) {
                     const int carrots = at(r, 0xB4) & 7;
                     return Reading{s3(r, 0xB2, 0xB1, 0xB0), carrots == 0,
                                    (carrots & 1) + (carrots >> 1 & 1) + (carrots >> 2)};
                   },
               .sel_frames = 5,
               .mode_byte = 0xD3,
               .soft_reset_before_modes = true});
  g.push_back({.id = "hero",
               .md5 = "fca4a5be1251927027f2c24774a02160",
               .rom_bytes = 8192,
               .bank = "F8",
               .minimal = kAll,
               .modes = range(0, 4),
               .difficulties = {0},
               .reset_lives = 4,
               .read =
                   [](const Ram& r, Latches&) {
                     return Reading{s3(r, 0xB9, 0xB8, 0xB7), at(r, 0xB3) == 0, at(r, 0xB3)};
                   },
               .sel_frames = 1,
               .mode_byte = 0x80});
  g.push_back({.id = "jamesbond",
               .md5 = "e51030251e440cffaab1ac63438b44ae",
               .rom_bytes = 8192,
               .bank = "E0",
               .minimal = kAll,
               .modes = {0, 1},
               .difficulties = {0},
               .reset_lives = 6,
               .read =
                   [](const Ram& r, Latches&) {
                     const int l = at(r, 0x86) & 0x0F;
                     return Reading{s3(r, 0xDC, 0xDD, 0xDE), l == 0 && at(r, 0x8C) == 0x68, l + 1};
                   },
               .sel_frames = 20,
               .mode_reached = [](const Ram& r,
                                  int m) { return at(r, 0x8C) == m || at(r, 0x8C) == m + 0x48; }});
  g.push_back(
      {.id = "kangaroo",
       .md5 = "4326edb70ff20d0ee5ba58fa5cb09d60",
       .rom_bytes = 8192,
       .bank = "F8",
       .minimal = kAll,
       .modes = {0, 1},
       .difficulties = {0},
       .reset_lives = 3,
       .read =
           [](const Ram& r, Latches&) {
             return Reading{100 * s2(r, 0xA8, 0xA7), at(r, 0xAD) == 0xFF, (at(r, 0xAD) & 7) + 1};
           },
       .sel_frames = 2,
       .mode_reached = [](const Ram& r,
                          int m) { return at(r, 0xBA) == m || at(r, 0xBA) == m + 0x80; }});
  g.push_back({.id = "krull",
               .md5 = "4baada22435320d185c95b7dd2bcdb24",
               .rom_bytes = 8192,
               .bank = "F8",
               .minimal = kAll,
               .modes = {0},
               .difficulties = {0},
               .reset_lives = 3,
               .read = [](const Ram& r, Latches&) {
                 const bool over = at(r, 0x9F) == 0 && at(r, 0xA2) == 0x03 && at(r, 0x80) == 0x80;
                 return Reading{s3(r, 0x9E, 0x9D, 0x9C), over, (at(r, 0x9F) & 7) + 1};
               }});
  g.push_back(
      {.id = "kung_fu_master",
       .md5 = "5b92a93b23523ff16e2789b820e2a4c5",
       .rom_bytes = 8192,
       .bank = "F8",
       .minimal = {0, 2, 3, 4, 5, 8, 9, 11, 12, 13, 14, 15, 16, 17},
       .modes = {0},
       .difficulties = {0},
       .reset_lives = 4,
       .read = [](const Ram& r, Latches&) {
         return Reading{s3(r, 0x9A, 0x99, 0x98), at(r, 0x9D) == 0xFF, (at(r, 0x9D) & 7) + 1};
       }});
  g.push_back(
      {.id = "ms_pacman",
       .md5 = "87e79cd41ce136fd4f72cc6e2c161bee",
       .rom_bytes = 8192,
       .bank = "F8",
       .hmove_blanks = false,
       .minimal = kDirections,
       .modes = {0, 1, 2, 3},
       .difficulties = {0},
       .reset_lives = 3,
       .read =
           [](const Ram& r, Latches&) {
             const int l = at(r, 0xFB) & 0x0F;
             return Reading{s3(r, 0xF8, 0xF9, 0xFA), l == 0 && at(r, 0xA7) == 0x53, (l & 7) + 1};
           },
       .sel_frames = 10,
       .mode_reached =
           [](const Ram& r, int m) {
             return m == 0 ? at(r, 0x99) == 1 && at(r, 0xA1) == 1
                           : at(r, 0x99) == m && at(r, 0xA1) == 0;
           }});
  g.push_back(
      {.id = "pong",
       .md5 = "60e0ea3cbe0913d39803477945e9e5ec",
       .rom_bytes = 2048,
       .bank = "2K",
       .paddles = true,
       .swap_paddles = true,
       .minimal = kFireSides,
       .modes = {0, 1},
       .difficulties = {0, 1, 2, 3},
       .read =
           [](const Ram& r, Latches&) {
             // $8D the computer's points, $8E the player's; plain bytes, 21 ends the game.
             return Reading{at(r, 0x8E) - at(r, 0x8D), at(r, 0x8D) == 21 || at(r, 0x8E) == 21, 0};
           },
       .sel_frames = 2,
       .mode_byte = 0x96});
  g.push_back({.id = "private_eye",
               .md5 = "ef3a4f64b6494ba770862768caf04b86",
               .rom_bytes = 8192,
               .bank = "F8",
               .minimal = kAll,
               .modes = range(0, 4),
               .difficulties = {0, 1, 2, 3},
               .start_actions = {2},
               .reset_prev = 1000,
               .read =
                   [](const Ram& r, Latches&) {
                     return Reading{s3(r, 0xCA, 0xC9, 0xC8), at(r, 0xC2) > 0x01, 0};
                   },
               .sel_frames = 2,
               .mode_byte = 0x80});
  g.push_back({.id = "qbert",
               .md5 = "484b0076816a104875e00467d431c2d2",
               .rom_bytes = 4096,
               .bank = "4K",
               .ystart = 40,
               .minimal = range(0, 5),
               .modes = {0},
               .difficulties = {0, 1},
               .reset_lives = 4,
               .reward_rule = R::kZeroOnTerminal,
               .read = [](const Ram& r, Latches& l) {
                 // $88 as a signed byte (GAMES.md §8.2: x86-64's char is the reference).
                 const int v = at(r, 0x88);
                 const int s = v >= 128 ? v - 256 : v;
                 // The terminal test sees `last` from the previous frame; then the counter.
                 const bool terminal = v == 0xFE || (v == 0x02 && l.last == -1);
                 if (l.last - 1 == s) --l.counter;
                 l.last = s;
                 return Reading{s3(r, 0xDB, 0xDA, 0xD9), terminal, l.counter};
               }});
  g.push_back({.id = "road_runner",
               .md5 = "ce5cc62608be2cd3ed8abd844efb8919",
               .rom_bytes = 16384,
               .bank = "F6",
               .minimal = kAll,
               .modes = {0},
               .difficulties = {0},
               .reset_lives = 3,
               .read = [](const Ram& r, Latches&) {
                 auto d = [&](int k) { return digit(at(r, 0xC9 + k) & 0x0F); };
                 const int l = at(r, 0xC4) & 7;
                 return Reading{100 * (d(0) + 10 * d(1) + 100 * d(2) + 1000 * d(3)),
                                l == 0 && (at(r, 0xB9) != 0 || at(r, 0xBD) != 0), l + 1};
               }});
  g.push_back({.id = "seaquest",
               .md5 = "240bfbac5163af4df5ae713985386f92",
               .rom_bytes = 4096,
               .bank = "4K",
               .minimal = kAll,
               .modes = {0},
               .difficulties = {0, 1},
               .reset_lives = 4,
               .read = [](const Ram& r, Latches&) {
                 return Reading{s3(r, 0xBA, 0xB9, 0xB8), at(r, 0xA3) != 0, at(r, 0xBB) + 1};
               }});
  g.push_back({.id = "up_n_down",
               .md5 = "a499d720e7ee35c62424de882a3351b6",
               .rom_bytes = 8192,
               .bank = "F8",
               .ystart = 30,
               .minimal = {0, 1, 2, 5, 10, 13},
               .modes = {0},
               .difficulties = {0, 1, 2, 3},
               .start_actions = {1},
               .reset_lives = 5,
               .read = [](const Ram& r, Latches&) {
                 const int l = at(r, 0x86) & 0x0F;
                 return Reading{s3(r, 0x82, 0x81, 0x80), at(r, 0x94) > 0x40 && l == 0, l + 1};
               }});
  g.push_back({.id = "beam_rider",
               .md5 = "79ab4123a83dc11d468fb2108ea09e2e",
               .rom_bytes = 8192,
               .bank = "F8",
               .minimal = {0, 1, 2, 3, 4, 6, 7, 11, 12},
               .modes = {0},
               .difficulties = {0, 1},
               .start_actions = {3},
               .reset_lives = 3,
               .read = [](const Ram& r, Latches& l) {
                 // A count one lower is believed only when $8C says a life was really lost.
                 const int n = at(r, 0x85) + 1;
                 if (n != l.counter - 1 || at(r, 0x8C) == 0x01) l.counter = n;
                 return Reading{s3(r, 0x89, 0x8A, 0x8B), at(r, 0x85) == 0xFF, l.counter};
               }});
  g.push_back({.id = "enduro",
               .md5 = "94b92a882f6dbaa6993a46e2dcc58402",
               .rom_bytes = 4096,
               .bank = "4K",
               .minimal = {0, 1, 3, 4, 5, 8, 9, 11, 12},
               .modes = {0},
               .difficulties = {0},
               .start_actions = {1},
               .read = [](const Ram& r, Latches&) {
                 const int level = at(r, 0xAD), rem = s2(r, 0xAB, 0xAC);  // cars still to pass
                 const int score = level == 0   ? 0
                                   : level == 1 ? 200 - rem
                                                : 200 + 300 * (level - 2) + (300 - rem);
                 return Reading{score, at(r, 0xAF) == 0xFF, 0};
               }});
  g.push_back({.id = "space_invaders",
               .md5 = "72ffbef6504b75e69ee1045af9075f66",
               .rom_bytes = 4096,
               .bank = "4K",
               .minimal = kFireSides,
               .modes = range(0, 15),
               .difficulties = {0, 1},
               .reset_lives = 3,
               .reward_rule = R::kWrap10000,
               .read =
                   [](const Ram& r, Latches&) {
                     return Reading{s2(r, 0xE8, 0xE6),
                                    (at(r, 0x98) & 0x80) != 0 || at(r, 0xC9) == 0, at(r, 0xC9)};
                   },
               .sel_frames = 2,
               .mode_byte = 0xDC});
  g.push_back({.id = "tetris",
               .md5 = "b0e1ee07fbc73493eac5651a52f90f00",
               .rom_bytes = 2048,
               .bank = "2K",
               .minimal = {0, 1, 3, 4, 5},
               .modes = {0},
               .difficulties = {0},
               .reward_rule = R::kIncreaseOnly,
               .read = [](const Ram& r, Latches&) {
                 return Reading{s2(r, 0xF1, 0xF2), (at(r, 0xF3) & 0x80) != 0, 0};
               }});
  // Not ALE's: our own Catch (roms/catch2600.asm, issue #17), shipped inside the library. Its
  // rules are the RAM map of the .asm: score = caught ($81) - missed ($82), so a catch is +1
  // and a miss -1; terminal = the game-over flag $84; lives = balls still to come ($83, 10 at
  // the start). NOOP, RIGHT, LEFT move the paddle (FIRE and the other directions do nothing).
  g.push_back({.id = "catch2600",
               .md5 = "2d767d4383efc5800f5e8ee71a11e927",
               .rom_bytes = 2048,
               .bank = "2K",
               .minimal = {0, 3, 4},
               .modes = {0},
               .difficulties = {0},
               .reset_lives = 10,
               .read =
                   [](const Ram& r, Latches&) {
                     return Reading{at(r, 0x81) - at(r, 0x82), at(r, 0x84) != 0, at(r, 0x83)};
                   },
               .bundled_rom = catch2600_rom});
  return g;
}

}  // namespace

const std::vector<Game>& games() {
  static const std::vector<Game> table = make_games();
  return table;
}

const Game* find_game(std::string_view id) {
  for (const Game& g : games())
    if (g.id == id) return &g;
  return id == "raw" ? &raw_game() : nullptr;
}

const Game* find_game_by_md5(std::string_view md5) {
  for (const Game& g : games())
    if (g.md5 == md5) return &g;
  return nullptr;
}

const Game& raw_game() {
  static const Game raw{.id = "raw",
                        .md5 = "",
                        .rom_bytes = 0,
                        .bank = "",
                        .minimal = kAll,
                        .modes = {0},
                        .difficulties = {0},
                        .read = [](const Ram&, Latches&) { return Reading{}; }};
  return raw;
}

std::vector<int> full_action_set() {
  return kAll;
}

void GameLogic::reset() {
  prev_ = game_->reset_prev;
  reward_ = 0;
  terminal_ = false;
  lives_ = game_->reset_lives;
  // Q*bert's counter starts at 4 with last = 2; Beam Rider's at 3 (GAMES.md §3).
  latches_ = Latches{false, 2, game_->reset_lives};
}

void GameLogic::step(const Ram& ram) {
  const Reading now = game_->read(ram, latches_);
  terminal_ = now.terminal;
  int r = now.score - prev_;
  switch (game_->reward_rule) {
    case RewardRule::kDifference:
      break;
    case RewardRule::kNonNegative:
      r = std::max(r, 0);
      break;
    case RewardRule::kClampZeroOne:
      r = std::clamp(r, 0, 1);
      break;
    case RewardRule::kIncreaseOnly:
      r = std::max(r, 0);
      break;
    case RewardRule::kWrap10000:
      if (r < 0) r = (10000 - prev_) + now.score;
      break;
    case RewardRule::kZeroOnTerminal:
      if (terminal_) r = 0;
      break;
  }
  reward_ = r;
  const bool keep_prev = game_->reward_rule == RewardRule::kZeroOnTerminal && terminal_;
  if (!keep_prev) prev_ = now.score;
  if (game_->reward_rule == RewardRule::kIncreaseOnly && terminal_) prev_ = 0;
  lives_ = game_->gated_lives && terminal_ ? 0 : now.lives;
}

void GameLogic::set_state(const State& s) {
  prev_ = s.prev, reward_ = s.reward, lives_ = s.lives, terminal_ = s.terminal;
  latches_ = s.latches;
}

}  // namespace atari2600
