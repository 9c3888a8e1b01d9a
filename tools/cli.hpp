// tools/cli.hpp: the `dqn` command line as a function, so tests can run it in-process.
//
// Exit codes: 0 success, 1 a runtime error (a missing or corrupt file, a diverged run),
// 2 a usage error (unknown subcommand, flag or config key, a bad value).
#pragma once

#include <ostream>

namespace dqn::tools {

int run_cli(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace dqn::tools
