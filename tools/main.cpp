// tools/main.cpp: the `dqn` command line. tools/dqn builds it and hands it every subcommand
// except `test` and `build`.
#include <cstdio>
#include <cstring>
#include <string>

namespace {

constexpr const char* kSubcommands = "train, resume, eval, play, info, trace, bench, test, build, help";

int usage_error(const std::string& message) {
  std::fprintf(stderr, "dqn: %s\nvalid subcommands: %s\n", message.c_str(), kSubcommands);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage_error("no subcommand given");
  const std::string command = argv[1];
  for (const char* known : {"train", "resume", "eval", "play", "info", "trace", "bench"}) {
    if (command == known) {
      std::fprintf(stderr, "dqn %s: not built yet (the rl/ and tools/ issues add it)\n",
                   command.c_str());
      return 1;
    }
  }
  return usage_error("unknown subcommand '" + command + "'");
}
