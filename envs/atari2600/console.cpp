// envs/atari2600/console.cpp: bus decode, power-on, resets, the frame loop, save/restore.
#include "envs/atari2600/console.hpp"

#include "envs/atari2600/cpu6502_impl.hpp"

#include <cstring>
#include <sstream>

#include "envs/atari2600/error.hpp"

namespace atari2600 {
namespace {

// README 4.6: the reset timer start value from one draw.
std::uint8_t timer_start(std::mt19937& rng) {
  return static_cast<std::uint8_t>(25 + rng() % 75);
}

// README 4.2: without VSYNC or the line cap, ALE gives up on a frame after this many.
constexpr int kMaxInstructionsPerFrame = 25000;

}  // namespace

Console::Console(std::vector<std::uint8_t> rom, const ConsoleOptions& options)
    : cart_(rom, options.cart_type ? *options.cart_type : Cartridge::detect(rom)),
      rng_(options.seed) {
  tia_.set_window(options.ystart, options.height);
  tia_.set_hmove_blanks(options.hmove_blanks);
  for (auto& b : riot_.state().ram) b = static_cast<std::uint8_t>(rng_());
  riot_.reset_timer(timer_start(rng_), 0);
}

void Console::system_reset() {
  const std::uint64_t now = cpu_.cycles();
  riot_.reset_timer(timer_start(rng_), now);
  tia_.reset(now);
  stale_ = {false, false};  // both buffers cleared
  cart_.reset(rng_);
  cpu_.reset(*this);
}

bool Console::emulate() {
  for (int i = 0; i < kMaxInstructionsPerFrame; ++i) {
    cpu_.step_on(*this);
    if (tia_.frame_done()) return true;
  }
  return false;
}

FrameInfo Console::run_frame() {
  const int b = tia_.state().back;
  const Snapshot start = snapshot();  // plain copies, no allocation
  const std::int64_t begin = tia_.state().drawn;
  tia_.set_render(render_);
  const bool complete = emulate();
  tia_.catch_up(cpu_.cycles());
  if (!complete || !tia_.covers_window(begin)) {
    // The frame leaves (or greys) some of the buffer's older pixels: they must be real.
    if (render_) {
      if (stale_[b]) {
        const auto& buf = tia_.buffers()[static_cast<std::size_t>(b)];
        const std::size_t from = tia_.pixel_index(begin), to = tia_.pixel_index(tia_.state().drawn);
        scratch_.assign(buf.begin() + static_cast<std::ptrdiff_t>(from),
                        buf.begin() + static_cast<std::ptrdiff_t>(to));
        materialize(b);
        std::copy(scratch_.begin(), scratch_.end(),
                  tia_.buffers()[static_cast<std::size_t>(b)].begin() +
                      static_cast<std::ptrdiff_t>(from));
      }
    } else {
      // Trap: such a frame cannot stay stale (its replay would need the older pixels, and
      // they may be stale too); draw it now, on top of the real older pixels.
      materialize(b);
      replay(start);
    }
    stale_[static_cast<std::size_t>(b)] = false;
  } else if (render_) {
    stale_[static_cast<std::size_t>(b)] = false;
  } else {
    stale_[static_cast<std::size_t>(b)] = true;
    replay_[static_cast<std::size_t>(b)] = start;
  }
  const FrameInfo info{complete, tia_.line(cpu_.cycles())};
  if (complete) {
    tia_.end_frame(cpu_.cycles());
  } else {
    tia_.grey_partial(cpu_.cycles());
  }
  return info;
}

Console::Snapshot Console::snapshot() const {
  return Snapshot{cpu_.state(), tia_.state(), riot_.state(), cart_.state(), data_bus_};
}

void Console::restore(const Snapshot& s) {
  cpu_.state() = s.cpu;
  tia_.state() = s.tia;
  tia_.invalidate_rows();
  riot_.state() = s.riot;
  cart_.state() = s.cart;
  data_bus_ = s.data_bus;
}

void Console::materialize(int b) {
  if (!stale_[static_cast<std::size_t>(b)]) return;
  stale_[static_cast<std::size_t>(b)] = false;
  replay(replay_[static_cast<std::size_t>(b)]);
}

void Console::replay(const Snapshot& from) {
  // Only the frame's own buffer changes: the state comes back as it was.
  const Snapshot now = snapshot();
  const bool render = tia_.render();
  restore(from);
  tia_.set_render(true);
  emulate();
  // Pixels only: the frame's end (buffer swap, greying) is the caller's. Only covering frames
  // stay stale, so for those the end adds no pixel.
  tia_.catch_up(cpu_.cycles());
  restore(now);
  tia_.set_render(render);
}

void Console::set_inputs(const Inputs& in) {
  // README 4.7: SWCHA bits 4-7 = up, down, left, right of the left joystick, 0 when pressed;
  // the right joystick (bits 0-3) is never pressed under ALE's act().
  std::uint8_t swcha = 0xFF;
  if (in.left_paddles) {
    if (in.paddle_button[0]) swcha &= ~0x80;
    if (in.paddle_button[1]) swcha &= ~0x40;
    tia_.state().paddle[0] = in.paddle_resistance[0];
    tia_.state().paddle[1] = in.paddle_resistance[1];
  } else {
    if (in.up) swcha &= ~0x10;
    if (in.down) swcha &= ~0x20;
    if (in.left) swcha &= ~0x40;
    if (in.right) swcha &= ~0x80;
  }
  riot_.state().swcha = swcha;
  std::uint8_t swchb = 0x3F;
  if (in.reset) swchb &= ~0x01;
  if (in.select) swchb &= ~0x02;
  if (in.difficulty & 1) swchb |= 0x40;
  if (in.difficulty & 2) swchb |= 0x80;
  riot_.state().swchb = swchb;
  tia_.state().fire0 = in.fire && !in.left_paddles;
}

std::uint8_t Console::read_slow(std::uint16_t address) {
  const std::uint16_t a = address & 0x1FFF;
  std::uint8_t v;
  if (a & 0x1000) {
    v = cart_.read(address);
  } else if (!(a & 0x80)) {
    tia_.set_data_bus(data_bus_);
    v = tia_.read(a, cpu_.cycles());
  } else if (!(a & 0x200)) {
    v = riot_.read_ram(a);
  } else {
    v = riot_.read_register(a, cpu_.cycles());
  }
  data_bus_ = v;
  return v;
}

void Console::write_slow(std::uint16_t address, std::uint8_t value) {
  const std::uint16_t a = address & 0x1FFF;
  data_bus_ = value;
  if (a & 0x1000) {
    cart_.write(address, value);
  } else if (!(a & 0x80)) {
    const int stall = tia_.write(a, value, cpu_.cycles());
    cpu_.state().cycles += static_cast<std::uint64_t>(stall);
    if (cart_.snoops_tia_writes()) cart_.tia_write(a, value);
  } else if (!(a & 0x200)) {
    riot_.write_ram(a, value);
  } else {
    riot_.write_register(a, value, cpu_.cycles());
  }
}

// ---- save / restore ----
// The blob: a tag, the image size and a checksum (a state only fits the ROM it came from),
// then each chip's plain state struct, both frame buffers, and the random generator as text.
namespace {

constexpr char kTag[] = "atari2600-state/1";

std::uint64_t fnv1a(const std::vector<std::uint8_t>& bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::uint8_t b : bytes) h = (h ^ b) * 0x100000001b3ull;
  return h;
}

template <class T>
void put(std::string& out, const T& v) {
  static_assert(std::is_trivially_copyable_v<T>);
  // No hidden padding (its bytes would be whatever the memory held): equal machines save
  // equal blobs.
  static_assert(std::has_unique_object_representations_v<T> || std::is_enum_v<T>);
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

class Getter {
 public:
  explicit Getter(const std::string& in) : in_(in) {}
  template <class T>
  void get(T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    need(sizeof(T));
    std::memcpy(&v, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
  }
  void get_bytes(std::uint8_t* out, std::size_t n) {
    need(n);
    std::memcpy(out, in_.data() + pos_, n);
    pos_ += n;
  }
  std::string rest() const { return in_.substr(pos_); }

 private:
  void need(std::size_t n) const {
    if (pos_ + n > in_.size()) {
      throw_error("atari2600 state: blob cut short at byte ", pos_, " (need ", n, " more of ",
                  in_.size(), "); was it truncated?");
    }
  }
  const std::string& in_;
  std::size_t pos_ = 0;
};

}  // namespace

std::string Console::save_state() const {
  // The blob holds real pixels only (a run that skipped frames saves what one that drew them
  // saves).
  auto& self = const_cast<Console&>(*this);
  self.materialize(0), self.materialize(1);
  std::string out(kTag, sizeof(kTag));
  put(out, static_cast<std::uint64_t>(cart_.image().size()));
  put(out, fnv1a(cart_.image()));
  put(out, cart_.type());
  put(out, cpu_.state());
  put(out, tia_.state());
  put(out, riot_.state());
  put(out, cart_.state());
  put(out, data_bus_);
  auto& tia = const_cast<Tia&>(tia_);
  put(out, tia.shown());
  for (const auto& b : tia.buffers()) out.append(reinterpret_cast<const char*>(b.data()), b.size());
  std::ostringstream rng;
  rng << rng_;
  out += rng.str();
  return out;
}

void Console::load_state(const std::string& blob) {
  Getter g(blob);
  char tag[sizeof(kTag)];
  g.get_bytes(reinterpret_cast<std::uint8_t*>(tag), sizeof(kTag));
  if (std::memcmp(tag, kTag, sizeof(kTag)) != 0) {
    throw_error("atari2600 state: expected a blob tagged '", kTag,
                "', got something else; was it saved by this emulator?");
  }
  std::uint64_t size = 0, sum = 0;
  CartType type{};
  g.get(size), g.get(sum), g.get(type);
  if (size != cart_.image().size() || sum != fnv1a(cart_.image()) || type != cart_.type()) {
    throw_error("atari2600 state: the blob belongs to another ROM (", size,
                " bytes) or cartridge type; load it into a console made from the same ROM");
  }
  CpuState cpu;
  TiaState tia;
  RiotState riot;
  CartState cart;
  std::uint8_t bus = 0, shown = 0;
  g.get(cpu), g.get(tia), g.get(riot), g.get(cart), g.get(bus), g.get(shown);
  std::array<std::vector<std::uint8_t>, 2> buffers;
  for (auto& b : buffers) {
    b.resize(tia_.buffers()[0].size());
    g.get_bytes(b.data(), b.size());
  }
  std::istringstream rng_text(g.rest());
  std::mt19937 rng;
  rng_text >> rng;
  if (!rng_text) throw_error("atari2600 state: the random generator's state is unreadable");
  cpu_.state() = cpu;
  tia_.state() = tia;
  tia_.invalidate_rows();
  riot_.state() = riot;
  cart_.state() = cart;
  data_bus_ = bus;
  tia_.shown() = shown;
  tia_.buffers() = std::move(buffers);
  stale_ = {false, false};
  rng_ = rng;
}

}  // namespace atari2600
