// envs/atari2600/cartridge.cpp: bank-switching schemes and their detection (see cartridge.hpp).
#include "envs/atari2600/cartridge.hpp"

#include <algorithm>

#include "envs/atari2600/error.hpp"

namespace atari2600 {
namespace {

struct TypeInfo {
  CartType type;
  const char* name;
  std::size_t size;  // required image size in bytes (0 = any multiple of 2K, for 3F)
};
constexpr TypeInfo kTypes[] = {
    {CartType::k2K, "2K", 2048},  {CartType::k4K, "4K", 4096},
    {CartType::kF8, "F8", 8192},  {CartType::kF8SC, "F8SC", 8192},
    {CartType::kF6, "F6", 16384}, {CartType::kF6SC, "F6SC", 16384},
    {CartType::kF4, "F4", 32768}, {CartType::kF4SC, "F4SC", 32768},
    {CartType::kE0, "E0", 8192},  {CartType::kFE, "FE", 8192},
    {CartType::k3F, "3F", 0},
};

const TypeInfo& info(CartType type) {
  for (const auto& t : kTypes) {
    if (t.type == type) return t;
  }
  throw_error("cartridge: unknown type id ", static_cast<int>(type));
}

// Does `pattern` occur in the image at least `times` times? Scanned the way ALE's core scans
// (probed: make_cart_detect.py): the very last possible start is not tried, and after a hit the
// scan moves on by the pattern's length + 1, so two back-to-back copies count once.
bool contains(const std::vector<std::uint8_t>& image, const std::vector<std::uint8_t>& pattern,
              int times = 1) {
  int found = 0;
  if (image.size() <= pattern.size()) return false;
  for (std::size_t i = 0; i + pattern.size() < image.size(); ++i) {
    if (std::equal(pattern.begin(), pattern.end(),
                   image.begin() + static_cast<std::ptrdiff_t>(i))) {
      if (++found >= times) return true;
      i += pattern.size();
    }
  }
  return false;
}

bool halves_equal(const std::vector<std::uint8_t>& image) {
  const std::size_t half = image.size() / 2;
  return std::equal(image.begin(), image.begin() + static_cast<std::ptrdiff_t>(half),
                    image.begin() + static_cast<std::ptrdiff_t>(half));
}

[[noreturn]] void unsupported(const char* scheme, std::size_t size) {
  throw_error("cartridge: ALE's core would run this ", size, "-byte image as ", scheme,
              ", a scheme this emulator does not implement (it has 2K, 4K, F8, F6, F4, their SC "
              "variants, E0, FE and 3F); if the image is really one of those, pass the type");
}

}  // namespace

const char* cart_type_name(CartType type) {
  return info(type).name;
}

std::string cart_class_name(CartType type) {
  return std::string("Cartridge") + info(type).name;
}

CartType parse_cart_type(const std::string& name) {
  for (const auto& t : kTypes) {
    if (name == t.name) return t.type;
  }
  throw_error("cartridge: unknown type '", name,
              "'; expected one of 2K, 4K, F8, F8SC, F6, F6SC, F4, F4SC, E0, FE, 3F");
}

CartType Cartridge::detect(const std::vector<std::uint8_t>& image) {
  // Superchip images carry the RAM's 256-byte window at the start of every 4K bank, which the
  // linker fills with one repeated byte: ALE's core calls an image SC when every bank starts
  // with 256 equal bytes (make_cart_detect.py: 128 are not enough, all banks are needed).
  auto superchip = [&]() {
    for (std::size_t bank = 0; bank < image.size() / 4096; ++bank) {
      const std::size_t start = bank * 4096;
      for (std::size_t i = 1; i < 256; ++i) {
        if (image[start + i] != image[start]) return false;
      }
    }
    return true;
  };
  const bool three_e = contains(image, {0x85, 0x3E, 0xA9, 0x00});
  const bool three_f = contains(image, {0x85, 0x3F}, 2);
  switch (image.size()) {
    case 2048:
      return CartType::k2K;
    case 4096:
      return halves_equal(image) ? CartType::k2K : CartType::k4K;
    case 8192:
      // The order ALE's core tests them in (make_cart_detect.py).
      if (superchip()) return CartType::kF8SC;
      if (halves_equal(image)) return CartType::k4K;
      // Parker Brothers' E0 games access their hotspots with these instructions.
      if (contains(image, {0x8D, 0xE0, 0x1F}) || contains(image, {0x8D, 0xE0, 0x5F}) ||
          contains(image, {0x8D, 0xE9, 0xFF}) || contains(image, {0xAD, 0xE9, 0xFF}) ||
          contains(image, {0xAD, 0xED, 0xFF}) || contains(image, {0xAD, 0xF3, 0xBF})) {
        return CartType::kE0;
      }
      if (three_e) unsupported("3E", image.size());
      if (three_f) return CartType::k3F;
      if (contains(image, {0x8D, 0x40, 0x02})) unsupported("UA", image.size());
      if (contains(image, {0x20, 0x00, 0xD0, 0xC6, 0xC5}) ||
          contains(image, {0x20, 0xC3, 0xF8, 0xA5, 0x82}) ||
          contains(image, {0xD0, 0xFB, 0x20, 0x73, 0xFE}) ||
          contains(image, {0x20, 0x00, 0xF0, 0x84, 0xD6})) {
        return CartType::kFE;
      }
      return CartType::kF8;
    case 16384:
      if (superchip()) return CartType::kF6SC;
      if (three_e) unsupported("3E", image.size());
      if (three_f) return CartType::k3F;
      return CartType::kF6;
    case 32768:
      if (superchip()) return CartType::kF4SC;
      if (three_e) unsupported("3E", image.size());
      if (three_f) return CartType::k3F;
      return CartType::kF4;
    case 10240:
    case 10495:
    case 10496:
      unsupported("DPC", image.size());
    case 12288:
      unsupported("FASC", image.size());
    default:
      if (!image.empty() && image.size() % 8448 == 0) unsupported("AR", image.size());
      if (three_e) unsupported("3E", image.size());
      if (three_f && image.size() % 2048 == 0) return CartType::k3F;
      throw_error("cartridge: cannot detect the scheme of a ", image.size(),
                  "-byte image; expected 2048, 4096, 8192, 16384 or 32768 bytes (or a 3F image "
                  "in 2K banks); pass the type explicitly if the image is right");
  }
}

Cartridge::Cartridge(std::vector<std::uint8_t> image, CartType type)
    : image_(std::move(image)), type_(type) {
  // ALE runs a 4K image with two equal halves as 2K, an 8K one as 4K: keep one half.
  if ((type == CartType::k2K && image_.size() == 4096) ||
      (type == CartType::k4K && image_.size() == 8192)) {
    if (halves_equal(image_)) image_.resize(image_.size() / 2);
  }
  if (type == CartType::k2K) flat_mask_ = 0x7FF;
  if (type == CartType::k4K) flat_mask_ = 0xFFF;
  const TypeInfo& t = info(type);
  if (t.size == 0) {
    if (image_.empty() || image_.size() % 2048 != 0 || image_.size() > 512 * 1024) {
      throw_error("cartridge: a ", t.name,
                  " image must be a non-empty multiple of 2048 bytes "
                  "(at most 512 KiB), got ",
                  image_.size(), " bytes");
    }
  } else if (image_.size() != t.size) {
    throw_error("cartridge: a ", t.name, " image must be ", t.size, " bytes, got ", image_.size(),
                "; check the file or pass the right type");
  }
}

void Cartridge::reset(std::mt19937& rng) {
  s_.segment = {0, 0, 0, 0};
  switch (type_) {
    case CartType::kF8:
    case CartType::kF8SC:
      s_.segment[0] = 1;  // probe: F8 starts in its last bank
      break;
    case CartType::kE0:
      s_.segment = {4, 5, 6, 7};
      break;
    case CartType::k3F:
      s_.segment[1] = static_cast<std::uint16_t>(image_.size() / 2048 - 1);
      break;
    default:
      break;
  }
  if (has_ram()) {
    for (auto& b : s_.ram) b = static_cast<std::uint8_t>(rng());
  }
}

bool Cartridge::hotspot(std::uint16_t address) {
  const unsigned a = address & 0x0FFF;
  switch (type_) {
    case CartType::kF8:
    case CartType::kF8SC:
      if (a == 0xFF8 || a == 0xFF9)
        return s_.segment[0] = static_cast<std::uint16_t>(a - 0xFF8), true;
      return false;
    case CartType::kF6:
    case CartType::kF6SC:
      if (a >= 0xFF6 && a <= 0xFF9)
        return s_.segment[0] = static_cast<std::uint16_t>(a - 0xFF6), true;
      return false;
    case CartType::kF4:
    case CartType::kF4SC:
      if (a >= 0xFF4 && a <= 0xFFB)
        return s_.segment[0] = static_cast<std::uint16_t>(a - 0xFF4), true;
      return false;
    case CartType::kE0:
      if (a >= 0xFE0 && a <= 0xFF7) {
        s_.segment[(a - 0xFE0) >> 3] = static_cast<std::uint16_t>(a & 7);
        return true;
      }
      return false;
    default:
      return false;
  }
}

std::uint8_t Cartridge::read(std::uint16_t address) {
  const unsigned a = address & 0x0FFF;
  // The common unbanked images first, without the hotspot test (speed).
  if (type_ == CartType::k2K) return image_[a & 0x7FF];
  if (type_ == CartType::k4K) return image_[a];
  hotspot(address);
  switch (type_) {
    case CartType::kE0:
      return image_[s_.segment[a >> 10] * 1024u + (a & 0x3FF)];
    case CartType::k3F:
      return image_[s_.segment[a >> 11] * 2048u + (a & 0x7FF)];
    case CartType::kFE:
      // The bank follows address line A13 of the CPU's 16-bit address: Activision's code at
      // $Fxxx (A13 = 1) is the image's first 4K, code at $Dxxx the second (probe bank_fe).
      return image_[(address & 0x2000 ? 0u : 4096u) + a];
    default:
      if (has_ram() && a >= 0x80 && a < 0x100) return s_.ram[a & 0x7F];
      return image_[s_.segment[0] * 4096u + a];
  }
}

void Cartridge::write(std::uint16_t address, std::uint8_t value) {
  const unsigned a = address & 0x0FFF;
  if (has_ram() && a < 0x80) {
    s_.ram[a] = value;
    return;
  }
  hotspot(address);
}

void Cartridge::tia_write(std::uint16_t address, std::uint8_t value) {
  if (type_ == CartType::k3F && (address & 0x1FFF) <= 0x3F) {
    s_.segment[0] = static_cast<std::uint16_t>(value % (image_.size() / 2048));
  }
}

}  // namespace atari2600
