// tests/binary_fixture.hpp: reads the binary PyTorch fixtures of tests/fixtures/make_nn_fixtures.py
// and make_c51_fixture.py (committed; CI has no torch).
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace dqn::test {

// The fixture format of make_nn_fixtures.py: a text header of "name dtype rank dims..." lines up
// to "END", then the raw little-endian arrays in header order.
class BinaryFixture {
 public:
  explicit BinaryFixture(const std::string& name) {
    const std::string path = std::string(DQN_SOURCE_DIR) + "/tests/fixtures/" + name;
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open ", path,
                    " (regenerate: /usr/bin/python3 tests/fixtures/make_nn_fixtures.py or "
                    "make_c51_fixture.py)");
    std::string line;
    std::getline(in, line);
    REQUIRE(line == "DQNFIXTURE 1");
    std::vector<std::pair<std::string, Array>> order;
    while (std::getline(in, line) && line != "END") {
      std::istringstream fields(line);
      std::string array_name;
      Array a;
      int rank = 0;
      fields >> array_name >> a.dtype >> rank;
      std::int64_t numel = 1;
      for (int i = 0; i < rank; ++i) {
        std::int64_t d = 0;
        fields >> d;
        a.shape.push_back(d);
        numel *= d;
      }
      a.bytes.resize(static_cast<std::size_t>(numel) * (a.dtype == "u8"    ? 1
                                                        : a.dtype == "i64" ? 8
                                                                           : 4));
      order.emplace_back(array_name, std::move(a));
    }
    REQUIRE(line == "END");
    for (auto& [array_name, a] : order) {
      in.read(a.bytes.data(), static_cast<std::streamsize>(a.bytes.size()));
      REQUIRE_MESSAGE(in.good(), path, " ends inside ", array_name);
      arrays_[array_name] = std::move(a);
    }
  }

  std::vector<float> f32(const std::string& name) const { return get<float>(name, "f32"); }
  std::vector<std::int64_t> i64(const std::string& name) const {
    return get<std::int64_t>(name, "i64");
  }
  std::vector<std::uint8_t> u8(const std::string& name) const {
    return get<std::uint8_t>(name, "u8");
  }
  Shape shape(const std::string& name) const {
    Shape s;
    for (std::int64_t d : arrays_.at(name).shape) s.dims[s.rank++] = d;
    return s;
  }

 private:
  struct Array {
    std::string dtype;
    std::vector<std::int64_t> shape;
    std::string bytes;
  };
  template <class T>
  std::vector<T> get(const std::string& name, const char* dtype) const {
    const auto it = arrays_.find(name);
    REQUIRE_MESSAGE(it != arrays_.end(), "fixture has no array ", name);
    REQUIRE(it->second.dtype == dtype);
    std::vector<T> out(it->second.bytes.size() / sizeof(T));
    std::memcpy(out.data(), it->second.bytes.data(), it->second.bytes.size());
    return out;
  }
  std::map<std::string, Array> arrays_;
};

// The integer-hash initialisation of make_nn_fixtures.py's hash_init(), bit for bit.
inline void hash_init(Tensor& t, std::int64_t fan_in, std::uint32_t salt) {
  const float bound = static_cast<float>(1.0 / std::sqrt(static_cast<double>(fan_in)));
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    std::uint32_t x = static_cast<std::uint32_t>(i) + salt * 0x9E3779B9u;
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    const std::int64_t k = static_cast<std::int64_t>(x >> 8) - (1 << 23);
    t[i] = static_cast<float>(k) / 8388608.0f * bound;
  }
}

}  // namespace dqn::test
