// rl/tensorboard.hpp: TensorBoard event files and metrics.csv, written without protobuf or
// TensorFlow, so that `tensorboard --logdir runs` and pandas can both read a run.
//
// An event file is a sequence of TFRecord frames (tensorflow/core/lib/io/record_writer.cc):
//
//   uint64 length                        little-endian
//   uint32 masked crc32c(length bytes)   little-endian
//   byte   data[length]                  one serialized tensorflow.Event
//   uint32 masked crc32c(data)           little-endian
//
// with crc32c the Castagnoli CRC (RFC 3720 appendix B.4) and the mask of
// tensorflow/core/lib/hash/crc32c.h. The first record is an Event carrying
// file_version = "brain.Event:2"; each later one carries a Summary of scalar values, or a
// SessionLog START that marks where a resumed run started again.
//
//   EventWriter events(run_dir, wall_time_now());   // events.out.tfevents.<secs>.<host>
//   events.add_scalars(step, wall_time_now(), {{"charts/episodic_return", ret},
//                                              {"charts/epsilon", eps}});
//   events.flush();                                  // once per log line: TensorBoard sees it
//
//   CsvWriter csv(run_dir + "/metrics.csv", {"step", "charts/episodic_return"});
//   csv.write_row({double(step), ret});              // NaN (kCsvMissing) -> empty cell
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dqn {

// ---------------------------------------------------------------- CRC-32C and TFRecord framing

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF)
// of `size` bytes; pass a previous result as `crc` to extend it over more bytes.
// crc32c("123456789") == 0xE3069283, the published check value.
std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc = 0);

// TFRecord stores CRCs masked (rotated right by 15, plus a constant) because the CRC of a string
// that itself contains CRCs is weak (tensorflow/core/lib/hash/crc32c.h, Mask()).
inline constexpr std::uint32_t kCrc32cMaskDelta = 0xa282ead8u;
inline constexpr std::uint32_t crc32c_mask(std::uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + kCrc32cMaskDelta;
}

// Appends one TFRecord frame (length, masked CRC of the length, data, masked CRC of the data).
void append_tfrecord(std::string& out, std::string_view data);

// ---------------------------------------------------------------- Event protobuf encoding

// One scalar of a Summary: Summary.Value{tag, simple_value}. simple_value is a float32 in the
// proto, so `value` is rounded to float when encoded.
struct ScalarValue {
  std::string_view tag;
  double value = 0.0;
};

// What the first record of every event file says; TensorBoard checks the "brain.Event:" prefix.
inline constexpr std::string_view kEventFileVersion = "brain.Event:2";

// Appends the serialized Event{wall_time, file_version = kEventFileVersion} to `out`.
void encode_version_event(std::string& out, double wall_time);

// Appends the serialized Event{wall_time, step, summary = Summary{value: [each scalar]}} to
// `out`. Throws dqn::Error for an empty tag.
void encode_scalars_event(std::string& out, double wall_time, std::int64_t step,
                          std::span<const ScalarValue> values);

// Appends the serialized Event{wall_time, step, session_log = SessionLog{status: START}}.
void encode_session_start_event(std::string& out, double wall_time, std::int64_t step);

// Seconds since the Unix epoch, the unit of Event.wall_time.
double wall_time_now();

// ---------------------------------------------------------------- EventWriter

// Owns one event file. Every write error (disk full, a removed folder) throws dqn::Error naming
// the file: a run must not train on while its record is silently lost.
class EventWriter {
 public:
  // Creates <dir>/events.out.tfevents.<floor(wall_time)>.<hostname> (the name TensorFlow's
  // EventsWriter uses; TensorBoard reads every file whose name contains "tfevents") and writes
  // the file_version record. If that name is taken (two writers in one second), ".1", ".2", ...
  // is appended rather than overwriting another writer's file. `dir` must exist.
  EventWriter(const std::string& dir, double wall_time);
  // Continues an existing event file (a resumed run whose file was cut back to its snapshot):
  // appends, writes no version record.
  static EventWriter append_to(const std::string& path);
  EventWriter(EventWriter&&) noexcept = default;
  EventWriter& operator=(EventWriter&&) noexcept = default;

  // One Event with one scalar.
  void add_scalar(std::string_view tag, std::int64_t step, double value, double wall_time);
  // One Event whose Summary holds all of `values` (one record per log line, not one per tag).
  void add_scalars(std::int64_t step, double wall_time, std::span<const ScalarValue> values);
  void add_scalars(std::int64_t step, double wall_time, std::initializer_list<ScalarValue> values) {
    add_scalars(step, wall_time, std::span<const ScalarValue>(values.begin(), values.size()));
  }

  // Marks a restart at `step` (a resumed run): TensorBoard drops the points it read from earlier
  // files at steps >= `step`, which the resumed run writes again, instead of drawing both
  // (tensorboard/backend/event_processing/event_accumulator.py, _CheckForRestartAndMaybePurge,
  // which needs file_version "brain.Event:2" or later, as written here).
  void add_session_start(std::int64_t step, double wall_time);

  // Hands buffered records to the OS, so a running TensorBoard sees them.
  void flush();
  // Flushes and closes, throwing on failure; the destructor closes quietly (it cannot throw).
  void close();

  const std::string& path() const { return path_; }
  // Bytes written so far (after flush(): the file's length).
  std::int64_t bytes() const { return bytes_; }

 private:
  EventWriter() = default;
  void write_record();  // frames event_ into record_ and writes it

  struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, FileCloser> file_;
  std::string path_;
  std::string event_, record_;  // reused from record to record: no allocation once warm
  std::int64_t bytes_ = 0;
};

// ---------------------------------------------------------------- CsvWriter

// The value of a cell that has nothing to report (no evaluation yet): written as an empty cell.
inline constexpr double kCsvMissing = std::numeric_limits<double>::quiet_NaN();

// Owns metrics.csv: a header of fixed columns, then one row per write_row(). Cells are numbers:
// integral values below 2^53 in magnitude exactly as integers (a step of 1234567890 stays
// exact, where %.9g would print 1.23456789e+09), other values with %.9g, NaN as an empty cell.
// Write errors throw dqn::Error naming the file.
class CsvWriter {
 public:
  // Creates (truncates) `path` and writes the header. Column names may not contain a comma,
  // a quote or a line break (no quoting is done), nor be empty.
  CsvWriter(const std::string& path, std::vector<std::string> columns);
  // Continues an existing file with these columns (a resumed run): appends rows, no header.
  // Throws when the file's header is not this one.
  static CsvWriter append_to(const std::string& path, std::vector<std::string> columns);
  CsvWriter(CsvWriter&&) noexcept = default;
  CsvWriter& operator=(CsvWriter&&) noexcept = default;

  // `values` must have one value per column, in the order of the header.
  void write_row(std::span<const double> values);
  void write_row(std::initializer_list<double> values) {
    write_row(std::span<const double>(values.begin(), values.size()));
  }

  void flush();
  void close();

  const std::string& path() const { return path_; }
  const std::vector<std::string>& columns() const { return columns_; }
  // Bytes in the file so far (after flush(): its length).
  std::int64_t bytes() const { return bytes_; }

 private:
  CsvWriter() = default;
  void write(const std::string& text);

  struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, FileCloser> file_;
  std::string path_;
  std::vector<std::string> columns_;
  std::string line_;  // reused from row to row
  std::int64_t bytes_ = 0;
};

// Formats one CSV cell as CsvWriter does ("" for NaN); exposed for tests and for readers.
std::string format_csv_number(double value);

}  // namespace dqn
