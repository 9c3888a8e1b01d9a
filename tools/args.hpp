// tools/args.hpp: the command line's small argument parser.
//
// Each subcommand declares its flags; anything else is a UsageError (exit code 2) that names the
// closest valid flag. Flags take their value as "--flag value" or "--flag=value"; --set may
// repeat.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace dqn::tools {

// A mistake in how the program was called (exit code 2), as opposed to a runtime failure (1).
class UsageError : public Error {
 public:
  using Error::Error;
};

struct FlagSpec {
  std::string name;  // without the leading "--"
  bool takes_value;
  std::string help;
};

class Args {
 public:
  // Parses argv[first..argc). Positional arguments are kept in order.
  Args(int argc, char** argv, int first, const std::vector<FlagSpec>& flags,
       const std::string& command);

  bool has(const std::string& flag) const { return values_.count(flag) > 0; }
  std::string get(const std::string& flag, const std::string& fallback = "") const;
  const std::vector<std::string>& all(const std::string& flag) const;
  std::int64_t get_int(const std::string& flag, std::int64_t fallback, std::int64_t min,
                       std::int64_t max) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::string command_;
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

// A whole number written in decimal digits with an optional '-', or nothing ("1x", "0x10",
// " 5", "nan", out of range).
std::optional<std::int64_t> parse_whole(const std::string& text);

std::string usage_text(const std::string& command, const std::string& synopsis,
                       const std::vector<FlagSpec>& flags);

}  // namespace dqn::tools
