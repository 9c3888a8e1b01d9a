// rl/serialize.hpp: little byte writer/reader for run snapshots (bounds-checked reads).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace dqn {

class ByteWriter {
 public:
  explicit ByteWriter(std::string& out) : out_(out) {}
  void bytes(const void* p, std::size_t n) {
    if (n > 0) out_.append(static_cast<const char*>(p), n);  // p may be null when n is 0
  }
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

 private:
  std::string& out_;
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
  std::string str() {
    const std::uint64_t n = u64();
    DQN_CHECK(n <= in_.size() - pos_, what_, " is corrupt: a string of ", n, " bytes at offset ",
              pos_, " runs past the end");
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  void expect_end() const {
    DQN_CHECK(pos_ == in_.size(), what_, " has ", in_.size() - pos_, " unexpected trailing bytes");
  }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
  const char* what_;
};

}  // namespace dqn
