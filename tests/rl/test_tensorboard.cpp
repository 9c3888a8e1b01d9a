// Tests for rl/tensorboard.hpp: CRC-32C against published values and a bitwise reference,
// event files read back by an independent decoder (every frame's CRCs, every protobuf field),
// a committed fixture checked byte by byte against the wire format, and metrics.csv.
#include <doctest/doctest.h>

#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "rl/tensorboard.hpp"
#include "tests/event_file_reader.hpp"

using namespace dqn;
using namespace dqn::testing;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
#ifdef DQN_SOURCE_DIR
  if (!in) in.open(std::string(DQN_SOURCE_DIR) + "/" + path, std::ios::binary);
#endif
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A fresh, empty folder of this test's own.
std::string fresh_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("dqn_tensorboard_" + name + "_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

std::uint32_t float_bits(float f) {
  return std::bit_cast<std::uint32_t>(f);
}

}  // namespace

// ---------------------------------------------------------------- CRC-32C

TEST_CASE("crc32c matches the published check value and RFC 3720's test vectors") {
  CHECK(crc32c("123456789", 9) == 0xE3069283u);
  CHECK(crc32c("", 0) == 0u);
  // RFC 3720 appendix B.4: 32 bytes of zeros, of ones, ascending 0..31, descending 31..0.
  unsigned char zeros[32], ones[32], up[32], down[32];
  for (int i = 0; i < 32; ++i) {
    zeros[i] = 0;
    ones[i] = 0xFF;
    up[i] = static_cast<unsigned char>(i);
    down[i] = static_cast<unsigned char>(31 - i);
  }
  CHECK(crc32c(zeros, 32) == 0x8A9136AAu);
  CHECK(crc32c(ones, 32) == 0x62A8AB43u);
  CHECK(crc32c(up, 32) == 0x46DD794Eu);
  CHECK(crc32c(down, 32) == 0x113FDB5Cu);
  // The bitwise reference agrees on the same vectors, so it can judge what has no published value.
  CHECK(crc32c_bitwise("123456789", 9) == 0xE3069283u);
  CHECK(crc32c_bitwise(up, 32) == 0x46DD794Eu);
}

TEST_CASE("crc32c agrees with the bitwise reference on a long buffer and extends across pieces") {
  std::vector<unsigned char> buffer(4099);
  std::uint32_t x = 12345;
  for (auto& b : buffer) {
    x = x * 1664525u + 1013904223u;  // Numerical Recipes LCG: any bytes will do
    b = static_cast<unsigned char>(x >> 24);
  }
  const std::uint32_t whole = crc32c(buffer.data(), buffer.size());
  CHECK(whole == crc32c_bitwise(buffer.data(), buffer.size()));
  for (const std::size_t cut : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{4098}})
    CHECK(crc32c(buffer.data() + cut, buffer.size() - cut, crc32c(buffer.data(), cut)) == whole);
  // Every prefix length up to 64 (all alignments and tails).
  for (std::size_t n = 0; n <= 64; ++n)
    CHECK(crc32c(buffer.data() + 3, n) == crc32c_bitwise(buffer.data() + 3, n));
}

TEST_CASE("crc32c_mask rotates right by 15 and adds TensorFlow's delta") {
  CHECK(crc32c_mask(0) == 0xa282ead8u);
  // 0x12345678 rotated right by 15 is 0xACF02468; + 0xa282ead8 = 0x4F730F40 (mod 2^32).
  CHECK(crc32c_mask(0x12345678u) == 0x4F730F40u);
  CHECK(unmask(crc32c_mask(0xE3069283u)) == 0xE3069283u);
}

// ---------------------------------------------------------------- the committed fixture

// tests/fixtures/tensorboard_scalar.tfevents (made by make_tensorboard_fixture.py, which does not
// use the C++ writer) holds what EventWriter(dir, 1.5) + add_scalar("loss", 300, 0.5, 2.25) must
// write. Here its bytes are rebuilt once more from the wire format, field by field, with the CRCs
// from the bitwise reference; then the writer's file must equal it byte for byte.
TEST_CASE("tensorboard: the writer's file equals the hand-checked fixture byte for byte") {
  // Event{wall_time: 1.5, file_version: "brain.Event:2"}: 24 bytes.
  const std::vector<unsigned char> version = {
      0x09,                                            // key: field 1 (wall_time), wire type 1
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x3F,  // 1.5 = 0x3FF8000000000000, little-endian
      0x1A,                                            // key: field 3 (file_version), wire type 2
      0x0D,                                            // length 13
      'b',  'r',  'a',  'i',  'n',  '.',  'E',  'v',  'e', 'n', 't', ':', '2'};
  // Event{wall_time: 2.25, step: 300, summary: {value: [{tag: "loss", simple_value: 0.5}]}}.
  const std::vector<unsigned char> scalar = {
      0x09,                                            // key: field 1 (wall_time), wire type 1
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x40,  // 2.25 = 0x4002000000000000
      0x10,                                            // key: field 2 (step), wire type 0
      0xAC, 0x02,  // 300 = 0b10'0101100: low 7 bits 0x2C | 0x80 continuation, then 0x02
      0x2A,        // key: field 5 (summary), wire type 2
      0x0D,        // length 13: the Summary below
      0x0A,        //   key: Summary field 1 (value), wire type 2
      0x0B,        //   length 11: the Value below
      0x0A,        //     key: Value field 1 (tag), wire type 2
      0x04,        //     length 4
      'l',  'o',  's',  's',
      0x15,                   //     key: Value field 2 (simple_value), wire type 5 (fixed32)
      0x00, 0x00, 0x00, 0x3F  //     0.5f = 0x3F000000, little-endian
  };
  CHECK(version.size() == 24);
  CHECK(scalar.size() == 27);
  std::string expected;
  for (const auto* data : {&version, &scalar}) {
    unsigned char length[8] = {static_cast<unsigned char>(data->size())};  // < 256: one byte
    const auto put32 = [&](std::uint32_t v) {
      for (int i = 0; i < 4; ++i) expected.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    };
    expected.append(reinterpret_cast<const char*>(length), 8);
    put32(crc32c_mask(crc32c_bitwise(length, 8)));
    expected.append(data->begin(), data->end());
    put32(crc32c_mask(crc32c_bitwise(data->data(), data->size())));
  }
  // The first 12 bytes of every event file whose version record is 24 bytes long.
  CHECK(expected.substr(0, 12) == std::string("\x18\0\0\0\0\0\0\0\xa3\x7f\x4b\x22", 12));

  const std::string fixture = read_file("tests/fixtures/tensorboard_scalar.tfevents");
  CHECK(fixture == expected);

  const std::string dir = fresh_dir("fixture");
  EventWriter writer(dir, 1.5);
  writer.add_scalar("loss", 300, 0.5, 2.25);
  writer.close();
  CHECK(read_file(writer.path()) == fixture);
  std::filesystem::remove_all(dir);
}

// ---------------------------------------------------------------- round trips

TEST_CASE("tensorboard: scalars round-trip through the file, with their steps, times and bits") {
  const std::string dir = fresh_dir("roundtrip");
  const double t0 = 1764500000.123456;  // a 2025 time: wall_time keeps all of a double's bits
  const std::int64_t big = (std::int64_t{1} << 40) + 3;  // a six-byte varint
  const float denormal = std::numeric_limits<float>::denorm_min();
  std::string path;
  {
    EventWriter writer(dir, t0);
    path = writer.path();
    writer.add_scalar("charts/episodic_return", 0, 21.0, t0 + 1);
    writer.add_scalar("charts/epsilon", 127, 0.1, t0 + 2);  // 0.1 is stored as 0.1f
    writer.add_scalar("losses/td_loss", 128, -0.0, t0 + 3);
    writer.add_scalars(big, t0 + 4,
                       {{"charts/SPS", std::numeric_limits<double>::infinity()},
                        {"losses/q_values", -std::numeric_limits<double>::infinity()},
                        {"losses/grad_norm", std::numeric_limits<double>::quiet_NaN()},
                        {"eval/mean_return", static_cast<double>(denormal)},
                        {"charts/episodic_length", 3.4e38}});
    writer.add_scalar("x", std::numeric_limits<std::int64_t>::max(), 1.0, t0 + 5);
    writer.flush();
  }  // the destructor closes

  const auto records = read_frames(read_file(path));
  REQUIRE(records.size() == 6);
  std::vector<DecodedEvent> e;
  for (const auto& r : records) e.push_back(decode_event(r));

  CHECK(e[0].file_version == std::string("brain.Event:2"));
  CHECK(!e[0].step.has_value());
  CHECK(e[0].values.empty());
  CHECK(e[0].wall_time == t0);
  for (std::size_t i = 1; i < e.size(); ++i) {
    CHECK(e[i].wall_time == t0 + static_cast<double>(i));
    CHECK(!e[i].file_version.has_value());
  }
  CHECK(e[1].step == 0);
  REQUIRE(e[1].values.size() == 1);
  CHECK(e[1].values[0].first == "charts/episodic_return");
  CHECK(e[1].values[0].second == 21.0f);
  CHECK(e[2].step == 127);
  CHECK(float_bits(e[2].values.at(0).second) == float_bits(0.1f));
  CHECK(e[3].step == 128);
  CHECK(float_bits(e[3].values.at(0).second) == float_bits(-0.0f));  // the sign survives
  CHECK(e[4].step == big);
  REQUIRE(e[4].values.size() == 5);
  CHECK(e[4].values[0].first == "charts/SPS");
  CHECK(e[4].values[0].second == std::numeric_limits<float>::infinity());
  CHECK(e[4].values[1].first == "losses/q_values");
  CHECK(e[4].values[1].second == -std::numeric_limits<float>::infinity());
  CHECK(e[4].values[2].first == "losses/grad_norm");
  CHECK(std::isnan(e[4].values[2].second));
  CHECK(e[4].values[3].first == "eval/mean_return");
  CHECK(float_bits(e[4].values[3].second) == float_bits(denormal));
  CHECK(e[4].values[4].first == "charts/episodic_length");
  CHECK(e[4].values[4].second == 3.4e38f);
  CHECK(e[5].step == std::numeric_limits<std::int64_t>::max());  // a nine-byte varint
  std::filesystem::remove_all(dir);
}

TEST_CASE("tensorboard: steps take as many varint bytes as the encoding guide says") {
  // An Event with one empty-valued scalar "t": 9 (wall_time) + 1 + varint(step) + 2 (summary
  // key, length) + 2 (value key, length) + 3 (tag) + 5 (simple_value) = 22 + varint bytes.
  const std::pair<std::int64_t, std::size_t> cases[] = {
      {0, 1},
      {127, 1},
      {128, 2},
      {16383, 2},
      {16384, 3},
      {(std::int64_t{1} << 32) + 1, 5},
      {(std::int64_t{1} << 35), 6},
      {std::numeric_limits<std::int64_t>::max(), 9},
      {-1, 10}};  // int64 (not sint64): two's complement, ten bytes
  for (const auto& [step, bytes] : cases) {
    CAPTURE(step);
    std::string out;
    const ScalarValue v{"t", 1.0};
    encode_scalars_event(out, 0.0, step, std::span<const ScalarValue>(&v, 1));
    CHECK(out.size() == 22 + bytes);
    const DecodedEvent e = decode_event(out);
    CHECK(e.step == step);
  }
}

TEST_CASE("tensorboard: a restart is a SessionLog START event at the resumed step") {
  std::string out;
  encode_session_start_event(out, 2.25, 300);
  // key 0x09 + 2.25; key 0x10 + varint 300; key 0x3A (field 7, wire type 2), length 2,
  // SessionLog{key 0x08 (field 1, wire type 0), START = 1}.
  const std::string expected("\x09\0\0\0\0\0\0\x02\x40\x10\xAC\x02\x3A\x02\x08\x01", 16);
  CHECK(out == expected);
  const DecodedEvent e = decode_event(out);
  CHECK(e.step == 300);
  CHECK(e.session_status == 1u);
  CHECK(e.values.empty());

  const std::string dir = fresh_dir("restart");
  EventWriter writer(dir, 1.5);
  writer.add_session_start(300, 2.25);
  writer.close();
  const auto records = read_frames(read_file(writer.path()));
  REQUIRE(records.size() == 2);
  CHECK(records[1] == expected);
  std::filesystem::remove_all(dir);
}

TEST_CASE("tensorboard: an empty tag is refused") {
  std::string out;
  const ScalarValue v{"", 1.0};
  CHECK_THROWS_AS(encode_scalars_event(out, 0.0, 5, std::span<const ScalarValue>(&v, 1)), Error);
}

// ---------------------------------------------------------------- the file and its name

TEST_CASE("tensorboard: the file is events.out.tfevents.<secs>.<host>, never overwritten") {
  const std::string dir = fresh_dir("names");
  char host[256] = {};
  REQUIRE(gethostname(host, sizeof host - 1) == 0);
  EventWriter first(dir, 1764500000.75);
  CHECK(first.path() == dir + "/events.out.tfevents.1764500000." + host);
  first.add_scalar("a", 1, 1.0, 1764500001.0);
  first.flush();
  const std::string before = read_file(first.path());
  // A second writer in the same second gets a numbered name, and the first file is untouched.
  EventWriter second(dir, 1764500000.25);
  CHECK(second.path() == first.path() + ".1");
  second.close();
  CHECK(read_file(first.path()) == before);
  CHECK(read_frames(before).size() == 2);
  std::filesystem::remove_all(dir);
}

TEST_CASE("tensorboard: a writer in a missing folder throws an error naming it and the fix") {
  const std::string base = fresh_dir("missing"), dir = base + "/no/such/folder";
  try {
    EventWriter writer(dir, 1.0);
    FAIL("expected dqn::Error");
  } catch (const Error& e) {
    const std::string message = e.what();
    CHECK(message.find(dir + "/events.out.tfevents.1.") != std::string::npos);
    CHECK(message.find("No such file or directory") != std::string::npos);
    CHECK(message.find("create it first") != std::string::npos);
  }
  std::filesystem::remove_all(base);
}

TEST_CASE("csv: a full disk is reported with the file's name") {
  // /dev/full accepts the open and fails every write with ENOSPC (Linux), so the error path of a
  // real full disk runs without filling one. The buffered write fails at flush at the latest.
  if (!std::filesystem::exists("/dev/full")) return;
  CsvWriter csv("/dev/full", {"step"});
  try {
    csv.write_row({1.0});
    csv.flush();
    FAIL("expected dqn::Error");
  } catch (const Error& e) {
    const std::string message = e.what();
    CHECK(message.find("/dev/full") != std::string::npos);
    CHECK(message.find("is the disk full?") != std::string::npos);
  }
}

// ---------------------------------------------------------------- metrics.csv

TEST_CASE("csv: a header, one row per call, %.9g numbers, exact integers, empty missing cells") {
  const std::string dir = fresh_dir("csv");
  const std::string path = dir + "/metrics.csv";
  {
    CsvWriter csv(path, {"step", "charts/episodic_return", "losses/td_loss", "eval/mean_return"});
    csv.write_row({1000, 21.5, 0.1, kCsvMissing});
    csv.write_row({1234567890, -3.0, 1.0 / 3.0, 19.25});
    csv.write_row({9007199254740993.0, std::numeric_limits<double>::infinity(), 1e-12, 0.1f});
    csv.close();
  }
  CHECK(read_file(path) ==
        "step,charts/episodic_return,losses/td_loss,eval/mean_return\n"
        "1000,21.5,0.1,\n"
        "1234567890,-3,0.333333333,19.25\n"
        "9.00719925e+15,inf,1e-12,0.100000001\n");
  std::filesystem::remove_all(dir);
}

TEST_CASE("csv: rows of the wrong width, bad column names and missing folders are refused") {
  const std::string dir = fresh_dir("csv_bad");
  CsvWriter csv(dir + "/metrics.csv", {"a", "b"});
  CHECK_THROWS_WITH_AS(csv.write_row({1.0}), doctest::Contains("has 2 columns, but a row of 1"),
                       Error);
  CHECK_THROWS_AS(CsvWriter(dir + "/x.csv", {"a,b"}), Error);
  CHECK_THROWS_AS(CsvWriter(dir + "/x.csv", {""}), Error);
  CHECK_THROWS_AS(CsvWriter(dir + "/x.csv", {}), Error);
  CHECK_THROWS_WITH_AS(CsvWriter(dir + "/no/such/metrics.csv", {"a"}),
                       doctest::Contains("create it first"), Error);
  std::filesystem::remove_all(dir);
}

TEST_CASE("tensorboard and csv: a file cut back to an earlier length is continued in place") {
  // What resume does: the run's files are cut back to the snapshot's lengths and appended to,
  // so each point appears once, in order.
  const std::string dir = fresh_dir("append");
  std::string events_path, csv_path = dir + "/metrics.csv";
  std::int64_t events_cut = 0, csv_cut = 0;
  {
    EventWriter w(dir, 100.0);
    CsvWriter csv(csv_path, {"step", "x"});
    w.add_scalar("a", 1, 1.0, 101.0);
    csv.write_row({1, 1.0});
    w.flush();
    csv.flush();
    events_cut = w.bytes();
    csv_cut = csv.bytes();
    w.add_scalar("a", 2, 2.0, 102.0);  // written after the "snapshot": to be cut away
    csv.write_row({2, 2.0});
    events_path = w.path();
  }
  CHECK(static_cast<std::int64_t>(std::filesystem::file_size(events_path)) > events_cut);
  std::filesystem::resize_file(events_path, static_cast<std::uintmax_t>(events_cut));
  std::filesystem::resize_file(csv_path, static_cast<std::uintmax_t>(csv_cut));
  {
    EventWriter w = EventWriter::append_to(events_path);
    CsvWriter csv = CsvWriter::append_to(csv_path, {"step", "x"});
    CHECK(w.bytes() == events_cut);
    CHECK(csv.bytes() == csv_cut);
    w.add_scalar("a", 2, 3.0, 103.0);
    csv.write_row({2, 3.0});
  }
  const auto scalars = scalars_by_tag(read_file(events_path));
  REQUIRE(scalars.at("a").size() == 2);
  CHECK(scalars.at("a")[0] == std::pair<std::int64_t, float>{1, 1.0f});
  CHECK(scalars.at("a")[1] == std::pair<std::int64_t, float>{2, 3.0f});
  CHECK(read_file(csv_path) == "step,x\n1,1\n2,3\n");
  CHECK_THROWS_AS(CsvWriter::append_to(csv_path, {"step", "y"}), Error);  // another header
}
