// tests/fuzz/fuzz_checkpoint.cpp: libFuzzer target for the checkpoint loader.
//
// Built and run by tests/fuzz/run_fuzz.sh with clang's -fsanitize=fuzzer,address,undefined; not
// part of the CMake build (which uses g++, and has no libFuzzer).
//
// The property under test: for ANY bytes, deserialize_checkpoint either succeeds or throws
// dqn::Error, never crashes, reads out of bounds, allocates without bound or hangs, and a failed
// load leaves the model and the optimizer exactly as they were.
//
// The CRC stops almost every mutation at the checksum, which would leave the parser behind it
// unexplored. So the first input byte picks a mode: even, the rest of the input is loaded as it
// is; odd, the rest is first "repaired" (payload length and CRC rewritten to fit the bytes), so
// mutations reach the spec, tensor, optimizer and metadata decoders as a forged file would.
//
// With DQN_FUZZ_WRITE_SEEDS=<folder> set, the target first writes a few valid checkpoints there
// (the seed corpus) in both modes.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "nn/checkpoint.hpp"

using namespace dqn;

namespace {

NetworkSpec small_spec(std::int64_t hidden) {
  NetworkSpec spec;
  spec.kind = NetworkKind::kMlp;
  spec.observation_shape = {4};
  spec.num_actions = 2;
  spec.hidden = {hidden};
  return spec;
}

struct Target {
  Rng rng{1};
  QNetwork net{small_spec(8), rng};
  Adam adam{net.parameters(), AdamHyper{.lr = 1e-4}};
};

Target& target() {
  static Target* t = new Target();  // never destroyed: outlives every fuzz iteration
  return *t;
}

std::vector<float> snapshot(const Target& t) {
  std::vector<float> out;
  auto add = [&](const Tensor& x) { out.insert(out.end(), x.data(), x.data() + x.numel()); };
  for (const auto& p : t.net.parameters()) add(p.variable->value);
  for (const Tensor& m : t.adam.first_moments()) add(m);
  for (const Tensor& v : t.adam.second_moments()) add(v);
  out.push_back(static_cast<float>(t.adam.steps()));
  out.push_back(static_cast<float>(t.adam.hyper().lr));
  return out;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Rewrites payload_bytes (offset 12) and the trailing CRC so that the bytes pass both checks.
void repair(std::string& bytes) {
  constexpr std::size_t kHeader = 20, kTrailer = 4;
  if (bytes.size() < kHeader + kTrailer) return;
  const std::uint64_t payload = bytes.size() - kHeader - kTrailer;
  for (int i = 0; i < 8; ++i) bytes[12 + i] = static_cast<char>((payload >> (8 * i)) & 0xFF);
  const std::uint32_t crc = crc32(bytes.data(), bytes.size() - kTrailer);
  for (int i = 0; i < 4; ++i)
    bytes[bytes.size() - kTrailer + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
}

void write_seed(const std::string& folder, const std::string& name, char mode,
                const std::string& checkpoint) {
  std::ofstream(folder + "/" + name, std::ios::binary) << mode << checkpoint;
}

void write_seeds(const char* folder) {
  Target& t = target();
  Rng rng(2);
  for (Tensor& m : t.adam.first_moments())
    for (std::int64_t i = 0; i < m.numel(); ++i) m[i] = rng.uniform(-1.0f, 1.0f);
  t.adam.set_steps(5);
  CheckpointMeta meta;
  meta.set("step", "5");
  meta.set("config", "hidden=8\nlr=1e-4\n");
  const std::string full = serialize_checkpoint(t.net, &t.adam, meta);
  const std::string weights = serialize_checkpoint(t.net, nullptr, {});
  QNetwork other(small_spec(6), rng);  // a spec mismatch
  const std::string mismatch = serialize_checkpoint(other, nullptr, {});
  for (char mode : {'0', '1'}) {
    write_seed(folder, std::string("full_") + mode, mode, full);
    write_seed(folder, std::string("weights_") + mode, mode, weights);
    write_seed(folder, std::string("mismatch_") + mode, mode, mismatch);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  if (const char* folder = std::getenv("DQN_FUZZ_WRITE_SEEDS")) write_seeds(folder);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) repair(bytes);
  Target& t = target();
  const std::vector<float> before = snapshot(t);
  CheckpointMeta meta;
  try {
    deserialize_checkpoint(bytes, t.net, &t.adam, &meta, "fuzz");
  } catch (const Error&) {
    if (!same_bits(before, snapshot(t))) __builtin_trap();  // a failed load changed the model
    try {
      (void)read_checkpoint_info_bytes(bytes, "fuzz");
    } catch (const Error&) {
    }
    return 0;
  }
  // A load that succeeded must survive a round trip through the serializer unchanged.
  const std::string again = serialize_checkpoint(t.net, &t.adam, meta);
  const CheckpointInfo info = read_checkpoint_info_bytes(again, "fuzz");
  if (!(info.spec == t.net.spec())) __builtin_trap();
  return 0;
}
