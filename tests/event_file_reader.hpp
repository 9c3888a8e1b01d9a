// tests/event_file_reader.hpp: a TensorBoard event-file reader written apart from the writer
// (rl/tensorboard.cpp), for tests: TFRecord frames with every CRC checked by a bitwise CRC-32C,
// protobuf fields decoded by hand, Events and their scalar Summaries. Any unexpected field
// fails the calling test (doctest assertions).
#pragma once

#include <doctest/doctest.h>

#include <bit>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dqn::testing {

// The CRC bit by bit (RFC 3720 appendix B.4), not from a table: the reference the table-driven
// crc32c() is held against.
inline std::uint32_t crc32c_bitwise(const void* data, std::size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < size; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc & 1u) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return ~crc;
}

inline std::uint32_t unmask(std::uint32_t masked) {
  const std::uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

inline std::uint64_t read_le(const std::string& bytes, std::size_t at, int width) {
  std::uint64_t v = 0;
  for (int i = 0; i < width; ++i)
    v |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
  return v;
}

// The records of a TFRecord file. Every length CRC and data CRC is checked against the bitwise
// reference; a truncated frame is an error.
inline std::vector<std::string> read_frames(const std::string& file) {
  std::vector<std::string> records;
  std::size_t at = 0;
  while (at < file.size()) {
    REQUIRE(file.size() - at >= 12);
    const std::uint64_t length = read_le(file, at, 8);
    const auto length_crc = static_cast<std::uint32_t>(read_le(file, at + 8, 4));
    REQUIRE(unmask(length_crc) == crc32c_bitwise(file.data() + at, 8));
    REQUIRE(file.size() - at - 12 >= length + 4);
    std::string data = file.substr(at + 12, length);
    const auto data_crc = static_cast<std::uint32_t>(read_le(file, at + 12 + length, 4));
    REQUIRE(unmask(data_crc) == crc32c_bitwise(data.data(), data.size()));
    records.push_back(std::move(data));
    at += 12 + length + 4;
  }
  return records;
}

// One protobuf field: its number, wire type, and value (a varint or fixed value in `number`,
// the bytes of a length-delimited one in `bytes`).
struct Field {
  std::uint32_t field = 0, wire = 0;
  std::uint64_t number = 0;
  std::string bytes;
};

inline std::uint64_t read_varint(const std::string& m, std::size_t& at) {
  std::uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    REQUIRE(at < m.size());
    const auto b = static_cast<unsigned char>(m[at++]);
    v |= static_cast<std::uint64_t>(b & 0x7Fu) << shift;
    if ((b & 0x80u) == 0) return v;
  }
  FAIL("varint longer than 10 bytes");
  return 0;
}

inline std::vector<Field> parse_message(const std::string& m) {
  std::vector<Field> fields;
  std::size_t at = 0;
  while (at < m.size()) {
    const std::uint64_t key = read_varint(m, at);
    Field f;
    f.field = static_cast<std::uint32_t>(key >> 3);
    f.wire = static_cast<std::uint32_t>(key & 7u);
    switch (f.wire) {
      case 0:
        f.number = read_varint(m, at);
        break;
      case 1:
        REQUIRE(m.size() - at >= 8);
        f.number = read_le(m, at, 8);
        at += 8;
        break;
      case 2: {
        const std::uint64_t n = read_varint(m, at);
        REQUIRE(m.size() - at >= n);
        f.bytes = m.substr(at, n);
        at += n;
        break;
      }
      case 5:
        REQUIRE(m.size() - at >= 4);
        f.number = read_le(m, at, 4);
        at += 4;
        break;
      default:
        FAIL("unexpected wire type " << f.wire);
    }
    fields.push_back(std::move(f));
  }
  return fields;
}

struct DecodedEvent {
  double wall_time = std::numeric_limits<double>::quiet_NaN();
  std::optional<std::int64_t> step;
  std::optional<std::string> file_version;
  std::optional<std::uint64_t> session_status;
  std::vector<std::pair<std::string, float>> values;
};

// Decodes the fields the writer may use (event.proto, summary.proto); any other field, or one
// with the wrong wire type, fails the test.
inline DecodedEvent decode_event(const std::string& data) {
  DecodedEvent e;
  for (const Field& f : parse_message(data)) {
    if (f.field == 1 && f.wire == 1) {
      e.wall_time = std::bit_cast<double>(f.number);
    } else if (f.field == 2 && f.wire == 0) {
      e.step = static_cast<std::int64_t>(f.number);
    } else if (f.field == 3 && f.wire == 2) {
      e.file_version = f.bytes;
    } else if (f.field == 5 && f.wire == 2) {
      for (const Field& v : parse_message(f.bytes)) {
        REQUIRE(v.field == 1);
        REQUIRE(v.wire == 2);
        std::optional<std::string> tag;
        std::optional<float> value;
        for (const Field& x : parse_message(v.bytes)) {
          if (x.field == 1 && x.wire == 2)
            tag = x.bytes;
          else if (x.field == 2 && x.wire == 5)
            value = std::bit_cast<float>(static_cast<std::uint32_t>(x.number));
          else
            FAIL("unexpected Summary.Value field " << x.field << " wire type " << x.wire);
        }
        REQUIRE(tag.has_value());
        REQUIRE(value.has_value());
        e.values.emplace_back(*tag, *value);
      }
    } else if (f.field == 7 && f.wire == 2) {
      const auto log = parse_message(f.bytes);
      REQUIRE(log.size() == 1);
      REQUIRE(log[0].field == 1);
      REQUIRE(log[0].wire == 0);
      e.session_status = log[0].number;
    } else {
      FAIL("unexpected Event field " << f.field << " wire type " << f.wire);
    }
  }
  return e;
}

// Every scalar of an event file by tag: (step, value) in file order.
inline std::map<std::string, std::vector<std::pair<std::int64_t, float>>> scalars_by_tag(
    const std::string& file) {
  std::map<std::string, std::vector<std::pair<std::int64_t, float>>> out;
  const std::vector<std::string> records = read_frames(file);
  REQUIRE(!records.empty());
  REQUIRE(decode_event(records[0]).file_version == std::optional<std::string>("brain.Event:2"));
  for (std::size_t i = 1; i < records.size(); ++i) {
    const DecodedEvent e = decode_event(records[i]);
    for (const auto& [tag, value] : e.values) out[tag].emplace_back(e.step.value_or(0), value);
  }
  return out;
}

}  // namespace dqn::testing
