// The tapegrad command's option parsing (CLI11), separate from running the
// command so that tests and the fuzz target can parse any argv without
// training anything.
#pragma once
#include <iosfwd>
#include <string>

#include "app.h"

namespace tgapp {

struct CliArgs {
  std::string command;       // train | finetune | eval | inspect
  RunConfig cfg;
  std::string model_path;    // eval --model
  std::string inspect_path;  // inspect <file>
};

// Parses argv into `args`. Returns -1 when a command should run; otherwise the
// process exit code (0 for --help, non-zero for a parse error), after writing
// the help or the error to `out` / `err`. Any other exception is a bug (the
// fuzz target tests/fuzz/fuzz_cli.cc looks for them).
int parse_cli(int argc, const char* const* argv, CliArgs& args, std::ostream& out, std::ostream& err);

}  // namespace tgapp
