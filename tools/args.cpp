// tools/args.cpp: flag parsing with "did you mean" hints.
#include "tools/args.hpp"

#include <cerrno>
#include <cstdlib>

#include "rl/config.hpp"

namespace dqn::tools {

Args::Args(int argc, char** argv, int first, const std::vector<FlagSpec>& flags,
           const std::string& command)
    : command_(command) {
  std::vector<std::string> names;
  for (const auto& f : flags) names.push_back("--" + f.name);
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0 || arg == "--") {
      if (arg.size() > 1 && arg[0] == '-' && arg != "-")
        throw UsageError("dqn " + command + ": unknown option '" + arg + "'; did you mean '" +
                         closest_match(arg, names) + "'? (dqn " + command + " --help)");
      positional_.push_back(arg);
      continue;
    }
    std::string value;
    bool has_inline_value = false;
    if (const auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_inline_value = true;
    }
    const FlagSpec* spec = nullptr;
    for (const auto& f : flags)
      if (arg == "--" + f.name) spec = &f;
    if (spec == nullptr)
      throw UsageError("dqn " + command + ": unknown flag '" + arg + "'; did you mean '" +
                       closest_match(arg, names) + "'? (dqn " + command + " --help)");
    if (spec->takes_value && !has_inline_value) {
      if (i + 1 >= argc)
        throw UsageError("dqn " + command + ": " + arg + " needs a value (" + spec->help + ")");
      value = argv[++i];
    }
    if (!spec->takes_value && has_inline_value)
      throw UsageError("dqn " + command + ": " + arg + " takes no value");
    values_[spec->name].push_back(value);
  }
}

std::string Args::get(const std::string& flag, const std::string& fallback) const {
  const auto it = values_.find(flag);
  return it == values_.end() ? fallback : it->second.back();
}

const std::vector<std::string>& Args::all(const std::string& flag) const {
  static const std::vector<std::string> empty;
  const auto it = values_.find(flag);
  return it == values_.end() ? empty : it->second;
}

std::int64_t Args::get_int(const std::string& flag, std::int64_t fallback, std::int64_t min,
                           std::int64_t max) const {
  if (!has(flag)) return fallback;
  const std::string text = get(flag);
  const std::optional<std::int64_t> parsed = parse_whole(text);
  const std::int64_t v = parsed.value_or(0);
  if (!parsed || v < min || v > max)
    throw UsageError("dqn " + command_ + ": --" + flag + " must be a whole number in [" +
                     std::to_string(min) + ", " + std::to_string(max) + "], got '" + text + "'");
  return v;
}

std::optional<std::int64_t> parse_whole(const std::string& text) {
  // Digits only (an optional '-'): strtoll alone also takes blanks, '+', and stops silently at
  // "1x" or the "x" of "0x10".
  const std::size_t first = !text.empty() && text[0] == '-' ? 1 : 0;
  if (text.size() == first || text.find_first_not_of("0123456789", first) != std::string::npos)
    return std::nullopt;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), nullptr, 10);
  if (errno == ERANGE) return std::nullopt;
  return v;
}

std::string usage_text(const std::string& command, const std::string& synopsis,
                       const std::vector<FlagSpec>& flags) {
  std::string text = "usage: dqn " + command + " " + synopsis + "\n";
  for (const auto& f : flags) {
    std::string left = "  --" + f.name + (f.takes_value ? " VALUE" : "");
    if (left.size() < 24) left.resize(24, ' ');
    text += left + " " + f.help + "\n";
  }
  return text;
}

}  // namespace dqn::tools
