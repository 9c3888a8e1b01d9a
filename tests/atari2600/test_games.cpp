// Tests for envs/atari2600/games.{hpp,cpp} and md5.{hpp,cpp}: every game's reward, terminal and
// lives formula of GAMES.md §3 driven by synthetic RAM sequences (expected values worked out by
// hand from GAMES.md, not copied from a run), the table's facts against GAMES.md §2, and MD5
// against RFC 1321's test suite. No ROM is needed: the commercial games are not on this machine.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>

#include "envs/atari2600/games.hpp"
#include "envs/atari2600/md5.hpp"

using namespace atari2600;

namespace {

// One game's logic fed RAM frame by frame.
struct Sim {
  explicit Sim(const char* id) : logic(*find_game(id)) {}
  Sim& set(int address, int value) {
    ram[static_cast<std::size_t>(address - 0x80)] = static_cast<std::uint8_t>(value);
    return *this;
  }
  Sim& step() {
    logic.step(ram);
    return *this;
  }
  int reward() const { return logic.reward(); }
  bool terminal() const { return logic.terminal(); }
  int lives() const { return logic.lives(); }
  GameLogic logic;
  Ram ram{};
};

}  // namespace

TEST_CASE("md5 gives RFC 1321's test-suite digests") {
  CHECK(md5_hex("") == "d41d8cd98f00b204e9800998ecf8427e");
  CHECK(md5_hex("a") == "0cc175b9c0f1b6a831c399e269772661");
  CHECK(md5_hex("abc") == "900150983cd24fb0d6963f7d28e17f72");
  CHECK(md5_hex("message digest") == "f96b697d7cb7938d525a2f31aaf161d0");
  CHECK(md5_hex("abcdefghijklmnopqrstuvwxyz") == "c3fcd3d76192e4007dfb496cca67e13b");
  CHECK(md5_hex("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") ==
        "d174ab98d277d9f5a5611c2c9f419d9f");
  CHECK(md5_hex("1234567890123456789012345678901234567890123456789012345678901234567890123456789"
                "0") == "57edf4a22be3c955ac49da2e2107b67a");
}

TEST_CASE("md5 pads correctly at every length around a block boundary") {
  // 55, 56 and 64 bytes are the padding's edge cases (one block, two blocks); a change of
  // one byte must change the digest.
  std::set<std::string> seen;
  for (std::size_t n : {55u, 56u, 63u, 64u, 65u, 119u, 120u}) {
    const std::string s(n, 'x');
    CHECK(md5_hex(s).size() == 32);
    seen.insert(md5_hex(s));
  }
  CHECK(seen.size() == 7);
}

TEST_CASE("the game table holds the 30 games of GAMES.md with consistent facts") {
  CHECK(games().size() == 31);  // GAMES.md's 30, then our own catch2600
  CHECK(games().back().id == "catch2600");
  std::set<std::string_view> ids, md5s;
  for (const Game& g : games()) {
    INFO(g.id);
    ids.insert(g.id);
    md5s.insert(g.md5);
    CHECK(g.md5.size() == 32);
    CHECK(std::is_sorted(g.minimal.begin(), g.minimal.end()));  // ALE's ascending enum order
    CHECK(g.minimal.front() == 0);
    CHECK(g.minimal.back() <= 17);
    CHECK(!g.modes.empty());
    CHECK(!g.difficulties.empty());
    CHECK(static_cast<bool>(g.read));
    CHECK((g.sel_frames > 0) == (g.modes.size() > 1));  // a mode loop exactly where modes exist
    CHECK(find_game(g.id) == &g);
    CHECK(find_game_by_md5(g.md5) == &g);
    const int k = g.bank == "2K" ? 2048 : g.bank == "4K" ? 4096 : g.bank == "F6" ? 16384 : 8192;
    CHECK(g.rom_bytes == k);
  }
  CHECK(ids.size() == 31);
  CHECK(md5s.size() == 31);
  for (const Game& g : games())  // only our own cartridge is compiled in
    CHECK((g.bundled_rom != nullptr) == (g.id == "catch2600"));
  CHECK(find_game("pitfall") == nullptr);
  CHECK(find_game("raw")->minimal.size() == 18);
  // Spot checks of GAMES.md §2 (minimal sets by name, modes, start actions, properties).
  CHECK(find_game("kung_fu_master")->minimal ==
        std::vector<int>{0, 2, 3, 4, 5, 8, 9, 11, 12, 13, 14, 15, 16, 17});
  CHECK(find_game("up_n_down")->minimal == std::vector<int>{0, 1, 2, 5, 10, 13});
  CHECK(find_game("enduro")->minimal == std::vector<int>{0, 1, 3, 4, 5, 8, 9, 11, 12});
  CHECK(find_game("battle_zone")->modes.front() == 1);
  CHECK(find_game("demon_attack")->modes == std::vector<int>{1, 3, 5, 7});
  CHECK(find_game("breakout")->modes.size() == 12);
  CHECK(find_game("space_invaders")->modes.size() == 16);
  CHECK(find_game("beam_rider")->start_actions == std::vector<int>{3});
  CHECK(find_game("private_eye")->start_actions == std::vector<int>{2});
  CHECK(find_game("pong")->swap_paddles);
  CHECK(!find_game("breakout")->swap_paddles);
  CHECK(find_game("qbert")->ystart == 40);
  CHECK(!find_game("ms_pacman")->hmove_blanks);
  CHECK(find_game("amidar")->power_on_difficulty == 3);
  CHECK(find_game("ms_pacman")->sel_frames == 10);
  CHECK(find_game("jamesbond")->sel_frames == 20);
  CHECK(find_game("gopher")->soft_reset_before_modes);
}

TEST_CASE("tetris: only score increases reward, and the terminal step zeroes prev") {
  Sim s("tetris");
  s.set(0xF1, 0x15).set(0xF2, 0x01).step();  // S2 = 15 + 100 * 1
  CHECK(s.reward() == 115);
  s.set(0xF1, 0x10).step();  // a decrease gives 0
  CHECK(s.reward() == 0);
  s.set(0xF1, 0x12).step();
  CHECK(s.reward() == 2);
  s.set(0xF3, 0x80).step();
  CHECK(s.terminal());
  CHECK(s.lives() == 0);
  s.set(0xF3, 0).step();  // prev was zeroed: the whole score counts again
  CHECK(s.reward() == 112);
}

TEST_CASE("alien: digit glyph offsets, blank digits, lives ungated") {
  Sim s("alien");
  s.set(0xC0, 0x13);                                // high nibble ignored: 3 lives
  for (int a : {0x83, 0x85, 0x87}) s.set(a, 0x80);  // blank
  s.set(0x89, 2 * 8).set(0x8B, 5 * 8).step();       // digits "25" -> 10 * 25
  CHECK(s.reward() == 250);
  CHECK(s.lives() == 3);
  CHECK(!s.terminal());
  s.set(0xC0, 0x20).step();
  CHECK(s.terminal());
  CHECK(s.lives() == 0);
}

TEST_CASE("amidar, assault, hero, seaquest: S3 scores and their lives bytes") {
  Sim a("amidar");
  a.set(0xD9, 0x50).set(0xDA, 0x01).set(0xD6, 0x02).step();  // 50 + 100
  CHECK(a.reward() == 150);
  CHECK(a.lives() == 2);
  a.set(0xD6, 0x80).step();
  CHECK(a.terminal());
  CHECK(a.lives() == 0);  // gated
  Sim b("assault");
  b.set(0x80, 0x01).set(0x82, 0x21).set(0xE5, 4).step();  // hi $80: 10000 + 21
  CHECK(b.reward() == 10021);
  CHECK(b.lives() == 4);
  b.set(0xE5, 0).step();
  CHECK(b.terminal());
  Sim h("hero");
  h.set(0xB7, 0x02).set(0xB9, 0x75).set(0xB3, 3).step();
  CHECK(h.reward() == 20075);
  CHECK(h.lives() == 3);
  h.set(0xB3, 0).step();
  CHECK(h.terminal());
  Sim q("seaquest");
  q.set(0xB8, 0).set(0xB9, 0x01).set(0xBA, 0x20).set(0xBB, 3).step();
  CHECK(q.reward() == 120);
  CHECK(q.lives() == 4);  // $BB + 1
  q.set(0xA3, 1).step();
  CHECK(q.terminal());
  CHECK(q.lives() == 0);
}

TEST_CASE("asterix and bank_heist: terminal needs two conditions") {
  Sim a("asterix");
  a.set(0xD3, 0x41).set(0xE0, 0x50).step();  // L = 1, $C7 != 1
  CHECK(a.reward() == 50);
  CHECK(!a.terminal());
  CHECK(a.lives() == 1);
  a.set(0xC7, 1).step();
  CHECK(a.terminal());
  Sim b("bank_heist");
  b.set(0xD8, 0x01).set(0xD5, 0).step();  // no lives but $CE != 1
  CHECK(b.reward() == 10000);
  CHECK(!b.terminal());
  b.set(0xCE, 1).step();
  CHECK(b.terminal());
}

TEST_CASE("battle_zone: nibble digits, $A counts as 0, low nibble of $9D ignored") {
  Sim s("battle_zone");
  s.set(0x9D, 0x3F).set(0x9E, 0xA2).set(0xBA, 0x25).step();  // 1000 * (3 + 10*2 + 100*0)
  CHECK(s.reward() == 23000);
  CHECK(s.lives() == 5);
  s.set(0xBA, 0xF0).step();
  CHECK(s.terminal());
}

TEST_CASE("boxing: KO is 100, clock expiry ends the bout, lives always 0") {
  Sim s("boxing");
  s.set(0x90, 0x10).set(0x92, 0x12).set(0x93, 0x05).step();
  CHECK(s.reward() == 7);
  CHECK(!s.terminal());
  CHECK(s.lives() == 0);
  s.set(0x92, 0xC0).step();  // KO: 100 - 5
  CHECK(s.reward() == 88);
  CHECK(s.terminal());
  Sim c("boxing");
  c.set(0x90, 0x05).set(0x91, 0x00).step();  // minutes nibble 0 and seconds 0
  CHECK(c.terminal());
}

TEST_CASE("breakout: terminal only after the started latch saw 5 lives") {
  Sim s("breakout");
  s.set(0xB9, 0).step();
  CHECK(!s.terminal());  // never started
  s.set(0xB9, 5).set(0xCD, 0x07).set(0xCC, 0x31).step();
  CHECK(s.reward() == 107);  // B($CD) + 100 * ($CC & 15)
  CHECK(s.lives() == 5);
  s.set(0xB9, 0).step();
  CHECK(s.terminal());
  s.logic.reset();
  s.step();
  CHECK(!s.terminal());  // reset clears the latch
}

TEST_CASE("chopper_command: started latch from $C2 bit 0, lives ungated") {
  Sim s("chopper_command");
  s.set(0xE4, 0x10).step();
  CHECK(!s.terminal());
  CHECK(s.lives() == 0);  // ungated, before the game starts
  s.set(0xEE, 0x02).set(0xEC, 0x01).set(0xC2, 1).set(0xE4, 3).step();
  CHECK(s.reward() == 10200);
  s.set(0xC2, 0).set(0xE4, 0).step();
  CHECK(s.terminal());
}

TEST_CASE("crazy_climber: binary digits, negative rewards dropped but prev follows") {
  Sim s("crazy_climber");
  s.set(0xAA, 5).set(0x82, 3).set(0x83, 1).step();  // 100 * (3 + 10)
  CHECK(s.reward() == 1300);
  s.set(0x83, 0).step();
  CHECK(s.reward() == 0);
  s.set(0x82, 4).step();  // relative to 300, the updated prev
  CHECK(s.reward() == 100);
  s.set(0xAA, 0).step();
  CHECK(s.terminal());
}

TEST_CASE("demon_attack: junk RAM pattern scores 0, level_change masks one terminal frame") {
  Sim s("demon_attack");
  s.set(0x81, 0xAB).set(0x83, 0xCD).set(0x85, 0xEA).set(0xF2, 2).step();
  CHECK(s.reward() == 0);
  CHECK(s.lives() == 3);
  s.set(0x81, 0).set(0x83, 0x01).set(0x85, 0x30).step();
  CHECK(s.reward() == 130);
  s.set(0xF2, 0).set(0xF1, 0xBD);
  s.logic.latches().flag = true;  // as setMode leaves it
  s.step();
  CHECK(!s.terminal());
  s.step();
  CHECK(s.terminal());
}

TEST_CASE("freeway: reward clamped to 0..1, terminal at $96 = 1") {
  Sim s("freeway");
  s.set(0xE7, 0x03).step();
  CHECK(s.reward() == 1);
  s.set(0xE7, 0x00).step();
  CHECK(s.reward() == 0);
  s.set(0x96, 1).step();
  CHECK(s.terminal());
  CHECK(s.lives() == 0);
}

TEST_CASE("frostbite, jamesbond, kangaroo, kung_fu_master, up_n_down: lives + 1 formulas") {
  Sim f("frostbite");
  f.set(0xCC, 0x02).set(0xC9, 0x01).step();
  CHECK(f.reward() == 100);
  CHECK(f.lives() == 3);
  f.set(0xCC, 0).step();
  CHECK(!f.terminal());  // also needs $F1 bit 7
  f.set(0xF1, 0x80).step();
  CHECK(f.terminal());
  Sim j("jamesbond");
  j.set(0x86, 0x12).set(0xDE, 0x01).step();  // hi $DE
  CHECK(j.reward() == 10000);
  CHECK(j.lives() == 3);
  j.set(0x86, 0x10).set(0x8C, 0x68).step();
  CHECK(j.terminal());
  Sim k("kangaroo");
  k.set(0xAD, 0x0A).set(0xA8, 0x02).set(0xA7, 0x01).step();  // 100 * 102
  CHECK(k.reward() == 10200);
  CHECK(k.lives() == 3);  // ($AD & 7) + 1
  k.set(0xAD, 0xFF).step();
  CHECK(k.terminal());
  Sim m("kung_fu_master");
  m.set(0x9D, 0x03).set(0x9A, 0x10).step();
  CHECK(m.reward() == 10);
  CHECK(m.lives() == 4);
  m.set(0x9D, 0xFF).step();
  CHECK(m.terminal());
  CHECK(m.lives() == 0);
  Sim u("up_n_down");
  u.set(0x86, 0x00).set(0x94, 0x40).set(0x81, 0x01).step();
  CHECK(u.reward() == 100);
  CHECK(!u.terminal());  // $94 must be above $40
  u.set(0x94, 0x41).step();
  CHECK(u.terminal());
}

TEST_CASE("gopher: lives are the carrots left") {
  Sim s("gopher");
  s.set(0xB4, 0x05).set(0xB2, 0x20).step();
  CHECK(s.reward() == 20);
  CHECK(s.lives() == 2);
  s.set(0xB4, 0x07).step();
  CHECK(s.lives() == 3);
  s.set(0xB4, 0xF8).step();  // bits above the carrots ignored
  CHECK(s.terminal());
  CHECK(s.lives() == 0);
}

TEST_CASE("krull and ms_pacman: three- and two-part terminals") {
  Sim k("krull");
  k.set(0x9F, 0).set(0xA2, 3).set(0x9C, 0x01).step();
  CHECK(k.reward() == 10000);
  CHECK(!k.terminal());
  CHECK(k.lives() == 1);
  k.set(0x80, 0x80).step();
  CHECK(k.terminal());
  Sim m("ms_pacman");
  m.set(0xFB, 0x0A).set(0xF9, 0x02).step();  // lives (L & 7) + 1 = 3
  CHECK(m.reward() == 200);
  CHECK(m.lives() == 3);
  m.set(0xFB, 0).step();
  CHECK(!m.terminal());
  m.set(0xA7, 0x53).step();
  CHECK(m.terminal());
}

TEST_CASE("pong: player minus computer, 21 ends it, rewards can be negative") {
  Sim s("pong");
  s.set(0x8D, 1).step();
  CHECK(s.reward() == -1);
  s.set(0x8E, 3).step();
  CHECK(s.reward() == 3);
  s.set(0x8D, 21).step();
  CHECK(s.reward() == -20);
  CHECK(s.terminal());
}

TEST_CASE("private_eye: prev starts at 1000, terminal outside $00/$01") {
  Sim s("private_eye");
  s.set(0xC9, 0x10).step();  // 1000, as prev at reset
  CHECK(s.reward() == 0);
  s.set(0xCA, 0x50).step();
  CHECK(s.reward() == 50);
  s.set(0xC2, 1).step();
  CHECK(!s.terminal());
  s.set(0xC2, 2).step();
  CHECK(s.terminal());
}

TEST_CASE("qbert: its own lives counter, $FE and the 2-after-minus-1 terminals") {
  Sim s("qbert");
  s.set(0x88, 2).set(0xDB, 0x25).step();  // last 2 -> 2: nothing
  CHECK(s.reward() == 25);
  CHECK(s.lives() == 4);
  s.set(0x88, 1).step();  // last - 1 == s: a life lost
  CHECK(s.lives() == 3);
  s.set(0x88, 0).step();
  s.set(0x88, 0xFF).step();  // -1 signed: lost again
  CHECK(s.lives() == 1);
  s.set(0x88, 2).set(0xDB, 0x40).step();  // 2 right after -1: terminal, no reward
  CHECK(s.terminal());
  CHECK(s.reward() == 0);
  CHECK(s.lives() == 0);
  s.set(0x88, 3).step();  // prev stayed 25
  CHECK(s.reward() == 15);
  Sim t("qbert");
  t.set(0x88, 0xFE).set(0xDB, 0x10).step();
  CHECK(t.terminal());
  CHECK(t.reward() == 0);
}

TEST_CASE("road_runner: low nibbles as digits, $A counts as 0") {
  Sim s("road_runner");
  s.set(0xC4, 2).set(0xC9, 0x35).set(0xCA, 0x0A).set(0xCB, 0x01).step();  // 100*(5+0+100)
  CHECK(s.reward() == 10500);
  CHECK(s.lives() == 3);
  s.set(0xC4, 0).step();
  CHECK(!s.terminal());  // also needs $B9 or $BD
  s.set(0xBD, 1).step();
  CHECK(s.terminal());
}

TEST_CASE("beam_rider: a count one lower is accepted only with $8C = 1") {
  Sim s("beam_rider");
  s.set(0x85, 2).set(0x89, 0x44).step();  // n = 3 = counter
  CHECK(s.reward() == 44);
  CHECK(s.lives() == 3);
  s.set(0x85, 1).step();  // n = 2 = counter - 1 without $8C = 1: kept
  CHECK(s.lives() == 3);
  s.set(0x8C, 1).step();
  CHECK(s.lives() == 2);
  s.set(0x8C, 0).set(0x85, 5).step();  // any other count at once
  CHECK(s.lives() == 6);
  s.set(0x85, 0xFF).step();
  CHECK(s.terminal());
  CHECK(s.lives() == 0);
}

TEST_CASE("enduro: score from level and cars left to pass") {
  Sim s("enduro");
  s.set(0xAD, 0).set(0xAB, 0x00).set(0xAC, 0x02).step();
  CHECK(s.reward() == 0);                                 // level 0
  s.set(0xAD, 1).set(0xAB, 0x90).set(0xAC, 0x01).step();  // 200 - 190
  CHECK(s.reward() == 10);
  s.set(0xAD, 3).set(0xAB, 0x00).set(0xAC, 0x03).step();  // 200 + 300 + 0
  CHECK(s.reward() == 490);
  s.set(0xAF, 0xFF).step();
  CHECK(s.terminal());
}

TEST_CASE("space_invaders: the score wrapping at 10000 is a positive reward") {
  Sim s("space_invaders");
  s.set(0xC9, 3).set(0xE6, 0x99).set(0xE8, 0x90).step();  // 9990
  CHECK(s.reward() == 9990);
  CHECK(s.lives() == 3);
  s.set(0xE6, 0x00).set(0xE8, 0x20).step();  // 20 after 9990: (10000 - 9990) + 20
  CHECK(s.reward() == 30);
  s.set(0x98, 0x80).step();
  CHECK(s.terminal());
  Sim t("space_invaders");
  t.set(0xC9, 0).step();
  CHECK(t.terminal());
}

TEST_CASE("game logic state round-trips and reset restores the reset values") {
  Sim s("qbert");
  s.set(0x88, 1).step();
  const GameLogic::State saved = s.logic.state();
  Sim t("qbert");
  t.logic.set_state(saved);
  CHECK(t.lives() == 3);
  t.logic.reset();
  CHECK(t.lives() == 4);
  CHECK(t.logic.latches().last == 2);
}

TEST_CASE("raw: no reward, never terminal, lives 0, whatever the RAM") {
  GameLogic raw(raw_game());
  Ram ram{};
  for (int i = 0; i < 256; ++i) {
    ram.fill(static_cast<std::uint8_t>(i));
    raw.step(ram);
    CHECK(raw.reward() == 0);
    CHECK_FALSE(raw.terminal());
    CHECK(raw.lives() == 0);
  }
}

// Our own cartridge (envs/atari2600/roms/catch2600.asm's RAM map): score = caught ($81) - missed
// ($82), terminal = $84 != 0, lives = $83 (balls to come), 0 once terminal.
TEST_CASE("catch2600: a catch is +1, a miss -1, lives count the balls left, the flag ends it") {
  Sim s("catch2600");
  CHECK(s.lives() == 10);  // a fresh logic, before any frame
  s.set(0x83, 10).step();
  CHECK(s.reward() == 0);
  CHECK(s.lives() == 10);
  CHECK(!s.terminal());
  s.set(0x81, 1).set(0x83, 9).step();  // caught
  CHECK(s.reward() == 1);
  CHECK(s.lives() == 9);
  s.step();  // nothing new: the score did not change
  CHECK(s.reward() == 0);
  s.set(0x82, 1).set(0x83, 8).step();  // missed: caught - missed back to 0
  CHECK(s.reward() == -1);
  s.set(0x82, 2).set(0x83, 7).step();  // a second miss: the score goes below zero
  CHECK(s.reward() == -1);
  s.set(0x81, 2).set(0x83, 0).set(0x84, 1).step();  // the last ball, caught: -1 -> 0
  CHECK(s.reward() == 1);                           // the terminal frame's own reward counts
  CHECK(s.terminal());
  CHECK(s.lives() == 0);
  // The other bytes of RAM play no part.
  Sim t("catch2600");
  for (int a = 0x80; a <= 0xFF; ++a)
    if (a < 0x81 || a > 0x84) t.set(a, 0xA5);
  t.set(0x83, 10).step();
  CHECK(t.reward() == 0);
  CHECK(!t.terminal());
  CHECK(t.lives() == 10);
}
