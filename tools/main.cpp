// tools/main.cpp: the `dqn` program; all the work is in tools/cli.cpp.
#include <iostream>

#include "tools/cli.hpp"

int main(int argc, char** argv) {
  return dqn::tools::run_cli(argc, argv, std::cout, std::cerr);
}
