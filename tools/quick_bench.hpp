// tools/quick_bench.hpp: `dqn bench`, a one-screen table of this machine's key throughputs
// (the full, counter-rich measurements are the Google Benchmark binaries in bench/).
#pragma once

#include <ostream>

namespace dqn::tools {

// Times each workload for about `seconds_each` (median of 5 rounds) and prints a table.
void print_quick_bench(std::ostream& out, double seconds_each);

}  // namespace dqn::tools
