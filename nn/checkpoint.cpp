// nn/checkpoint.cpp: encoding, bounds-checked decoding, validation against a model, and the
// atomic file write. The layout is documented in checkpoint.hpp.
#include "nn/checkpoint.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include "core/error.hpp"

namespace dqn {
namespace {

// ---------------------------------------------------------------------------------------------
// CRC-32/IEEE. kCrcTables[0] holds the CRC of every byte value, so each input byte costs one
// lookup (Sarwate, "Computation of cyclic redundancy checks via table look-up", CACM 1988): the
// reference, crc32_bytewise. kCrcTables[k] holds the CRC of a byte followed by k zero bytes, so
// crc32 takes eight bytes at a time as eight independent lookups XORed together instead of a
// chain of eight dependent ones ("slicing-by-8": Kounavis & Berry, ISCC 2005). A run snapshot
// with an Atari replay is 7 GB: checked bytewise (~0.5 GB/s) that is a quarter of a minute at
// every checkpoint and resume, sliced a few seconds.
using CrcTables = std::array<std::array<std::uint32_t, 256>, 8>;
constexpr CrcTables make_crc_tables() {
  CrcTables t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[0][i] = c;
  }
  for (std::size_t k = 1; k < 8; ++k)
    for (std::size_t i = 0; i < 256; ++i) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFFu];
  return t;
}
constexpr CrcTables kCrcTables = make_crc_tables();

// Sizes of the fixed parts, and caps that keep a hostile file from asking for absurd work.
constexpr std::size_t kHeaderBytes = 8 + 4 + 8;  // magic, version, payload_bytes
constexpr std::size_t kTrailerBytes = 4;         // crc32
constexpr std::uint32_t kMaxNameBytes = 1024;
constexpr std::uint32_t kMaxMetaBytes = 64u << 20;  // config text fits many times over
constexpr std::int64_t kMaxObsDim = 1 << 16;
constexpr std::uint8_t kDtypeF32 = 0;

std::string hex32(std::uint32_t v) {
  std::ostringstream s;
  s << "0x" << std::hex << v;
  return s.str();
}

// ---------------------------------------------------------------------------------------------
// Writer: appends little-endian values to a string.
class Writer {
 public:
  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u32(std::uint32_t v) { le(v, 4); }
  void u64(std::uint64_t v) { le(v, 8); }
  void i64(std::int64_t v) { le(static_cast<std::uint64_t>(v), 8); }
  void f64(double v) { u64(std::bit_cast<std::uint64_t>(v)); }
  void bytes(const void* p, std::size_t n) { out_.append(static_cast<const char*>(p), n); }
  void str(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    bytes(s.data(), s.size());
  }
  void floats(const float* p, std::int64_t n) {
    if constexpr (std::endian::native == std::endian::little) {
      bytes(p, static_cast<std::size_t>(n) * sizeof(float));
    } else {
      for (std::int64_t i = 0; i < n; ++i) u32(std::bit_cast<std::uint32_t>(p[i]));
    }
  }
  // dtype, rank, dims, data.
  void tensor(const Tensor& t) {
    u8(kDtypeF32);
    u32(static_cast<std::uint32_t>(t.rank()));
    for (int d = 0; d < t.rank(); ++d) i64(t.dim(d));
    floats(t.data(), t.numel());
  }
  std::string& out() { return out_; }

 private:
  void le(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xFFu));
  }
  std::string out_;
};

// Reader: every read checks the bytes that remain first; a short read is "truncated".
class Reader {
 public:
  Reader(std::string_view bytes, std::size_t offset, const std::string& source)
      : bytes_(bytes), pos_(offset), source_(source) {}

  std::size_t pos() const { return pos_; }
  std::size_t remaining() const { return bytes_.size() - pos_; }
  void need(std::size_t n) const {
    DQN_CHECK(n <= remaining(), source_, ": truncated: expected ", n - remaining(),
              " more bytes at offset ", bytes_.size(),
              " (the file ends early; was the copy or the write cut short? use an earlier "
              "checkpoint)");
  }
  std::uint8_t u8() {
    need(1);
    return static_cast<std::uint8_t>(bytes_[pos_++]);
  }
  std::uint64_t le(int n) {
    need(static_cast<std::size_t>(n));
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i)
      v |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(bytes_[pos_ + i])) << (8 * i);
    pos_ += static_cast<std::size_t>(n);
    return v;
  }
  std::uint32_t u32() { return static_cast<std::uint32_t>(le(4)); }
  std::uint64_t u64() { return le(8); }
  std::int64_t i64() { return static_cast<std::int64_t>(le(8)); }
  double f64() { return std::bit_cast<double>(u64()); }
  std::string str(std::uint32_t cap, const char* what) {
    const std::uint32_t n = u32();
    DQN_CHECK(n <= cap, source_, ": corrupt: ", what, " of ", n, " bytes at offset ", pos_ - 4,
              " exceeds the limit of ", cap, " bytes");
    need(n);
    std::string s(bytes_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  // A count of records each at least `min_record_bytes` long: bounded by what remains.
  std::uint32_t count(std::size_t min_record_bytes, const char* what) {
    const std::uint32_t n = u32();
    DQN_CHECK(static_cast<std::uint64_t>(n) * min_record_bytes <= remaining(), source_,
              ": corrupt: ", n, " ", what, " cannot fit in the ", remaining(),
              " bytes that remain at offset ", pos_ - 4);
    return n;
  }
  Tensor tensor(const std::string& name) {
    const std::size_t at = pos_;
    const std::uint8_t dtype = u8();
    DQN_CHECK(dtype == kDtypeF32, source_, ": tensor ", name, " at offset ", at, " has dtype ",
              int(dtype), ", this build reads only float32 (dtype 0)");
    const std::uint32_t rank = u32();
    DQN_CHECK(rank <= static_cast<std::uint32_t>(Shape::kMaxRank), source_, ": tensor ", name,
              " has rank ", rank, ", at most ", Shape::kMaxRank, " is supported");
    Shape shape;
    std::uint64_t numel = 1;
    for (std::uint32_t d = 0; d < rank; ++d) {
      const std::int64_t dim = i64();
      // Each factor is bounded by the bytes left, so the product cannot overflow 64 bits
      // before the check below stops it.
      DQN_CHECK(dim >= 0 && static_cast<std::uint64_t>(dim) <= remaining() / sizeof(float), source_,
                ": corrupt: tensor ", name, " has dimension ", dim, " but only ", remaining(),
                " bytes remain");
      numel *= static_cast<std::uint64_t>(dim);
      DQN_CHECK(numel <= remaining() / sizeof(float), source_, ": corrupt: tensor ", name,
                " needs ", numel, " floats but only ", remaining(), " bytes remain");
      shape.dims[shape.rank++] = dim;
    }
    need(numel * sizeof(float));
    Tensor t(shape);
    if constexpr (std::endian::native == std::endian::little) {
      if (numel > 0) std::memcpy(t.data(), bytes_.data() + pos_, numel * sizeof(float));
      pos_ += numel * sizeof(float);
    } else {
      for (std::uint64_t i = 0; i < numel; ++i)
        t[static_cast<std::int64_t>(i)] = std::bit_cast<float>(u32());
    }
    return t;
  }

 private:
  std::string_view bytes_;
  std::size_t pos_;
  const std::string& source_;
};

// ---------------------------------------------------------------------------------------------
// The decoded file, staged in memory until it has been checked against the model.
struct NamedTensor {
  std::string name;
  Tensor value;
};
struct OptimizerState {
  AdamHyper hyper{};
  std::int64_t steps = 0;
  std::vector<NamedTensor> m, v;
};
struct Contents {
  std::uint32_t version = 0;
  NetworkSpec spec;
  std::vector<NamedTensor> tensors;
  bool has_optimizer = false;
  OptimizerState optimizer;
  CheckpointMeta meta;
};

void write_spec(Writer& w, const NetworkSpec& spec) {
  w.u8(static_cast<std::uint8_t>(spec.kind));
  w.u32(static_cast<std::uint32_t>(spec.observation_shape.size()));
  for (std::int64_t d : spec.observation_shape) w.i64(d);
  w.i64(spec.num_actions);
  w.u32(static_cast<std::uint32_t>(spec.hidden.size()));
  for (std::int64_t h : spec.hidden) w.i64(h);
  w.u8(spec.dueling ? 1 : 0);
  // Version 2: the C51 head (Bellemare et al. 2017), then noisy nets (Fortunato et al. 2018).
  w.i64(spec.atoms);
  w.f64(spec.v_min);
  w.f64(spec.v_max);
  w.u8(spec.noisy ? 1 : 0);
  w.f64(spec.noisy_sigma0);
}

NetworkSpec read_spec(Reader& r, std::uint32_t version, const std::string& source) {
  NetworkSpec spec;
  const std::uint8_t kind = r.u8();
  DQN_CHECK(kind <= static_cast<std::uint8_t>(NetworkKind::kDataEfficientCnn), source,
            ": corrupt: unknown network kind ", int(kind),
            " (0 = mlp, 1 = nature-cnn, 2 = der-cnn)");
  spec.kind = static_cast<NetworkKind>(kind);
  const std::uint32_t obs_rank = r.u32();
  DQN_CHECK(obs_rank >= 1 && obs_rank <= 3, source, ": corrupt: observation rank ", obs_rank,
            " (expected 1 or 3)");
  spec.observation_shape.clear();
  for (std::uint32_t i = 0; i < obs_rank; ++i) {
    const std::int64_t d = r.i64();
    DQN_CHECK(d >= 1 && d <= kMaxObsDim, source, ": corrupt: observation dimension ", d,
              " (expected 1..", kMaxObsDim, ")");
    spec.observation_shape.push_back(d);
  }
  spec.num_actions = r.i64();
  const std::uint32_t hidden = r.count(8, "hidden widths");
  spec.hidden.clear();
  for (std::uint32_t i = 0; i < hidden; ++i) spec.hidden.push_back(r.i64());
  const std::uint8_t dueling = r.u8();
  DQN_CHECK(dueling <= 1, source, ": corrupt: dueling flag ", int(dueling), " (expected 0 or 1)");
  spec.dueling = dueling == 1;
  // Version 1 predates C51 and noisy nets: its networks are ordinary Q heads (atoms = 1)
  // without noise.
  if (version >= 2) {
    spec.atoms = r.i64();
    spec.v_min = r.f64();
    spec.v_max = r.f64();
    const std::uint8_t noisy = r.u8();
    DQN_CHECK(noisy <= 1, source, ": corrupt: noisy flag ", int(noisy), " (expected 0 or 1)");
    spec.noisy = noisy == 1;
    spec.noisy_sigma0 = r.f64();  // NaN and range: validate() below
    DQN_CHECK(std::isfinite(spec.noisy_sigma0), source, ": corrupt: noisy_sigma0 ",
              spec.noisy_sigma0, " is not a finite number");
  }
  try {
    spec.validate();
  } catch (const Error& e) {
    throw_error(source, ": corrupt network description: ", e.what());
  }
  return spec;
}

// The smallest encoded tensor: dtype u8 + rank u32 (a rank-0 tensor still holds one float).
constexpr std::size_t kMinTensorBytes = 1 + 4;

Contents decode(std::string_view bytes, const std::string& source) {
  // Magic first: bytes that are not a prefix of it are some other file, whatever their length.
  const std::size_t magic_seen = std::min(bytes.size(), sizeof(kCheckpointMagic));
  DQN_CHECK(magic_seen == 0 || std::memcmp(bytes.data(), kCheckpointMagic, magic_seen) == 0,
            "not a dqn checkpoint: ", source, " (it does not start with \"DQNCKPT\")");
  Reader header(bytes, 0, source);
  header.need(kHeaderBytes);
  Reader r(bytes, sizeof(kCheckpointMagic), source);
  Contents c;
  c.version = r.u32();
  DQN_CHECK(c.version <= kCheckpointVersion, source, ": checkpoint format version ", c.version,
            " is newer than this build reads (", kCheckpointVersion, "); rebuild dqn");
  DQN_CHECK(c.version >= 1, source, ": corrupt: checkpoint format version 0 does not exist");
  const std::uint64_t payload = r.u64();
  // The total length is known from the header, so a cut file is reported as such (not as a
  // checksum mismatch) and the CRC is checked over exactly the bytes that were written.
  const std::uint64_t available = bytes.size() - kHeaderBytes;
  DQN_CHECK(payload <= std::numeric_limits<std::uint64_t>::max() - kTrailerBytes &&
                payload + kTrailerBytes <= available,
            source, ": truncated: expected ",
            payload > std::numeric_limits<std::uint64_t>::max() - kTrailerBytes
                ? payload
                : payload + kTrailerBytes - available,
            " more bytes at offset ", bytes.size(),
            " (the file ends early; was the copy or the write cut short? use an earlier "
            "checkpoint)");
  DQN_CHECK(payload + kTrailerBytes == available, source,
            ": corrupt: ", available - payload - kTrailerBytes,
            " unexpected bytes after the checkpoint's end at offset ",
            kHeaderBytes + payload + kTrailerBytes);
  const std::size_t end = kHeaderBytes + static_cast<std::size_t>(payload);
  Reader trailer(bytes, end, source);
  const std::uint32_t stored = trailer.u32();
  const std::uint32_t computed = crc32(bytes.data(), end);
  DQN_CHECK(stored == computed, source, ": checksum mismatch: the file stores CRC32 ",
            hex32(stored), " but its contents give ", hex32(computed),
            "; the file is corrupt (disk or copy error), use an earlier checkpoint");

  // From here the bytes are what the writer wrote, unless someone forged the CRC: the reads stay
  // bounded all the same, and must end exactly at the trailer.
  Reader p(bytes.substr(0, end), kHeaderBytes, source);
  c.spec = read_spec(p, c.version, source);
  const std::uint32_t tensors = p.count(4 + kMinTensorBytes, "tensors");
  for (std::uint32_t i = 0; i < tensors; ++i) {
    NamedTensor t;
    t.name = p.str(kMaxNameBytes, "a tensor name");
    t.value = p.tensor(t.name);
    c.tensors.push_back(std::move(t));
  }
  const std::uint8_t has_optimizer = p.u8();
  DQN_CHECK(has_optimizer <= 1, source, ": corrupt: optimizer flag ", int(has_optimizer));
  c.has_optimizer = has_optimizer == 1;
  if (c.has_optimizer) {
    OptimizerState& o = c.optimizer;
    using Real = decltype(o.hyper.lr);
    o.hyper.lr = static_cast<Real>(p.f64());
    o.hyper.beta1 = static_cast<decltype(o.hyper.beta1)>(p.f64());
    o.hyper.beta2 = static_cast<decltype(o.hyper.beta2)>(p.f64());
    o.hyper.eps = static_cast<decltype(o.hyper.eps)>(p.f64());
    const double lr = static_cast<double>(o.hyper.lr), b1 = static_cast<double>(o.hyper.beta1),
                 b2 = static_cast<double>(o.hyper.beta2), eps = static_cast<double>(o.hyper.eps);
    // Written as "in range" tests so that a NaN fails them too.
    DQN_CHECK(lr > 0 && lr < 1e6 && b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1 && eps > 0 && eps < 1e6,
              source, ": corrupt: Adam hyperparameters lr ", lr, " betas (", b1, ", ", b2, ") eps ",
              eps, " are outside their ranges");
    o.steps = p.i64();
    DQN_CHECK(o.steps >= 0, source, ": corrupt: negative optimizer step count ", o.steps);
    const std::uint32_t n = p.count(4 + 2 * kMinTensorBytes, "optimizer moments");
    for (std::uint32_t i = 0; i < n; ++i) {
      std::string name = p.str(kMaxNameBytes, "a parameter name");
      Tensor m = p.tensor(name + " (Adam first moment)");
      Tensor v = p.tensor(name + " (Adam second moment)");
      o.m.push_back({name, std::move(m)});
      o.v.push_back({std::move(name), std::move(v)});
    }
  }
  const std::uint32_t entries = p.count(8, "metadata entries");
  for (std::uint32_t i = 0; i < entries; ++i) {
    std::string key = p.str(kMaxNameBytes, "a metadata key");
    std::string value = p.str(kMaxMetaBytes, "a metadata value");
    for (const auto& [k, unused] : c.meta.entries)
      DQN_CHECK(k != key, source, ": corrupt: metadata key '", key, "' appears twice");
    c.meta.entries.emplace_back(std::move(key), std::move(value));
  }
  DQN_CHECK(p.remaining() == 0, source, ": corrupt: ", p.remaining(),
            " bytes left over after the metadata at offset ", p.pos());
  return c;
}

// ---------------------------------------------------------------------------------------------
// Fit to the model. Specs that differ are explained by the first parameter that differs and the
// command-line setting that would produce the checkpoint's network.
std::string join(const std::vector<std::int64_t>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i > 0) s += ',';  // not (i ? "," : "") + ...: GCC 12 -O3 flags that with a false -Wrestrict
    s += std::to_string(v[i]);
  }
  return s;
}

std::string spec_hint(const NetworkSpec& file, const NetworkSpec& model) {
  if (file.pixels() && model.pixels() && file.kind != model.kind)
    return file.kind == NetworkKind::kDataEfficientCnn
               ? "was it trained with network=der (--set network=der)?"
               : "was it trained with network=nature?";
  if (file.kind != model.kind || file.observation_shape != model.observation_shape)
    return "was it trained on another environment? its observations are (" +
           join(file.observation_shape) + "), the model takes (" + join(model.observation_shape) +
           ")";
  if (file.num_actions != model.num_actions)
    return "it was trained on an environment with " + std::to_string(file.num_actions) +
           " actions, the model has " + std::to_string(model.num_actions);
  if (file.hidden != model.hidden && file.kind == NetworkKind::kMlp)
    return "was it trained with hidden=" + join(file.hidden) +
           " (--set hidden=" + join(file.hidden) + ")?";
  if (file.dueling != model.dueling)
    return file.dueling ? "was it trained with dueling=true (--set dueling=true)?"
                        : "was it trained with dueling=false?";
  if (file.atoms != model.atoms || file.v_min != model.v_min || file.v_max != model.v_max) {
    if (file.atoms == 1) return "was it trained with distributional=false?";
    std::ostringstream hint;
    hint << "was it trained with distributional=true atoms=" << file.atoms
         << " v_min=" << file.v_min << " v_max=" << file.v_max << "?";
    return hint.str();
  }
  if (file.noisy != model.noisy)
    return file.noisy ? "was it trained with noisy_nets=true (--set noisy_nets=true)?"
                      : "was it trained with noisy_nets=false?";
  return "the networks differ";
}

const Tensor* find(const std::vector<NamedTensor>& list, const std::string& name) {
  for (const auto& t : list)
    if (t.name == name) return &t.value;
  return nullptr;
}

// Every stored tensor must match one of `params` by name, shape and count, and vice versa.
void check_tensors(const std::vector<NamedTensor>& stored, const std::vector<NamedVariable>& params,
                   const std::string& source, const char* what, const std::string& hint) {
  for (std::size_t i = 0; i < stored.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      DQN_CHECK(stored[i].name != stored[j].name, source, ": corrupt: ", what, " ", stored[i].name,
                " is stored twice");
  for (const auto& p : params) {
    const Tensor* t = find(stored, p.name);
    DQN_CHECK(t != nullptr, source, ": ", what, " ", p.name, " is missing from the checkpoint; ",
              hint);
    DQN_CHECK(t->shape() == p.variable->value.shape(), source, ": checkpoint has ", what, " ",
              p.name, " of shape ", t->shape().str(), ", the model expects ",
              p.variable->value.shape().str(), ": ", hint);
  }
  for (const auto& t : stored) {
    bool known = false;
    for (const auto& p : params) known = known || p.name == t.name;
    DQN_CHECK(known, source, ": checkpoint has ", what, " ", t.name,
              " that the model does not have; ", hint);
  }
}

// Checks everything a load needs; throws before any output is touched.
void check_fit(const Contents& c, const QNetwork& net, const Adam* adam,
               const std::string& source) {
  const NetworkSpec& model = net.spec();
  const std::string hint =
      c.spec == model ? std::string("the file is inconsistent") : spec_hint(c.spec, model);
  check_tensors(c.tensors, net.parameters(), source, "parameter", hint);
  DQN_CHECK(c.spec == model, source, ": the checkpoint holds ", c.spec.describe(),
            ", the model is ", model.describe(), ": ", hint,
            " (rebuild the model from read_checkpoint_info(path).spec)");
  if (adam == nullptr) return;
  DQN_CHECK(c.has_optimizer, source,
            ": the checkpoint holds no optimizer state but an optimizer was given to restore; "
            "pass a null Adam to load the weights only");
  const AdamHyper& h = adam->hyper();
  const AdamHyper& f = c.optimizer.hyper;
  DQN_CHECK(h.beta1 == f.beta1 && h.beta2 == f.beta2 && h.eps == f.eps, source,
            ": the checkpoint's Adam has betas (", f.beta1, ", ", f.beta2, ") eps ", f.eps,
            ", the optimizer given has betas (", h.beta1, ", ", h.beta2, ") eps ", h.eps,
            "; construct Adam with read_checkpoint_info(path).adam_hyper");
  check_tensors(c.optimizer.m, net.parameters(), source, "Adam first moment", hint);
  check_tensors(c.optimizer.v, net.parameters(), source, "Adam second moment", hint);
  // The optimizer's moments are in the network's parameter order (Adam is built from
  // net.parameters()); an Adam built from another network is caught by its shapes.
  const auto& params = net.parameters();
  DQN_CHECK(adam->first_moments().size() == params.size(), source, ": the optimizer holds ",
            adam->first_moments().size(), " parameters, the network ", params.size(),
            "; build Adam from this network's parameters()");
  for (std::size_t i = 0; i < params.size(); ++i)
    DQN_CHECK(adam->first_moments()[i].shape() == params[i].variable->value.shape() &&
                  adam->second_moments()[i].shape() == params[i].variable->value.shape(),
              source, ": the optimizer's moment ", i, " has shape ",
              adam->first_moments()[i].shape().str(), ", parameter ", params[i].name, " has ",
              params[i].variable->value.shape().str(),
              "; build Adam from this network's parameters()");
}

// Nothing below can fail: every shape was checked and copy_from does not allocate.
void commit(Contents& c, QNetwork& net, Adam* adam, CheckpointMeta* meta) {
  const auto& params = net.parameters();
  for (const auto& p : params) p.variable->value.copy_from(find(c.tensors, p.name)->view());
  if (adam != nullptr) {
    for (std::size_t i = 0; i < params.size(); ++i) {
      adam->first_moments()[i].copy_from(find(c.optimizer.m, params[i].name)->view());
      adam->second_moments()[i].copy_from(find(c.optimizer.v, params[i].name)->view());
    }
    adam->set_steps(c.optimizer.steps);
    adam->set_lr(static_cast<double>(c.optimizer.hyper.lr));
  }
  if (meta != nullptr) *meta = std::move(c.meta);
}

std::string system_error(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
std::uint32_t crc32_bytewise(const void* data, std::size_t size, std::uint32_t crc) {
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (std::size_t i = 0; i < size; ++i) crc = kCrcTables[0][(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

std::uint32_t crc32(const void* data, std::size_t size, std::uint32_t crc) {
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (; size >= 8; p += 8, size -= 8) {
    // The eight bytes as a little-endian word whatever the host (one load on x86-64 and
    // aarch64); the CRC so far folds into its low four bytes.
    std::uint64_t word = 0;
    for (int i = 0; i < 8; ++i) word |= static_cast<std::uint64_t>(p[i]) << (8 * i);
    word ^= crc;
    // Byte i is followed by 7 - i more bytes of this word: table 7 - i.
    crc = kCrcTables[7][word & 0xFFu] ^ kCrcTables[6][(word >> 8) & 0xFFu] ^
          kCrcTables[5][(word >> 16) & 0xFFu] ^ kCrcTables[4][(word >> 24) & 0xFFu] ^
          kCrcTables[3][(word >> 32) & 0xFFu] ^ kCrcTables[2][(word >> 40) & 0xFFu] ^
          kCrcTables[1][(word >> 48) & 0xFFu] ^ kCrcTables[0][word >> 56];
  }
  for (std::size_t i = 0; i < size; ++i) crc = kCrcTables[0][(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

void CheckpointMeta::set(const std::string& key, const std::string& value) {
  DQN_CHECK(!key.empty() && key.size() <= kMaxNameBytes, "checkpoint metadata: keys must be 1..",
            kMaxNameBytes, " bytes, got ", key.size());
  DQN_CHECK(value.size() <= kMaxMetaBytes, "checkpoint metadata: value of '", key, "' has ",
            value.size(), " bytes, the limit is ", kMaxMetaBytes);
  for (auto& [k, v] : entries)
    if (k == key) {
      v = value;
      return;
    }
  entries.emplace_back(key, value);
}

std::optional<std::string> CheckpointMeta::get(const std::string& key) const {
  for (const auto& [k, v] : entries)
    if (k == key) return v;
  return std::nullopt;
}

std::string CheckpointMeta::get_or(const std::string& key, const std::string& fallback) const {
  return get(key).value_or(fallback);
}

std::string serialize_checkpoint(const QNetwork& net, const Adam* adam,
                                 const CheckpointMeta& meta) {
  for (std::size_t i = 0; i < meta.entries.size(); ++i) {
    const auto& [key, value] = meta.entries[i];
    DQN_CHECK(!key.empty() && key.size() <= kMaxNameBytes && value.size() <= kMaxMetaBytes,
              "checkpoint metadata: key '", key, "' or its value is outside the limits (keys 1..",
              kMaxNameBytes, " bytes, values up to ", kMaxMetaBytes, " bytes)");
    for (std::size_t j = 0; j < i; ++j)
      DQN_CHECK(meta.entries[j].first != key, "checkpoint metadata: key '", key,
                "' appears twice; use CheckpointMeta::set");
  }
  const auto& params = net.parameters();
  if (adam != nullptr)
    DQN_CHECK(adam->first_moments().size() == params.size(),
              "save_checkpoint: the optimizer "
              "holds ",
              adam->first_moments().size(), " parameters, the network ", params.size(),
              "; pass the Adam built from this network's parameters()");

  Writer w;
  w.bytes(kCheckpointMagic, sizeof(kCheckpointMagic));
  w.u32(kCheckpointVersion);
  w.u64(0);  // payload_bytes, patched below
  write_spec(w, net.spec());
  w.u32(static_cast<std::uint32_t>(params.size()));
  for (const auto& p : params) {
    w.str(p.name);
    w.tensor(p.variable->value);
  }
  w.u8(adam != nullptr ? 1 : 0);
  if (adam != nullptr) {
    const AdamHyper& h = adam->hyper();
    w.f64(static_cast<double>(h.lr));
    w.f64(static_cast<double>(h.beta1));
    w.f64(static_cast<double>(h.beta2));
    w.f64(static_cast<double>(h.eps));
    w.i64(adam->steps());
    w.u32(static_cast<std::uint32_t>(params.size()));
    for (std::size_t i = 0; i < params.size(); ++i) {
      w.str(params[i].name);
      w.tensor(adam->first_moments()[i]);
      w.tensor(adam->second_moments()[i]);
    }
  }
  w.u32(static_cast<std::uint32_t>(meta.entries.size()));
  for (const auto& [key, value] : meta.entries) {
    w.str(key);
    w.str(value);
  }
  std::string& out = w.out();
  const std::uint64_t payload = out.size() - kHeaderBytes;
  for (int i = 0; i < 8; ++i) out[12 + i] = static_cast<char>((payload >> (8 * i)) & 0xFFu);
  const std::uint32_t crc = crc32(out.data(), out.size());
  w.u32(crc);
  return std::move(out);
}

void deserialize_checkpoint(std::string_view bytes, QNetwork& net, Adam* adam, CheckpointMeta* meta,
                            const std::string& source) {
  Contents c = decode(bytes, source);
  check_fit(c, net, adam, source);
  commit(c, net, adam, meta);
}

CheckpointInfo read_checkpoint_info_bytes(std::string_view bytes, const std::string& source) {
  Contents c = decode(bytes, source);
  CheckpointInfo info;
  info.version = c.version;
  info.spec = c.spec;
  info.meta = std::move(c.meta);
  info.has_optimizer = c.has_optimizer;
  info.adam_hyper = c.optimizer.hyper;
  info.optimizer_steps = c.optimizer.steps;
  info.tensor_count = static_cast<std::int64_t>(c.tensors.size());
  for (const auto& t : c.tensors) info.parameter_count += t.value.numel();
  return info;
}

void save_checkpoint(const std::string& path, const QNetwork& net, const Adam* adam,
                     const CheckpointMeta& meta) {
  write_file_atomic(path, serialize_checkpoint(net, adam, meta));
}

void load_checkpoint(const std::string& path, QNetwork& net, Adam* adam, CheckpointMeta* meta) {
  deserialize_checkpoint(read_file(path, kMaxCheckpointBytes), net, adam, meta, path);
}

CheckpointInfo read_checkpoint_info(const std::string& path) {
  return read_checkpoint_info_bytes(read_file(path, kMaxCheckpointBytes), path);
}

// ---------------------------------------------------------------------------------------------
// POSIX calls directly (not std::ofstream): fsync needs the descriptor, and write(2) has no user
// buffer to flush, so once fsync returns the bytes are on the device.
void write_file_atomic(const std::string& path, std::string_view bytes) {
  write_file_atomic(path, std::vector<std::string_view>{bytes});
}

void write_file_atomic(const std::string& path, const std::vector<std::string_view>& pieces) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  DQN_CHECK(fd >= 0, system_error("cannot create", tmp),
            " (does the folder exist and is it writable?)");
  for (const std::string_view bytes : pieces) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const std::string message = system_error("cannot write", tmp);
        ::close(fd);
        ::unlink(tmp.c_str());
        throw_error(message, " (is the disk full?)");
      }
      done += static_cast<std::size_t>(n);
    }
  }
  if (::fsync(fd) != 0) {
    const std::string message = system_error("cannot fsync", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    throw_error(message);
  }
  if (::close(fd) != 0) {
    const std::string message = system_error("cannot close", tmp);
    ::unlink(tmp.c_str());
    throw_error(message);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string message = system_error("cannot rename " + tmp + " to", path);
    ::unlink(tmp.c_str());
    throw_error(message);
  }
  // The rename is a change to the folder: fsync it too, or a power loss may forget it.
  const std::size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DQN_CHECK(dfd >= 0, system_error("cannot open folder", dir), " to fsync it");
  const int rc = ::fsync(dfd);
  const std::string message = rc != 0 ? system_error("cannot fsync folder", dir) : std::string();
  ::close(dfd);
  DQN_CHECK(rc == 0, message);
}

namespace {

// Opens `path` for reading only if it is a regular file: O_NONBLOCK keeps open(2) from waiting
// for a FIFO's writer, and fstat on the open descriptor (not the name) decides, so nothing can
// be swapped in between. /dev/zero or a FIFO handed to `dqn info` would otherwise be read until
// memory runs out, or forever.
int open_regular(const std::string& path, std::uint64_t max_bytes, std::size_t& size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  DQN_CHECK(fd >= 0, system_error("cannot open", path));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const std::string message = system_error("cannot stat", path);
    ::close(fd);
    throw_error(message);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw_error("'", path, "' is ", S_ISDIR(st.st_mode) ? "a folder" : "not a regular file",
                " (a device, FIFO or socket); give the path of a file dqn wrote");
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    throw_error("'", path, "' is ", st.st_size, " bytes, more than such a file can be (at most ",
                max_bytes, "); is it the right file?");
  }
  size = static_cast<std::size_t>(st.st_size);
  return fd;
}

}  // namespace

std::string read_file(const std::string& path, std::uint64_t max_bytes) {
  std::size_t size = 0;
  const int fd = open_regular(path, max_bytes, size);
  std::string out;
  out.reserve(size);
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) {
      const std::string message = system_error("cannot read", path);
      ::close(fd);
      throw_error(message);
    }
    if (n == 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
    if (out.size() > max_bytes) {  // the file grew while being read
      ::close(fd);
      throw_error("'", path, "' grew past ", max_bytes, " bytes while being read");
    }
  }
  ::close(fd);
  return out;
}

MappedFile::MappedFile(const std::string& path) {
  const int fd = open_regular(path, std::numeric_limits<std::uint64_t>::max(), size_);
  if (size_ > 0) {  // mmap refuses a length of 0; an empty file is an empty view
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const std::string message = system_error("cannot map", path);
      ::close(fd);
      throw_error(message);
    }
    data_ = p;
  }
  ::close(fd);  // the mapping keeps the file's pages reachable
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(data_, size_);
}

}  // namespace dqn
