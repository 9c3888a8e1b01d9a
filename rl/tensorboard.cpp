// rl/tensorboard.cpp: CRC-32C, TFRecord framing, the protobuf wire encoding of scalar Events,
// the event-file writer and the metrics.csv writer (see rl/tensorboard.hpp for the formats).
#include "rl/tensorboard.hpp"

#include <unistd.h>  // gethostname

#include <array>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>

#include "core/error.hpp"

namespace dqn {

// ---------------------------------------------------------------- CRC-32C

namespace {

// The byte-at-a-time table of the reflected CRC (Sarwate 1988): entry b is the CRC register after
// shifting b through 8 steps of the bitwise algorithm. Built at compile time from the polynomial,
// so the table is the polynomial and nothing else. Event records are tens of bytes, so
// slicing-by-8 would buy nothing measurable here.
constexpr std::uint32_t kCrc32cPolynomial = 0x82F63B78u;  // Castagnoli, bit-reversed

constexpr std::array<std::uint32_t, 256> make_crc32c_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t b = 0; b < 256; ++b) {
    std::uint32_t crc = b;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ ((crc & 1u) ? kCrc32cPolynomial : 0u);
    table[b] = crc;
  }
  return table;
}

constexpr std::array<std::uint32_t, 256> kCrc32cTable = make_crc32c_table();

}  // namespace

std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc) {
  const auto* p = static_cast<const unsigned char*>(data);
  // The register starts at ~0 and the result is complemented (RFC 3720 B.4); complementing the
  // incoming crc first is what lets a result be extended over more bytes.
  crc = ~crc;
  for (std::size_t i = 0; i < size; ++i) crc = (crc >> 8) ^ kCrc32cTable[(crc ^ p[i]) & 0xFFu];
  return ~crc;
}

// ---------------------------------------------------------------- little-endian and varints

namespace {

// Byte by byte with shifts, so the file is little-endian whatever the host's byte order.
void put_fixed32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFFu));
}

void put_fixed64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFFu));
}

// Base-128 varint, least significant group first, high bit set on every byte but the last
// (protobuf encoding guide, "Base 128 Varints"). A negative int64 is encoded as its two's
// complement uint64, ten bytes (the guide's rule for int64, unlike sint64's zigzag).
void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80u) {
    out.push_back(static_cast<char>((v & 0x7Fu) | 0x80u));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

std::size_t varint_size(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80u) {
    v >>= 7;
    ++n;
  }
  return n;
}

// A field's key is (field_number << 3) | wire_type (encoding guide, "Message Structure").
enum WireType : std::uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

constexpr char key(std::uint32_t field, WireType type) {
  return static_cast<char>((field << 3) | type);
}

// Field numbers, from tensorflow/core/util/event.proto (also tensorboard/compat/proto/event.proto)
//   message Event { double wall_time = 1; int64 step = 2;
//                   oneof what { string file_version = 3; ... Summary summary = 5; ... } }
// and tensorflow/core/framework/summary.proto
//   message Summary { message Value { string tag = 1;
//                                     oneof value { float simple_value = 2; ... } }
//                     repeated Value value = 1; }
// and, for restarts, event.proto's Event.session_log = 7 and
//   message SessionLog { enum SessionStatus { ...; START = 1; ... } SessionStatus status = 1; }
constexpr char kKeyEventWallTime = key(1, kFixed64);             // 0x09
constexpr char kKeyEventStep = key(2, kVarint);                  // 0x10
constexpr char kKeyEventFileVersion = key(3, kLengthDelimited);  // 0x1A
constexpr char kKeyEventSummary = key(5, kLengthDelimited);      // 0x2A
constexpr char kKeyEventSessionLog = key(7, kLengthDelimited);   // 0x3A
constexpr char kKeySummaryValue = key(1, kLengthDelimited);      // 0x0A
constexpr char kKeyValueTag = key(1, kLengthDelimited);          // 0x0A
constexpr char kKeyValueSimpleValue = key(2, kFixed32);          // 0x15
constexpr char kKeySessionLogStatus = key(1, kVarint);           // 0x08
constexpr char kSessionStatusStart = 1;

void put_wall_time(std::string& out, double wall_time) {
  out.push_back(kKeyEventWallTime);
  put_fixed64(out, std::bit_cast<std::uint64_t>(wall_time));
}

// Bytes of one serialized Summary.Value{tag, simple_value}: key, length, tag; key, 4 bytes.
std::size_t value_size(const ScalarValue& v) {
  return 1 + varint_size(v.tag.size()) + v.tag.size() + 1 + 4;
}

}  // namespace

void append_tfrecord(std::string& out, std::string_view data) {
  const std::size_t start = out.size();
  put_fixed64(out, data.size());
  const std::uint32_t length_crc = crc32c(out.data() + start, 8);
  put_fixed32(out, crc32c_mask(length_crc));
  out.append(data);
  put_fixed32(out, crc32c_mask(crc32c(data.data(), data.size())));
}

// ---------------------------------------------------------------- Event encoding

// Every field is written, even at its proto3 default (step 0): a parser must accept explicit
// defaults, and one layout for every record keeps the format easy to check by eye. The version
// record has no step, as TensorFlow's own writer leaves it out.
void encode_version_event(std::string& out, double wall_time) {
  put_wall_time(out, wall_time);
  out.push_back(kKeyEventFileVersion);
  put_varint(out, kEventFileVersion.size());
  out.append(kEventFileVersion);
}

void encode_scalars_event(std::string& out, double wall_time, std::int64_t step,
                          std::span<const ScalarValue> values) {
  // A nested message is length-delimited, so its size is worked out before its bytes are
  // written; this avoids encoding into a temporary and copying.
  std::size_t summary_size = 0;
  for (const ScalarValue& v : values) {
    DQN_CHECK(!v.tag.empty(), "TensorBoard: a scalar needs a tag (e.g. 'charts/epsilon'); got an ",
              "empty tag with value ", v.value, " at step ", step);
    const std::size_t n = value_size(v);
    summary_size += 1 + varint_size(n) + n;
  }
  put_wall_time(out, wall_time);
  out.push_back(kKeyEventStep);
  put_varint(out, static_cast<std::uint64_t>(step));
  out.push_back(kKeyEventSummary);
  put_varint(out, summary_size);
  for (const ScalarValue& v : values) {
    out.push_back(kKeySummaryValue);
    put_varint(out, value_size(v));
    out.push_back(kKeyValueTag);
    put_varint(out, v.tag.size());
    out.append(v.tag);
    out.push_back(kKeyValueSimpleValue);
    put_fixed32(out, std::bit_cast<std::uint32_t>(static_cast<float>(v.value)));
  }
}

void encode_session_start_event(std::string& out, double wall_time, std::int64_t step) {
  put_wall_time(out, wall_time);
  out.push_back(kKeyEventStep);
  put_varint(out, static_cast<std::uint64_t>(step));
  out.push_back(kKeyEventSessionLog);
  put_varint(out, 2);  // the SessionLog below: key and one-byte varint
  out.push_back(kKeySessionLogStatus);
  out.push_back(kSessionStatusStart);
}

double wall_time_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

// ---------------------------------------------------------------- EventWriter

namespace {

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

}  // namespace

EventWriter::EventWriter(const std::string& dir, double wall_time) {
  const std::string base = dir + "/events.out.tfevents." +
                           std::to_string(static_cast<std::int64_t>(std::floor(wall_time))) + "." +
                           host_name();
  // "x" (C11: create, fail if it exists) so another writer's file is never truncated.
  for (int attempt = 0; attempt < 100 && !file_; ++attempt) {
    path_ = attempt == 0 ? base : base + "." + std::to_string(attempt);
    file_.reset(std::fopen(path_.c_str(), "wbx"));
    if (!file_ && errno != EEXIST)
      throw_error("TensorBoard: cannot create the event file ", path_, " (", std::strerror(errno),
                  "); expected an existing, writable folder '", dir,
                  "': create it first or check its permissions");
  }
  DQN_CHECK(file_ != nullptr, "TensorBoard: cannot create an event file in '", dir, "': ", base,
            " and its 99 numbered variants all exist; remove old event files");
  event_.clear();
  encode_version_event(event_, wall_time);
  write_record();
}

EventWriter EventWriter::append_to(const std::string& path) {
  EventWriter w;
  w.path_ = path;
  w.file_.reset(std::fopen(path.c_str(), "ab"));
  if (!w.file_)
    throw_error("TensorBoard: cannot reopen the event file ", path, " (", std::strerror(errno),
                "); it should be the run's own event file");
  std::fseek(w.file_.get(), 0, SEEK_END);
  w.bytes_ = static_cast<std::int64_t>(std::ftell(w.file_.get()));
  return w;
}

void EventWriter::add_scalar(std::string_view tag, std::int64_t step, double value,
                             double wall_time) {
  const ScalarValue v{tag, value};
  add_scalars(step, wall_time, std::span<const ScalarValue>(&v, 1));
}

void EventWriter::add_scalars(std::int64_t step, double wall_time,
                              std::span<const ScalarValue> values) {
  DQN_CHECK(file_ != nullptr, "TensorBoard: ", path_, " is closed; no more scalars can be added");
  event_.clear();
  encode_scalars_event(event_, wall_time, step, values);
  write_record();
}

void EventWriter::add_session_start(std::int64_t step, double wall_time) {
  DQN_CHECK(file_ != nullptr, "TensorBoard: ", path_, " is closed; no more events can be added");
  event_.clear();
  encode_session_start_event(event_, wall_time, step);
  write_record();
}

void EventWriter::write_record() {
  record_.clear();
  append_tfrecord(record_, event_);
  if (std::fwrite(record_.data(), 1, record_.size(), file_.get()) != record_.size())
    throw_error("TensorBoard: writing ", path_, " failed (", std::strerror(errno),
                "): is the disk full?");
  bytes_ += static_cast<std::int64_t>(record_.size());
}

void EventWriter::flush() {
  if (!file_) return;
  if (std::fflush(file_.get()) != 0)
    throw_error("TensorBoard: writing ", path_, " failed (", std::strerror(errno),
                "): is the disk full?");
}

void EventWriter::close() {
  if (!file_) return;
  const bool flushed = std::fflush(file_.get()) == 0;
  const int flush_errno = errno;
  const bool closed = std::fclose(file_.release()) == 0;
  if (!flushed || !closed)
    throw_error("TensorBoard: closing ", path_, " failed (",
                std::strerror(flushed ? errno : flush_errno), "): is the disk full?");
}

// ---------------------------------------------------------------- CsvWriter

namespace {

void append_csv_number(std::string& out, double value) {
  if (std::isnan(value)) return;  // a missing value is an empty cell
  char text[32];
  // Integral values (steps, episode counts, lengths) exactly, up to 2^53 where doubles stop
  // holding every integer; %.9g round-trips every float32 and keeps doubles readable.
  if (std::isfinite(value) && std::trunc(value) == value && std::fabs(value) < 9007199254740992.0)
    std::snprintf(text, sizeof text, "%.0f", value);
  else
    std::snprintf(text, sizeof text, "%.9g", value);
  out += text;
}

}  // namespace

std::string format_csv_number(double value) {
  std::string out;
  append_csv_number(out, value);
  return out;
}

CsvWriter::CsvWriter(const std::string& path, std::vector<std::string> columns)
    : path_(path), columns_(std::move(columns)) {
  DQN_CHECK(!columns_.empty(), "CsvWriter: ", path_, " needs at least one column");
  for (const std::string& c : columns_)
    DQN_CHECK(!c.empty() && c.find_first_of(",\"\r\n") == std::string::npos, "CsvWriter: ", path_,
              ": column name '", c,
              "' must be non-empty and free of commas, quotes and line breaks (no quoting is "
              "done); rename the column");
  file_.reset(std::fopen(path_.c_str(), "wb"));
  if (!file_)
    throw_error("CsvWriter: cannot create ", path_, " (", std::strerror(errno),
                "); expected its folder to exist and be writable: create it first or check "
                "its permissions");
  line_.clear();
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    if (i > 0) line_ += ',';
    line_ += columns_[i];
  }
  line_ += '\n';
  write(line_);
}

CsvWriter CsvWriter::append_to(const std::string& path, std::vector<std::string> columns) {
  CsvWriter w;
  w.path_ = path;
  w.columns_ = std::move(columns);
  std::string header;
  for (std::size_t i = 0; i < w.columns_.size(); ++i) header += (i ? "," : "") + w.columns_[i];
  {
    std::FILE* in = std::fopen(path.c_str(), "rb");
    std::string first(header.size() + 1, '\0');
    const bool ok = in && std::fread(first.data(), 1, first.size(), in) == first.size() &&
                    first == header + "\n";
    if (in) std::fclose(in);
    DQN_CHECK(ok, "CsvWriter: ", path, " does not start with the header '", header,
              "'; it is not this run's metrics file");
  }
  w.file_.reset(std::fopen(path.c_str(), "ab"));
  if (!w.file_) throw_error("CsvWriter: cannot reopen ", path, " (", std::strerror(errno), ")");
  std::fseek(w.file_.get(), 0, SEEK_END);
  w.bytes_ = static_cast<std::int64_t>(std::ftell(w.file_.get()));
  return w;
}

void CsvWriter::write_row(std::span<const double> values) {
  DQN_CHECK(file_ != nullptr, "CsvWriter: ", path_, " is closed; no more rows can be written");
  DQN_CHECK(values.size() == columns_.size(), "CsvWriter: ", path_, " has ", columns_.size(),
            " columns, but a row of ", values.size(),
            " values came; pass one value per column (kCsvMissing for an empty cell)");
  line_.clear();
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) line_ += ',';
    append_csv_number(line_, values[i]);
  }
  line_ += '\n';
  write(line_);
}

void CsvWriter::write(const std::string& text) {
  if (std::fwrite(text.data(), 1, text.size(), file_.get()) != text.size())
    throw_error("CsvWriter: writing ", path_, " failed (", std::strerror(errno),
                "): is the disk full?");
  bytes_ += static_cast<std::int64_t>(text.size());
}

void CsvWriter::flush() {
  if (!file_) return;
  if (std::fflush(file_.get()) != 0)
    throw_error("CsvWriter: writing ", path_, " failed (", std::strerror(errno),
                "): is the disk full?");
}

void CsvWriter::close() {
  if (!file_) return;
  const bool flushed = std::fflush(file_.get()) == 0;
  const int flush_errno = errno;
  const bool closed = std::fclose(file_.release()) == 0;
  if (!flushed || !closed)
    throw_error("CsvWriter: closing ", path_, " failed (",
                std::strerror(flushed ? errno : flush_errno), "): is the disk full?");
}

}  // namespace dqn
