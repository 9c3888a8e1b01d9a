// Tests for envs/atari2600/tia.{hpp,cpp} that need no oracle: the fast object rows used for
// drawing (cached per object, built by walking each object's pixels) equal the reference that
// tests every object at every column, on random register states; and a few hand-worked cases of
// the playfield and NUSIZ layouts. The timing rules are checked against ALE by the probe goldens
// (test_parity.cpp).
#include <doctest/doctest.h>

#include <array>
#include <random>

#include "envs/atari2600/tia.hpp"

using namespace atari2600;

namespace {

std::array<std::uint8_t, Tia::kWidth> fast_row(Tia& tia) {
  tia.invalidate_rows();
  std::array<std::uint8_t, Tia::kWidth> m{};
  tia.object_masks(m.data(), 0, Tia::kWidth);
  return m;
}

}  // namespace

TEST_CASE("tia object rows equal the per-pixel reference on 3,000 random register states") {
  std::mt19937 g(2600);
  auto byte = [&]() { return static_cast<std::uint8_t>(g()); };
  Tia tia;
  for (int trial = 0; trial < 3000; ++trial) {
    TiaState& s = tia.state();
    s.pf0 = byte(), s.pf1 = byte(), s.pf2 = byte(), s.ctrlpf = byte();
    s.nusiz0 = byte(), s.nusiz1 = byte(), s.refp0 = byte(), s.refp1 = byte();
    s.grp0 = byte(), s.grp1 = byte(), s.grp0_old = byte(), s.grp1_old = byte();
    s.enam0 = byte(), s.enam1 = byte(), s.enabl = byte(), s.enabl_old = byte();
    s.vdelp0 = byte(), s.vdelp1 = byte(), s.vdelbl = byte(), s.resmp0 = byte(), s.resmp1 = byte();
    s.pos_p0 = static_cast<int>(g() % 160), s.pos_p1 = static_cast<int>(g() % 160);
    s.pos_m0 = static_cast<int>(g() % 160), s.pos_m1 = static_cast<int>(g() % 160);
    s.pos_bl = static_cast<int>(g() % 160);
    s.p0_first_off = g() & 1, s.p1_first_off = g() & 1;
    const auto fast = fast_row(tia);
    for (int x = 0; x < Tia::kWidth; ++x) {
      REQUIRE_MESSAGE(fast[static_cast<std::size_t>(x)] == Tia::object_mask_ref(x, s),
                      "trial " << trial << " column " << x);
    }
  }
}

TEST_CASE("tia playfield: PF0 bits 4-7, PF1 bits 7-0, PF2 bits 0-7, repeated or reflected") {
  Tia tia;
  TiaState& s = tia.state();
  s.pf0 = 0x10;  // cell 0 only: columns 0-3
  s.pf1 = 0x01;  // cell 11: columns 44-47
  s.pf2 = 0x80;  // cell 19: columns 76-79
  s.ctrlpf = 0;  // repeated: the same cells again from column 80
  auto pf_at = [&](int x) { return (Tia::object_mask_ref(x, s) & Tia::kObjPF) != 0; };
  for (int x : {0, 3, 44, 47, 76, 79, 80, 83, 124, 127, 156, 159}) CHECK_MESSAGE(pf_at(x), x);
  for (int x : {4, 43, 48, 75, 84, 123, 128, 155}) CHECK_MESSAGE(!pf_at(x), x);
  s.ctrlpf = 1;  // reflected: the right half mirrors the left
  for (int x : {0, 76, 79, 80, 83, 112, 115, 156, 159}) CHECK_MESSAGE(pf_at(x), x);
  for (int x : {84, 124, 127}) CHECK_MESSAGE(!pf_at(x), x);
}

TEST_CASE("tia NUSIZ: copies at +16/+32/+64, double and quad width one pixel late") {
  Tia tia;
  TiaState& s = tia.state();
  s.grp0 = 0x80;  // one pixel per copy
  s.pos_p0 = 10;
  auto p0_columns = [&]() {
    std::vector<int> xs;
    for (int x = 0; x < Tia::kWidth; ++x) {
      if (Tia::object_mask_ref(x, s) & Tia::kObjP0) xs.push_back(x);
    }
    return xs;
  };
  s.nusiz0 = 3;  // three copies close
  CHECK(p0_columns() == std::vector<int>{10, 26, 42});
  s.nusiz0 = 6;  // three copies medium
  CHECK(p0_columns() == std::vector<int>{10, 42, 74});
  s.nusiz0 = 5;  // double width: the leftmost bit covers 2 pixels, from 11 (probe resp0)
  CHECK(p0_columns() == std::vector<int>{11, 12});
  s.nusiz0 = 7;  // quad width
  CHECK(p0_columns() == std::vector<int>{11, 12, 13, 14});
  s.nusiz0 = 3;
  s.p0_first_off = true;  // after a reset: the first copy waits for the next line
  CHECK(p0_columns() == std::vector<int>{26, 42});
}
