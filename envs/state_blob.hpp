// envs/state_blob.hpp: the byte format of Env::save_state / load_state.
//
// A blob is a tag naming its writer ("cartpole/1"), then the fields as raw little-endian bytes
// (this project runs on x86-64 and aarch64, both little-endian). The reader checks the tag and
// every length before it reads, so a malformed blob throws a dqn::Error and the caller, which
// reads into temporaries first, leaves its env unchanged.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace dqn {

class BlobWriter {
 public:
  BlobWriter(std::string& out, std::string_view tag) : out_(out) {
    out_.clear();
    put<std::uint32_t>(static_cast<std::uint32_t>(tag.size()));
    out_.append(tag);
  }
  template <class T>
  void put(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    out_.append(reinterpret_cast<const char*>(&value), sizeof(T));
  }
  void put_bytes(const void* data, std::size_t n) {
    put<std::uint64_t>(n);
    out_.append(static_cast<const char*>(data), n);
  }
  void put_rng(const Rng& rng) {
    for (std::uint64_t w : rng.state()) put(w);
  }

 private:
  std::string& out_;
};

class BlobReader {
 public:
  BlobReader(std::string_view blob, std::string_view tag) : blob_(blob), tag_(tag) {
    const auto n = get<std::uint32_t>();
    DQN_CHECK(n == tag.size() && blob_.substr(pos_, n) == tag,
              "load_state: expected a blob saved by '", tag,
              "', got one that starts differently: was it saved by another env or version?");
    pos_ += n;
  }
  template <class T>
  T get() {
    static_assert(std::is_trivially_copyable_v<T>);
    need(sizeof(T));
    T value;
    std::memcpy(&value, blob_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }
  void get_bytes(void* data, std::size_t n) {
    const auto stored = get<std::uint64_t>();
    DQN_CHECK(stored == n, "load_state '", tag_, "': expected a field of ", n, " bytes, got ",
              stored, ": the blob is from an env with other options");
    need(n);
    std::memcpy(data, blob_.data() + pos_, n);
    pos_ += n;
  }
  // A field of any length written by put_bytes.
  std::string get_string() {
    const auto n = get<std::uint64_t>();
    need(n);
    std::string out(blob_.substr(pos_, n));
    pos_ += n;
    return out;
  }
  Rng get_rng() {
    Rng::State s;
    for (auto& w : s) w = get<std::uint64_t>();
    DQN_CHECK((s[0] | s[1] | s[2] | s[3]) != 0, "load_state '", tag_,
              "': an all-zero Rng state is invalid: the blob is corrupt");
    Rng rng;
    rng.set_state(s);
    return rng;
  }
  // Call after the last field: trailing bytes mean the blob is not what the reader thinks.
  void finish() const {
    DQN_CHECK(pos_ == blob_.size(), "load_state '", tag_, "': expected ", pos_, " bytes, got ",
              blob_.size(), ": the blob is truncated or from another version");
  }

 private:
  void need(std::size_t n) const {
    DQN_CHECK(blob_.size() - pos_ >= n, "load_state '", tag_, "': the blob ends after ",
              blob_.size(), " bytes but needs ", pos_ + n, ": it is truncated");
  }
  std::string_view blob_;
  std::string_view tag_;
  std::size_t pos_ = 0;
};

}  // namespace dqn
