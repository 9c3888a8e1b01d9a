// nn/checkpoint.hpp: one versioned binary checkpoint format for a QNetwork, its Adam state and
// free-form metadata; written atomically, read with every length and checksum checked.
//
//   CheckpointMeta meta;
//   meta.set("step", "50000");
//   save_checkpoint("run/ckpt.bin", net, &adam, meta);      // temp file + fsync + rename
//
//   CheckpointInfo info = read_checkpoint_info("run/ckpt.bin");  // the spec alone
//   QNetwork net2(info.spec, rng);                               // rebuild the model from it
//   Adam adam2(net2.parameters(), info.adam_hyper);
//   load_checkpoint("run/ckpt.bin", net2, &adam2, &meta);        // bit-exact restore
//
// Layout (format version 2; version 1 files, which lack the C51 and noisy-net fields, still load
// as atoms = 1 and noisy = false). Every integer is little-endian, every float raw IEEE-754
// binary32 (binary64 for the Adam hyperparameters) in little-endian byte order; a string is a u32
// byte count followed by the bytes (no terminator).
//
//   header   magic "DQNCKPT\0" (8 bytes) | version u32 | payload_bytes u64
//   payload  spec:       kind u8 | obs_rank u32 | obs dims i64... | num_actions i64 |
//                        hidden_count u32 | hidden i64... | dueling u8 |
//                        [v2+] atoms i64 | v_min f64 | v_max f64 (C51) |
//                              noisy u8 | noisy_sigma0 f64 (noisy nets)
//                        (kind: 0 mlp, 1 nature-cnn, and from v2 on 2 der-cnn)
//            tensors:    count u32, then per tensor: name str | dtype u8 (0 = f32) |
//                        rank u32 | dims i64... | numel * 4 bytes
//            optimizer:  present u8; if 1: lr, beta1, beta2, eps f64 | steps i64 |
//                        count u32, then per parameter: name str | m tensor | v tensor
//                        (each as a tensor above, without the name)
//            metadata:   count u32, then per entry: key str | value str
//   trailer  crc32 u32: CRC-32/IEEE (the zlib polynomial) over header and payload
//
// Nothing read from a file is trusted: a length, rank or element count is checked against the
// bytes that remain before anything is allocated, so a hostile file costs at most its own size.
// A load checks the whole file and its fit to the model before it writes anything: a failed load
// leaves the network, the optimizer and the metadata exactly as they were.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nn/optim.hpp"
#include "nn/qnetwork.hpp"

namespace dqn {

inline constexpr char kCheckpointMagic[8] = {'D', 'Q', 'N', 'C', 'K', 'P', 'T', '\0'};
// Raise when the layout changes; a reader refuses versions newer than its own.
// 2: the C51 fields (atoms, v_min, v_max) and noisy nets (noisy, noisy_sigma0) after the
// dueling flag; kind 2 (der-cnn).
inline constexpr std::uint32_t kCheckpointVersion = 2;

// Free-form key=value strings the trainer stores beside the weights (step, config text, ...).
// Keys are unique and kept in insertion order; values may hold any bytes.
struct CheckpointMeta {
  std::vector<std::pair<std::string, std::string>> entries;

  void set(const std::string& key, const std::string& value);  // replaces an existing key
  std::optional<std::string> get(const std::string& key) const;
  std::string get_or(const std::string& key, const std::string& fallback) const;
  friend bool operator==(const CheckpointMeta&, const CheckpointMeta&) = default;
};

// What a checkpoint says about itself, read without a model.
struct CheckpointInfo {
  std::uint32_t version = 0;
  NetworkSpec spec;
  CheckpointMeta meta;
  bool has_optimizer = false;
  AdamHyper adam_hyper{};  // meaningful when has_optimizer
  std::int64_t optimizer_steps = 0;
  std::int64_t tensor_count = 0;     // network parameters stored
  std::int64_t parameter_count = 0;  // their elements in total
};

// CRC-32/IEEE (reflected polynomial 0xEDB88320, init and final xor 0xFFFFFFFF), table-driven,
// eight bytes a step (slicing-by-8). Pass a previous result as `crc` to continue over more bytes:
// crc32(b, n2, crc32(a, n1)) is the CRC of a followed by b, so a file written in pieces is
// checked without joining them. crc32("123456789") = 0xCBF43926.
std::uint32_t crc32(const void* data, std::size_t size, std::uint32_t crc = 0);
// The same CRC one byte a step (Sarwate's single table): the reference crc32 is tested against.
std::uint32_t crc32_bytewise(const void* data, std::size_t size, std::uint32_t crc = 0);

// The checkpoint as bytes (what save_checkpoint writes). adam may be null: no optimizer state.
std::string serialize_checkpoint(const QNetwork& net, const Adam* adam, const CheckpointMeta& meta);

// Restores net (and adam, and meta, where not null) from bytes. `source` names the bytes in error
// messages (the file path). Throws dqn::Error, leaving every output untouched, when the bytes are
// not a checkpoint, are newer than this build reads, are truncated or corrupt, describe another
// network, or when adam is given but the checkpoint holds no optimizer state or other Adam
// hyperparameters (betas, eps; the learning rate is restored, as a schedule may have moved it).
void deserialize_checkpoint(std::string_view bytes, QNetwork& net, Adam* adam, CheckpointMeta* meta,
                            const std::string& source = "<buffer>");
CheckpointInfo read_checkpoint_info_bytes(std::string_view bytes,
                                          const std::string& source = "<buffer>");

// The same on files. save_checkpoint writes atomically: a crash or kill at any moment leaves
// either the old file or the new one at `path`, never a mix (see write_file_atomic).
void save_checkpoint(const std::string& path, const QNetwork& net, const Adam* adam,
                     const CheckpointMeta& meta);
void load_checkpoint(const std::string& path, QNetwork& net, Adam* adam, CheckpointMeta* meta);
CheckpointInfo read_checkpoint_info(const std::string& path);

// Replaces `path` with `bytes` atomically: writes path + ".tmp.<pid>" in the same folder, fsyncs
// it, renames it over `path` (atomic within one file system, POSIX rename(2)) and fsyncs the
// folder so the rename itself survives a power loss. A writer killed before the rename leaves its
// temp file behind and `path` untouched.
void write_file_atomic(const std::string& path, std::string_view bytes);
// The same for a file given as consecutive pieces (written in order, never joined in memory).
void write_file_atomic(const std::string& path, const std::vector<std::string_view>& pieces);
// The whole file; throws dqn::Error naming the path and the system's reason, and refuses before
// reading anything a path that is not a regular file (a FIFO, a device such as /dev/zero, a
// folder) or a file of more than max_bytes.
std::string read_file(const std::string& path,
                      std::uint64_t max_bytes = std::numeric_limits<std::uint64_t>::max());
// The largest checkpoint this program writes is far below this (a Nature CNN is 6.7 MB); a
// larger file is not a checkpoint.
inline constexpr std::uint64_t kMaxCheckpointBytes = std::uint64_t{4} << 30;

// A whole file mapped read-only (mmap), for files too large to copy into memory: resuming a run
// whose snapshot holds a 7 GB replay reads it from the page cache instead of a second 7 GB
// string. Throws dqn::Error naming the path and the system's reason; refuses non-regular files.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  std::string_view bytes() const { return {static_cast<const char*>(data_), size_}; }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace dqn
