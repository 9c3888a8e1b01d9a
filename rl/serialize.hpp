// rl/serialize.hpp: a little byte writer and reader for run snapshots (bounds-checked reads), and
// the checks the loaders run on arrays before they copy them.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace dqn {

// Collects a file's contents as pieces for write_file_atomic: small values are copied, large
// arrays are referenced where they lie (ref), so that snapshotting a 7 GB frame replay does not
// hold a second and third copy of it in memory. Referenced memory must outlive the writer.
class PieceWriter {
 public:
  void i64(std::int64_t v) { bytes(&v, sizeof v); }
  void u64(std::uint64_t v) { bytes(&v, sizeof v); }
  void f64(double v) { bytes(&v, sizeof v); }
  void floats(const float* p, std::int64_t n) {
    bytes(p, static_cast<std::size_t>(n) * sizeof(float));
  }
  void str(std::string_view s) {
    u64(s.size());
    bytes(s.data(), s.size());
  }
  void bytes(const void* p, std::size_t n) {
    if (n == 0) return;
    if (pieces_.empty() || !pieces_.back().owned) {
      owned_.emplace_back();
      pieces_.push_back({{}, true, owned_.size() - 1});
    }
    owned_[pieces_.back().index].append(static_cast<const char*>(p), n);
  }
  void ref(const void* p, std::size_t n) {
    if (n > 0) pieces_.push_back({std::string_view(static_cast<const char*>(p), n), false, 0});
  }
  // Appends everything `other` holds: its copied bytes are copied, its references stay
  // references (so `other` need not outlive this writer).
  void append(const PieceWriter& other) {
    for (const Piece& p : other.pieces_) {
      if (p.owned)
        bytes(other.owned_[p.index].data(), other.owned_[p.index].size());
      else
        ref(p.view.data(), p.view.size());
    }
  }
  std::uint64_t size() const {
    std::uint64_t n = 0;
    for (const std::string_view v : views()) n += v.size();
    return n;
  }
  std::vector<std::string_view> views() const {
    std::vector<std::string_view> out;
    for (const Piece& p : pieces_)
      out.push_back(p.owned ? std::string_view(owned_[p.index]) : p.view);
    return out;
  }
  std::string concatenated() const {
    std::string out;
    for (const std::string_view v : views()) out.append(v);
    return out;
  }

 private:
  struct Piece {
    std::string_view view;  // when referenced
    bool owned;
    std::size_t index;  // into owned_, when owned
  };
  std::deque<std::string> owned_;
  std::vector<Piece> pieces_;
};

class ByteReader {
 public:
  ByteReader(std::string_view in, const char* what) : in_(in), what_(what) {}
  void bytes(void* p, std::size_t n) {
    DQN_CHECK(n <= in_.size() - pos_, what_, " is truncated: needed ", n, " bytes at offset ", pos_,
              ", only ", in_.size() - pos_, " left");
    if (n > 0) std::memcpy(p, in_.data() + pos_, n);  // p may be null when n is 0
    pos_ += n;
  }
  std::int64_t i64() {
    std::int64_t v;
    bytes(&v, sizeof v);
    return v;
  }
  std::uint64_t u64() {
    std::uint64_t v;
    bytes(&v, sizeof v);
    return v;
  }
  double f64() {
    double v;
    bytes(&v, sizeof v);
    return v;
  }
  void floats(float* p, std::int64_t n) { bytes(p, static_cast<std::size_t>(n) * sizeof(float)); }
  // The next n bytes without copying them (valid while the input is), so a loader can check a
  // large array where it lies before it copies anything.
  std::string_view take(std::size_t n) {
    DQN_CHECK(n <= in_.size() - pos_, what_, " is truncated: needed ", n, " bytes at offset ", pos_,
              ", only ", in_.size() - pos_, " left");
    const std::string_view v = in_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  std::string str() { return std::string(view()); }
  // A length-prefixed blob without copying it (valid while the input is).
  std::string_view view() {
    const std::uint64_t n = u64();
    DQN_CHECK(n <= in_.size() - pos_, what_, " is corrupt: a string of ", n, " bytes at offset ",
              pos_, " runs past the end");
    const std::string_view v = in_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  void expect_end() const {
    DQN_CHECK(pos_ == in_.size(), what_, " has ", in_.size() - pos_, " unexpected trailing bytes");
  }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
  const char* what_;
};

// Checks on arrays stored as raw bytes (possibly unaligned, hence the memcpy): the index of the
// first element that fails, or -1 when all pass.
inline std::int64_t first_non_finite_float(std::string_view bytes) {
  const std::size_t n = bytes.size() / sizeof(float);
  for (std::size_t i = 0; i < n; ++i) {
    float v;
    std::memcpy(&v, bytes.data() + i * sizeof(float), sizeof v);
    if (!std::isfinite(v)) return static_cast<std::int64_t>(i);
  }
  return -1;
}
inline std::int64_t first_not_in_range(std::string_view int64s, std::int64_t lo, std::int64_t hi) {
  const std::size_t n = int64s.size() / sizeof(std::int64_t);
  for (std::size_t i = 0; i < n; ++i) {
    std::int64_t v;
    std::memcpy(&v, int64s.data() + i * sizeof v, sizeof v);
    if (v < lo || v >= hi) return static_cast<std::int64_t>(i);
  }
  return -1;
}
// Flags are stored one byte each, 0 or 1.
inline std::int64_t first_not_flag(std::string_view bytes) {
  for (std::size_t i = 0; i < bytes.size(); ++i)
    if (static_cast<unsigned char>(bytes[i]) > 1) return static_cast<std::int64_t>(i);
  return -1;
}

}  // namespace dqn
