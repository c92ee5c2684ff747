// The tapegrad command: train, finetune, eval and inspect (CLI11).
//   tapegrad train --model lenet --data fashion-mnist --epochs 3 --out run/
//   tapegrad finetune --from run/model.safetensors --data mnist-digits --limit 1000 [--sample random] --mode full --out run2/
//   tapegrad eval --model run/model.safetensors --data fashion-mnist
//   tapegrad inspect run/model.safetensors
// Every failure prints one "tapegrad: error: ..." line and exits non-zero.
#include <cstdio>
#include <iostream>

#include "cli.h"

int main(int argc, char** argv) {
  tgapp::CliArgs args;
  tgapp::RunConfig& cfg = args.cfg;
  try {
    if (const int rc = tgapp::parse_cli(argc, argv, args, std::cout, std::cerr); rc >= 0) return rc;
    if (args.command == "train") {
      cfg.from.clear();
      cfg.mode = "full";
      tgapp::run_train(cfg);
    } else if (args.command == "finetune") {
      if (cfg.mode == "scratch") cfg.from.clear();
      tgapp::RunConfig c = cfg;
      if (c.mode != "scratch" && c.from.empty()) {
        std::fprintf(stderr, "tapegrad: error: finetune --mode %s needs --from <model.safetensors>\n", c.mode.c_str());
        return 2;
      }
      if (c.from.empty()) c.mode = "scratch";
      tgapp::run_finetune(c);
    } else if (args.command == "eval") {
      return tgapp::run_eval(args.model_path, cfg.data, cfg.data_root, 0);
    } else if (args.command == "inspect") {
      return tgapp::run_inspect(args.inspect_path);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tapegrad: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
