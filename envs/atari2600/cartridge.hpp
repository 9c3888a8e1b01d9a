// envs/atari2600/cartridge.hpp: cartridge images and their bank-switching schemes: 2K, 4K, F8,
// F6, F4 (each also with the 128-byte Superchip RAM: F8SC, F6SC, F4SC), E0 (Parker Brothers),
// FE (Activision) and 3F (Tigervision); detection from the image the way ALE's core does it
// (established by probing the oracle, see detect()) and an explicit override.
//
// The console hands the cartridge every access with A12 set (the ROM window $1000-$1FFF and its
// mirrors) with the CPU's full 16-bit address (FE decodes line A13), and for 3F the writes to
// $00-$3F, which select its bank.
#pragma once

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace atari2600 {

enum class CartType : std::uint8_t { k2K, k4K, kF8, kF8SC, kF6, kF6SC, kF4, kF4SC, kE0, kFE, k3F };

// "2K", "F8SC", ... as ALE's `type` property spells them; parse throws on an unknown name.
const char* cart_type_name(CartType type);
CartType parse_cart_type(const std::string& name);
// ALE's class name for the info line ("Cartridge2K", "CartridgeF8SC").
std::string cart_class_name(CartType type);

struct CartState {
  std::array<std::uint16_t, 4> segment{};  // bank of each mapped segment (see cartridge.cpp)
  std::array<std::uint8_t, 128> ram{};     // Superchip RAM
};

class Cartridge {
 public:
  // Throws atari2600::Error when the image size does not fit the type.
  Cartridge(std::vector<std::uint8_t> image, CartType type);

  // The scheme ALE's core would pick for this image (by size, then content signatures).
  static CartType detect(const std::vector<std::uint8_t>& image);

  CartType type() const { return type_; }
  bool has_ram() const {
    return type_ == CartType::kF8SC || type_ == CartType::kF6SC || type_ == CartType::kF4SC;
  }
  bool snoops_tia_writes() const { return type_ == CartType::k3F; }

  // Start banks; Superchip RAM refilled with one draw of `rng` per byte (README 4.6).
  void reset(std::mt19937& rng);
  std::uint8_t read(std::uint16_t address);
  // Unbanked images (2K, 4K): the mask that maps an address to its byte of image(), so reads
  // need no call (the CPU's fetches are most of its accesses); 0 for the banked types, which
  // need read() (hotspots).
  unsigned flat_mask() const { return flat_mask_; }
  void write(std::uint16_t address, std::uint8_t value);
  // 3F: a write to $00-$3F selects the bank of the first 2K.
  void tia_write(std::uint16_t address, std::uint8_t value);

  CartState& state() { return s_; }
  const CartState& state() const { return s_; }
  const std::vector<std::uint8_t>& image() const { return image_; }

 private:
  bool hotspot(std::uint16_t address);
  std::vector<std::uint8_t> image_;
  CartType type_;
  CartState s_;
  unsigned flat_mask_ = 0;  // derived from type_
};

}  // namespace atari2600
