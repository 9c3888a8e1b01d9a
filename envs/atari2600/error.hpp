// envs/atari2600/error.hpp: the emulator's one error type.
//
// The emulator builds on the standard library only, so it can be lifted out of this project as
// it is; it therefore has its own error type instead of dqn::Error. Messages say what was
// expected, what came and how to fix it. The emulator never exits or aborts.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace atari2600 {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class... Parts>
[[noreturn]] void throw_error(Parts&&... parts) {
  std::ostringstream message;
  (message << ... << std::forward<Parts>(parts));
  throw Error(message.str());
}

}  // namespace atari2600
