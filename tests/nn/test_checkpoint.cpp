// Tests for nn/checkpoint.hpp: bit-exact round trips, a model rebuilt from the checkpoint alone,
// every truncation, random byte flips, the documented error messages, and a writer killed with
// SIGKILL at many points that never leaves a torn file.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "nn/checkpoint.hpp"

using namespace dqn;

namespace {

NetworkSpec mlp_spec(std::vector<std::int64_t> hidden = {8}) {
  NetworkSpec spec;
  spec.kind = NetworkKind::kMlp;
  spec.observation_shape = {4};
  spec.num_actions = 2;
  spec.hidden = std::move(hidden);
  return spec;
}

// Gives the optimizer a state that no fresh Adam has: random moments and a step count.
void fill_adam(Adam& adam, Rng& rng, std::int64_t steps) {
  for (auto* moments : {&adam.first_moments(), &adam.second_moments()})
    for (Tensor& t : *moments)
      for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = rng.uniform(0.0f, 1.0f);
  adam.set_steps(steps);
}

// Every bit a load may change: parameters, both moments, the step count and the lr.
std::vector<std::uint32_t> snapshot(const QNetwork& net, const Adam* adam) {
  std::vector<std::uint32_t> bits;
  auto add = [&](const Tensor& t) {
    for (std::int64_t i = 0; i < t.numel(); ++i) {
      std::uint32_t b;
      std::memcpy(&b, &t[i], 4);
      bits.push_back(b);
    }
  };
  for (const auto& p : net.parameters()) add(p.variable->value);
  if (adam != nullptr) {
    for (const Tensor& t : adam->first_moments()) add(t);
    for (const Tensor& t : adam->second_moments()) add(t);
    bits.push_back(static_cast<std::uint32_t>(adam->steps()));
    const double lr = static_cast<double>(adam->hyper().lr);
    std::uint64_t lr_bits;
    std::memcpy(&lr_bits, &lr, 8);
    bits.push_back(static_cast<std::uint32_t>(lr_bits));
    bits.push_back(static_cast<std::uint32_t>(lr_bits >> 32));
  }
  return bits;
}

std::string message_of(const std::string& bytes, QNetwork& net, Adam* adam, CheckpointMeta* meta) {
  try {
    deserialize_checkpoint(bytes, net, adam, meta, "ckpt.bin");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// A fresh folder per test under the system's temp dir.
std::string temp_dir(const char* name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("dqn_ckpt_" + std::string(name) + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace

TEST_CASE("crc32 gives the CRC-32/IEEE check value") {
  const char* check = "123456789";
  CHECK(crc32(check, 9) == 0xCBF43926u);
  CHECK(crc32(check, 0) == 0u);
  // Continuing over a split input gives the same as one pass.
  CHECK(crc32(check + 4, 5, crc32(check, 4)) == 0xCBF43926u);
  CHECK(crc32_bytewise(check, 9) == 0xCBF43926u);
}

TEST_CASE(
    "the eight-bytes-a-step crc32 equals the bytewise reference at every length, offset and "
    "split") {
  // Python's zlib.crc32 gave these: the 43-byte pangram (five 8-byte steps and a 3-byte tail),
  // and 1000 bytes (i * 7 + 3) mod 256, i = 0..999.
  const std::string fox = "The quick brown fox jumps over the lazy dog";
  CHECK(crc32(fox.data(), fox.size()) == 0x414fa339u);
  std::vector<unsigned char> bytes(1000);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<unsigned char>(i * 7 + 3);
  CHECK(crc32(bytes.data(), bytes.size()) == 0x17bc2a46u);
  // Lengths 0..40 at offsets 0..7 (every tail length and alignment), each also split in two at
  // every point, as the run snapshot checks a file written in pieces.
  for (std::size_t offset = 0; offset < 8; ++offset) {
    for (std::size_t n = 0; n <= 40; ++n) {
      const unsigned char* p = bytes.data() + offset;
      const std::uint32_t ref = crc32_bytewise(p, n);
      REQUIRE(crc32(p, n) == ref);
      for (std::size_t cut = 0; cut <= n; ++cut)
        REQUIRE(crc32(p + cut, n - cut, crc32(p, cut)) == ref);
    }
  }
}

TEST_CASE("metadata set replaces and get finds") {
  CheckpointMeta meta;
  meta.set("step", "10");
  meta.set("config", "lr=1e-4\nhidden=256,256");
  meta.set("step", "20");
  CHECK(meta.entries.size() == 2);
  CHECK(meta.get("step") == std::optional<std::string>("20"));
  CHECK_FALSE(meta.get("missing").has_value());
  CHECK(meta.get_or("missing", "x") == "x");
  CHECK_THROWS_AS(meta.set("", "v"), Error);
}

TEST_CASE("a round trip restores parameters, Adam state and metadata bit for bit") {
  Rng rng(1);
  QNetwork net(mlp_spec({16, 8}), rng);
  Adam adam(net.parameters(), AdamHyper{.lr = 3e-4});
  fill_adam(adam, rng, 1234);
  CheckpointMeta meta;
  meta.set("step", "50000");
  meta.set("config", std::string("bytes\0with nul\n", 15));
  const std::string bytes = serialize_checkpoint(net, &adam, meta);

  Rng other(2);
  QNetwork net2(mlp_spec({16, 8}), other);
  Adam adam2(net2.parameters(), AdamHyper{.lr = 1e-3});
  CheckpointMeta meta2;
  REQUIRE(snapshot(net2, &adam2) != snapshot(net, &adam));
  deserialize_checkpoint(bytes, net2, &adam2, &meta2);
  CHECK(snapshot(net2, &adam2) == snapshot(net, &adam));
  CHECK(adam2.steps() == 1234);
  CHECK(meta2 == meta);
  // Serializing the restored model gives the same bytes again.
  CHECK(serialize_checkpoint(net2, &adam2, meta2) == bytes);
}

TEST_CASE("a model rebuilt from the checkpoint file alone equals the saved one") {
  const std::string dir = temp_dir("rebuild");
  const std::string path = dir + "/model.ckpt";
  Rng rng(3);
  NetworkSpec spec = mlp_spec({32, 16});
  spec.num_actions = 3;
  spec.dueling = true;
  QNetwork net(spec, rng);
  Adam adam(net.parameters(), AdamHyper{.lr = 2.5e-4});
  fill_adam(adam, rng, 77);
  CheckpointMeta meta;
  meta.set("step", "77");
  save_checkpoint(path, net, &adam, meta);

  const CheckpointInfo info = read_checkpoint_info(path);
  CHECK(info.version == kCheckpointVersion);
  CHECK(info.spec == spec);
  CHECK(info.has_optimizer);
  CHECK(info.optimizer_steps == 77);
  CHECK(info.adam_hyper.lr == adam.hyper().lr);
  CHECK(info.tensor_count == static_cast<std::int64_t>(net.parameters().size()));
  CHECK(info.parameter_count == net.parameter_count());
  CHECK(info.meta.get("step") == std::optional<std::string>("77"));

  Rng fresh(99);
  QNetwork rebuilt(info.spec, fresh);
  Adam rebuilt_adam(rebuilt.parameters(), info.adam_hyper);
  load_checkpoint(path, rebuilt, &rebuilt_adam, nullptr);
  CHECK(snapshot(rebuilt, &rebuilt_adam) == snapshot(net, &adam));
  std::filesystem::remove_all(dir);
}

TEST_CASE("weights only: no optimizer saved, and loading one from it is refused") {
  Rng rng(4);
  QNetwork net(mlp_spec(), rng);
  const std::string bytes = serialize_checkpoint(net, nullptr, {});
  CHECK_FALSE(read_checkpoint_info_bytes(bytes).has_optimizer);
  QNetwork net2(mlp_spec(), rng);
  Adam adam2(net2.parameters(), AdamHyper{.lr = 1e-4});
  const auto before = snapshot(net2, &adam2);
  CHECK(contains(message_of(bytes, net2, &adam2, nullptr), "holds no optimizer state"));
  CHECK(snapshot(net2, &adam2) == before);
  deserialize_checkpoint(bytes, net2, nullptr, nullptr);
  CHECK(snapshot(net2, nullptr) == snapshot(net, nullptr));
}

TEST_CASE("the documented errors: magic, newer version, checksum, spec and shape mismatch") {
  Rng rng(5);
  QNetwork net(mlp_spec(), rng);
  Adam adam(net.parameters(), AdamHyper{.lr = 1e-4});
  fill_adam(adam, rng, 3);
  const std::string good = serialize_checkpoint(net, &adam, {});
  QNetwork target(mlp_spec(), rng);
  const auto before = snapshot(target, nullptr);

  std::string bad = good;
  bad[0] = 'X';
  CHECK(message_of(bad, target, nullptr, nullptr) ==
        "not a dqn checkpoint: ckpt.bin (it does not start with \"DQNCKPT\")");
  CHECK(contains(message_of("hello world, not a checkpoint", target, nullptr, nullptr),
                 "not a dqn checkpoint"));

  bad = good;
  const std::uint32_t newer = kCheckpointVersion + 1;  // little-endian u32 at offset 8
  std::memcpy(bad.data() + 8, &newer, 4);
  CHECK(message_of(bad, target, nullptr, nullptr) ==
        "ckpt.bin: checkpoint format version " + std::to_string(newer) +
            " is newer than this build reads (" + std::to_string(kCheckpointVersion) +
            "); rebuild dqn");

  bad = good;
  bad[good.size() / 2] ^= 0x10;
  CHECK(contains(message_of(bad, target, nullptr, nullptr), "checksum mismatch"));

  bad = good + "x";
  CHECK(contains(message_of(bad, target, nullptr, nullptr), "unexpected bytes after"));

  // A model with narrower hidden layers: the first parameter whose shape differs is named, with
  // the flag that would have built the checkpoint's network.
  QNetwork narrow(mlp_spec({6}), rng);
  CHECK(message_of(good, narrow, nullptr, nullptr) ==
        "ckpt.bin: checkpoint has parameter net.0.weight of shape (8,4), the model expects "
        "(6,4): was it trained with hidden=8 (--set hidden=8)?");
  NetworkSpec dueling = mlp_spec();
  dueling.dueling = true;
  QNetwork duel(dueling, rng);
  CHECK(contains(message_of(good, duel, nullptr, nullptr), "was it trained with dueling=false?"));
  NetworkSpec actions = mlp_spec();
  actions.num_actions = 3;
  QNetwork three(actions, rng);
  CHECK(contains(message_of(good, three, nullptr, nullptr), "with 2 actions, the model has 3"));

  // An optimizer with other betas is refused rather than silently reset.
  Adam other_betas(target.parameters(), AdamHyper{.lr = 1e-4, .beta1 = 0.5});
  CHECK(contains(message_of(good, target, &other_betas, nullptr), "adam_hyper"));
  CHECK(snapshot(target, nullptr) == before);
}

TEST_CASE("every truncation of a small checkpoint is reported and changes nothing") {
  Rng rng(6);
  QNetwork net(mlp_spec(), rng);  // 4-8-2
  Adam adam(net.parameters(), AdamHyper{.lr = 1e-4});
  fill_adam(adam, rng, 9);
  CheckpointMeta meta;
  meta.set("step", "9");
  const std::string good = serialize_checkpoint(net, &adam, meta);

  QNetwork target(mlp_spec(), rng);
  Adam target_adam(target.parameters(), AdamHyper{.lr = 1e-4});
  CheckpointMeta target_meta;
  target_meta.set("untouched", "yes");
  const auto before = snapshot(target, &target_adam);
  int reported = 0;
  for (std::size_t n = 0; n < good.size(); ++n) {
    const std::string message = message_of(good.substr(0, n), target, &target_adam, &target_meta);
    const std::string expected = "ckpt.bin: truncated: expected " +
                                 std::to_string(n < 20 ? 20 - n : good.size() - n) +
                                 " more bytes at offset " + std::to_string(n);
    CHECK_MESSAGE(message.rfind(expected, 0) == 0, "length ", n, ": ", message);
    reported += message.rfind(expected, 0) == 0;
  }
  CHECK(reported == static_cast<int>(good.size()));
  CHECK(snapshot(target, &target_adam) == before);
  CHECK(target_meta.get("untouched") == std::optional<std::string>("yes"));
  CHECK(target_meta.entries.size() == 1);
}

TEST_CASE("random byte flips are all detected and change nothing") {
  Rng rng(7);
  QNetwork net(mlp_spec(), rng);
  Adam adam(net.parameters(), AdamHyper{.lr = 1e-4});
  fill_adam(adam, rng, 11);
  CheckpointMeta meta;
  meta.set("step", "11");
  const std::string good = serialize_checkpoint(net, &adam, meta);

  QNetwork target(mlp_spec(), rng);
  Adam target_adam(target.parameters(), AdamHyper{.lr = 1e-4});
  const auto before = snapshot(target, &target_adam);
  Rng flips(8);
  int detected = 0;
  constexpr int kTrials = 4000;
  for (int trial = 0; trial < kTrials; ++trial) {
    std::string bad = good;
    // One byte in most trials; up to four in the rest (CRC-32 catches any burst up to 32 bits
    // for certain, and wider damage with probability 1 - 2^-32).
    const int count = trial % 4 == 0 ? 1 + static_cast<int>(flips.below(4)) : 1;
    for (int k = 0; k < count; ++k) {
      const std::size_t at = flips.below(bad.size());
      bad[at] = static_cast<char>(bad[at] ^ static_cast<char>(1 + flips.below(255)));
    }
    detected += message_of(bad, target, &target_adam, nullptr).empty() ? 0 : 1;
  }
  CHECK(detected == kTrials);
  CHECK(snapshot(target, &target_adam) == before);
}

TEST_CASE("load errors from files name the path") {
  const std::string dir = temp_dir("errors");
  Rng rng(9);
  QNetwork net(mlp_spec(), rng);
  auto load_error = [&](const std::string& path) {
    try {
      load_checkpoint(path, net, nullptr, nullptr);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(contains(load_error(dir + "/missing.ckpt"), "cannot open " + dir + "/missing.ckpt"));
  CHECK_THROWS_AS(save_checkpoint(dir + "/no/such/folder/x.ckpt", net, nullptr, {}), Error);
  const std::string path = dir + "/cut.ckpt";
  save_checkpoint(path, net, nullptr, {});
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 3);
  CHECK(contains(load_error(path), path + ": truncated: expected 3 more bytes"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("a writer killed at any moment leaves the old or the new checkpoint, never a torn one") {
  const std::string dir = temp_dir("kill");
  const std::string path = dir + "/model.ckpt";
  // Two models large enough (about 70 kB each) that a write takes a while to kill mid-way.
  Rng rng(10);
  const NetworkSpec spec = mlp_spec({128, 128});
  QNetwork a(spec, rng), b(spec, rng);
  const auto bits_a = snapshot(a, nullptr), bits_b = snapshot(b, nullptr);
  REQUIRE(bits_a != bits_b);
  save_checkpoint(path, a, nullptr, {});

  QNetwork loaded(spec, rng);
  int saw_a = 0, saw_b = 0, mid_write = 0;
  constexpr int kKills = 60;
  for (int kill_at = 0; kill_at < kKills; ++kill_at) {
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      // The child only writes; it never returns into doctest.
      try {
        for (std::uint64_t i = 0;; ++i) save_checkpoint(path, i % 2 ? a : b, nullptr, {});
      } catch (...) {
      }
      ::_exit(1);
    }
    // Delays from 0 to ~20 ms in uneven steps so the kill lands in every phase of a write.
    ::usleep(static_cast<useconds_t>((kill_at * 397) % 20000));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    CHECK(WIFSIGNALED(status));
    // A temp file left behind means the kill landed inside a write, before its rename.
    mid_write += std::filesystem::remove(path + ".tmp." + std::to_string(child)) ? 1 : 0;
    load_checkpoint(path, loaded, nullptr, nullptr);
    const auto bits = snapshot(loaded, nullptr);
    const bool is_a = bits == bits_a, is_b = bits == bits_b;
    CHECK((is_a || is_b));
    saw_a += is_a;
    saw_b += is_b;
  }
  // Both versions were seen: the kills did land while the child was replacing the file.
  CHECK(saw_a + saw_b == kKills);
  MESSAGE("model a seen ", saw_a, " times, model b ", saw_b, " times, ", mid_write,
          " kills inside a write");
  CHECK(saw_b > 0);
  std::filesystem::remove_all(dir);
}

namespace {
// Rewrites the CRC so that edited bytes pass the checksum, as a forged file would.
void forge_crc(std::string& bytes) {
  const std::uint32_t crc = crc32(bytes.data(), bytes.size() - 4);
  for (int i = 0; i < 4; ++i)
    bytes[bytes.size() - 4 + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
}
void rename_first(std::string& bytes, const std::string& from, const std::string& to) {
  REQUIRE(from.size() == to.size());
  const std::size_t at = bytes.find(from);
  REQUIRE(at != std::string::npos);
  bytes.replace(at, from.size(), to);
}
}  // namespace

TEST_CASE("a forged file with a missing, extra or repeated tensor is refused") {
  Rng rng(11);
  QNetwork net(mlp_spec(), rng);
  const std::string good = serialize_checkpoint(net, nullptr, {});
  QNetwork target(mlp_spec(), rng);
  const auto before = snapshot(target, nullptr);

  std::string bad = good;
  rename_first(bad, "net.0.bias", "net.0.bia_");
  forge_crc(bad);
  CHECK(message_of(bad, target, nullptr, nullptr) ==
        "ckpt.bin: parameter net.0.bias is missing from the checkpoint; the file is inconsistent");

  bad = good;
  rename_first(bad, "net.0.bias", "net.2.bias");
  forge_crc(bad);
  CHECK(contains(message_of(bad, target, nullptr, nullptr), "net.2.bias is stored twice"));
  CHECK(snapshot(target, nullptr) == before);
}

TEST_CASE("a dueling Nature CNN checkpoint round-trips and rebuilds from its spec") {
  Rng rng(12);
  const NetworkSpec spec = NetworkSpec::nature_cnn(6, /*dueling=*/true);
  QNetwork net(spec, rng);
  Adam adam(net.parameters(), AdamHyper{.lr = 6.25e-5, .eps = 1.5e-4});
  fill_adam(adam, rng, 100);
  const std::string bytes = serialize_checkpoint(net, &adam, {});
  const CheckpointInfo info = read_checkpoint_info_bytes(bytes);
  CHECK(info.spec == spec);
  CHECK(info.adam_hyper.eps == 1.5e-4);
  Rng other(13);
  QNetwork rebuilt(info.spec, other);
  Adam rebuilt_adam(rebuilt.parameters(), info.adam_hyper);
  deserialize_checkpoint(bytes, rebuilt, &rebuilt_adam, nullptr);
  CHECK(snapshot(rebuilt, &rebuilt_adam) == snapshot(net, &adam));
}

TEST_CASE("write_file_atomic over pieces writes them in order and replaces the old file") {
  const std::string dir = temp_dir("pieces");
  const std::string path = dir + "/file.bin";
  write_file_atomic(path, std::string_view("old contents"));
  const std::string big(100000, 'x');  // a large piece between small ones, and an empty one
  write_file_atomic(path, std::vector<std::string_view>{"head:", big, "", ":tail"});
  CHECK(read_file(path) == "head:" + big + ":tail");
  const auto entries = std::distance(std::filesystem::directory_iterator(dir),
                                     std::filesystem::directory_iterator());
  CHECK(entries == 1);  // no temp file left behind
  std::filesystem::remove_all(dir);
}

TEST_CASE("MappedFile sees the file's bytes, an empty file as empty, and names a missing path") {
  const std::string dir = temp_dir("mapped");
  const std::string path = dir + "/file.bin", empty = dir + "/empty.bin";
  const std::string contents = "mapped " + std::string(70000, 'y');
  write_file_atomic(path, contents);
  write_file_atomic(empty, std::string_view());
  CHECK(MappedFile(path).bytes() == contents);
  CHECK(MappedFile(empty).bytes().empty());
  CHECK_THROWS_WITH_AS(MappedFile(dir + "/missing.bin"), doctest::Contains("missing.bin"), Error);
  std::filesystem::remove_all(dir);
}

// ---- C51 (format version 2) ----

TEST_CASE("a C51 dueling network round-trips, and its spec fields are checked on load") {
  Rng rng(21);
  NetworkSpec spec = mlp_spec({8});
  spec.num_actions = 3;
  spec.dueling = true;
  spec.atoms = 5;
  spec.v_min = -2.5;
  spec.v_max = 7.0;
  QNetwork net(spec, rng);
  Adam adam(net.parameters(), AdamHyper{.lr = 1e-3});
  fill_adam(adam, rng, 9);
  const std::string bytes = serialize_checkpoint(net, &adam, {});
  const CheckpointInfo info = read_checkpoint_info_bytes(bytes);
  CHECK(info.spec.atoms == 5);
  CHECK(info.spec.v_min == -2.5);
  CHECK(info.spec.v_max == 7.0);
  Rng other(22);
  QNetwork rebuilt(info.spec, other);
  Adam rebuilt_adam(rebuilt.parameters(), info.adam_hyper);
  deserialize_checkpoint(bytes, rebuilt, &rebuilt_adam, nullptr);
  CHECK(snapshot(rebuilt, &rebuilt_adam) == snapshot(net, &adam));

  // Another support (same shapes, so only the spec check can catch it) is refused with a hint.
  NetworkSpec shifted = spec;
  shifted.v_max = 8.0;
  QNetwork wrong(shifted, other);
  const std::string message = message_of(bytes, wrong, nullptr, nullptr);
  CHECK(contains(message, "holds mlp 4-8-3 dueling c51 5 atoms [-2.5, 7],"));
  CHECK(contains(message, "the model is mlp 4-8-3 dueling c51 5 atoms [-2.5, 8]"));
  CHECK(contains(message, "was it trained with distributional=true atoms=5 v_min=-2.5 v_max=7?"));
}

TEST_CASE("a version 1 checkpoint (before C51) still loads, as an ordinary Q head") {
  Rng rng(23);
  QNetwork net(mlp_spec({8}), rng);
  const std::string v2 = serialize_checkpoint(net, nullptr, {});
  // Rewrite it as version 1 wrote it: the spec without version 2's 33 bytes after the dueling
  // byte (atoms, v_min, v_max: 24; noisy, noisy_sigma0: 9), version 1, the payload length and
  // the CRC redone.
  const std::size_t header = 20;
  const std::size_t spec_end = header + 1 + 4 + 8 * 1 + 8 + 4 + 8 * 1 + 1;
  const std::size_t v2_bytes = 24 + 9;
  std::string v1 =
      v2.substr(0, spec_end) + v2.substr(spec_end + v2_bytes, v2.size() - 4 - spec_end - v2_bytes);
  v1[8] = 1;
  const std::uint64_t payload = v1.size() - header;
  for (int i = 0; i < 8; ++i) v1[12 + i] = static_cast<char>((payload >> (8 * i)) & 0xFF);
  const std::uint32_t crc = crc32(v1.data(), v1.size());
  for (int i = 0; i < 4; ++i) v1.push_back(static_cast<char>((crc >> (8 * i)) & 0xFF));

  const CheckpointInfo info = read_checkpoint_info_bytes(v1);
  CHECK(info.version == 1);
  CHECK(info.spec.atoms == 1);
  CHECK(info.spec == net.spec());
  QNetwork loaded(info.spec, rng);
  deserialize_checkpoint(v1, loaded, nullptr, nullptr);
  CHECK(snapshot(loaded, nullptr) == snapshot(net, nullptr));
}
