// core/error.hpp: the project's one error type and the check macro that throws it.
//
// Every check at an API or I/O boundary throws dqn::Error with three parts in its message:
// what was expected, what came, and how to fix it. Library code never exits or aborts; only a
// program's main() turns an Error into a message and an exit code.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace dqn {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Builds the message from any streamable pieces; only called on the failure path, so a passing
// check costs one branch and no string work.
template <class... Parts>
[[noreturn]] void throw_error(Parts&&... parts) {
  std::ostringstream message;
  (message << ... << std::forward<Parts>(parts));
  throw Error(message.str());
}

}  // namespace dqn

// DQN_CHECK(cond, pieces...): throws dqn::Error built from the pieces when cond is false.
#define DQN_CHECK(cond, ...)                      \
  do {                                            \
    if (!(cond)) ::dqn::throw_error(__VA_ARGS__); \
  } while (0)
