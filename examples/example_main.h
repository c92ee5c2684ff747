// The small examples' shared entry point: `--help` prints the usage and exits
// 0; an unknown option or too many arguments prints a one-line error and the
// usage and exits 2 (a path that starts with '-' is not taken as a file); an
// error while running (a missing data folder, a damaged file) prints one line,
// "<name>: error: ...", and exits 1 instead of aborting on an uncaught
// exception. Not part of the library: the `tapegrad` command has its own CLI.
#pragma once

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

// run(args) gets the positional arguments (at most max_args of them).
template <class Run>
int example_main(int argc, char** argv, const char* name, const char* usage, size_t max_args, Run run) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::printf("usage: %s %s\n", name, usage);
      return 0;
    }
    if (a.size() > 1 && a[0] == '-') {
      std::fprintf(stderr, "%s: unknown option '%s'\nusage: %s %s\n", name, a.c_str(), name, usage);
      return 2;
    }
    args.push_back(a);
  }
  if (args.size() > max_args) {
    std::fprintf(stderr, "%s: too many arguments (%zu; at most %zu)\nusage: %s %s\n", name, args.size(), max_args,
                 name, usage);
    return 2;
  }
  try {
    return run(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", name, e.what());
    return 1;
  }
}
