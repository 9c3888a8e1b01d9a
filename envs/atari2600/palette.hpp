// envs/atari2600/palette.hpp: ALE's NTSC palette: the colour of each pixel value the TIA
// writes (screen bytes are these indices), and the grey level ALE's grayscale observation uses.
#pragma once

#include <array>
#include <cstdint>

namespace atari2600 {

// 0xRRGGBB for all 256 pixel values: the even ones are the TIA's 128 NTSC colours, each odd one
// is the grey of the even one below it (ALE's palette layout, README 4.9).
const std::array<std::uint32_t, 256>& ntsc_palette();

// The grey level of a pixel value as ALE's grayscale screen gives it:
// round(0.2989 R + 0.5870 G + 0.1140 B) of the even entry (round half away from zero).
std::uint8_t ntsc_grey(std::uint8_t pixel);
// The same for all 256 values, computed once (a grey screen is 33,600 lookups; computing each
// with a double round took a third of an environment step).
const std::array<std::uint8_t, 256>& ntsc_grey_table();

}  // namespace atari2600
