// tools/cli.hpp: the `dqn` command line as a function, so tests can run it in-process.
//
// Exit codes: 0 success, 1 a runtime error (a missing or corrupt file, a diverged run),
// 2 a usage error (unknown subcommand, flag or config key, a bad value).
#pragma once

#include <ostream>
#include <string>

#include "rl/trainer.hpp"

namespace dqn::tools {

int run_cli(int argc, char** argv, std::ostream& out, std::ostream& err);

// The training progress line for a terminal `columns` wide (at most columns - 1 characters,
// the least important fields dropped first), or with every field when columns is 0.
std::string progress_line(const TrainProgress& p, int columns);

}  // namespace dqn::tools
