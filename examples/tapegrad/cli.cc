// CLI11 setup of the tapegrad command (see cli.h).
#include "cli.h"

#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <iostream>
#include <vector>

namespace tgapp {

int parse_cli(int argc, const char* const* argv, CliArgs& args, std::ostream& out, std::ostream& err) {
  CLI::App app{"tapegrad: train, fine-tune, evaluate and inspect small networks"};
  app.require_subcommand(1);
  RunConfig& cfg = args.cfg;

  // CLI11 reads "-1" and "2^64" into a uint64_t as 2^64-1 without a word.
  const CLI::Validator seed_range(
      [](const std::string& v) {
        uint64_t x = 0;
        return parse_whole(v, x) ? std::string() : "not an integer in [0, 2^64-1]: " + v;
      },
      "UINT64");
  // CLI11's PositiveNumber lets "inf" through ("1e999" too) or echoes the
  // value as a 300-digit number: a learning rate is a finite number > 0.
  const CLI::Validator finite_positive(
      [](const std::string& v) {
        const char* b = v.c_str();
        char* end = nullptr;
        const double x = std::strtod(b, &end);
        if (end == b || *end != '\0') return "not a number: '" + v + "'";
        if (!std::isfinite(x))
          return "not a finite number: '" + v + "' (expected a number > 0 such as 1e-3)";
        if (!(x > 0)) return "must be > 0, got '" + v + "'";
        return std::string();
      },
      "NUMBER > 0");
  // Whole numbers >= lo, with a readable message (CLI11's PositiveNumber
  // printed "Value 0 not in range 0.000000 to 1797...", 300 digits).
  auto int_at_least = [](long long lo) {
    return CLI::Validator(
        [lo](const std::string& v) {
          long long x = 0;
          if (!parse_whole(v, x)) return "not a whole number: '" + v + "'";
          if (x < lo) return "must be >= " + std::to_string(lo) + ", got " + v;
          return std::string();
        },
        "INT >= " + std::to_string(lo));
  };
  auto add_common = [&](CLI::App* c, bool finetune) {
    c->add_option("--model", cfg.model, "mlp or lenet")->check(CLI::IsMember({"mlp", "lenet"}));
    c->add_option("--data", cfg.data, "fashion-mnist or mnist-digits")->check(CLI::IsMember({"fashion-mnist", "mnist-digits"}));
    c->add_option("--data-root", cfg.data_root, "folder with the IDX files (default: the data set's standard folder)");
    c->add_option("--epochs", cfg.epochs, "passes over the training data")->check(int_at_least(1));
    c->add_option("--batch-size", cfg.batch_size, "samples per step")->check(int_at_least(1));
    c->add_option("--optimizer", cfg.optimizer, "sgd, adam or adamw")->check(CLI::IsMember({"sgd", "adam", "adamw"}));
    c->add_option("--lr", cfg.lr, "learning rate")->check(finite_positive);
    c->add_option("--seed", cfg.seed, "seed for initialization and shuffling (0 .. 2^64-1)")->check(seed_range);
    c->add_option("--threads", cfg.threads, "worker threads (default: all cores)")->check(int_at_least(0));
    c->add_option("--limit", cfg.limit, "train on N training examples only")->check(int_at_least(0));
    c->add_option("--sample", cfg.sample,
                  "which N examples --limit keeps: first, random, or balanced (N/classes per class); drawn with --seed")
        ->check(CLI::IsMember({"first", "random", "balanced"}));
    c->add_option("--out", cfg.out,
                  "run folder; without --resume, an earlier run in it is replaced, its files left untouched until "
                  "this run's first epoch ends")
        ->required();
    c->add_flag("--resume", cfg.resume,
                "continue the run in --out from its last checkpoint (same options and training data; "
                "--data-root may point to a moved or gzipped copy of the same files)");
    c->add_flag("--quiet", cfg.quiet, "no per-epoch lines");
    c->add_option("--stop-after-batches", cfg.stop_after_batches, "testing: stop after N batches as if killed")->group("");
    c->add_option("--pause-after-batches", cfg.pause_after_batches, "testing: after N batches touch <out>/.paused and sleep")
        ->group("");
    c->add_option("--crash-after-write", cfg.crash_after_write,
                  "testing: SIGKILL right after writing <file>@<epoch> of a checkpoint")
        ->group("");
    if (finetune) {
      c->add_option("--from", cfg.from, "pretrained model.safetensors (not needed with --mode scratch)");
      c->add_option("--mode", cfg.mode, "full, frozen or scratch")->check(CLI::IsMember({"full", "frozen", "scratch"}));
      c->add_option("--head-lr", cfg.head_lr, "learning rate of the new head")->check(finite_positive);
      c->add_option("--backbone-lr", cfg.backbone_lr, "learning rate of the pretrained layers (full mode)")
          ->check(finite_positive);
    }
  };
  CLI::App* train = app.add_subcommand("train", "train a model from scratch");
  add_common(train, false);
  CLI::App* finetune = app.add_subcommand("finetune", "put a fresh head on a pretrained model and train it on new data");
  add_common(finetune, true);
  CLI::App* eval = app.add_subcommand("eval", "accuracy, per-class accuracy and confusion matrix");
  eval->add_option("--model", args.model_path, "model.safetensors")->required();
  eval->add_option("--data", cfg.data, "fashion-mnist or mnist-digits (default: the one the model was trained on)")
      ->check(CLI::IsMember({"fashion-mnist", "mnist-digits"}));
  eval->add_option("--data-root", cfg.data_root, "folder with the IDX files");
  CLI::App* inspect = app.add_subcommand("inspect", "names, shapes, dtypes and parameter count of a safetensors file");
  inspect->add_option("file", args.inspect_path, "a .safetensors file")->required();

  try {
    // CLI11 takes argv as char**; it does not modify the strings.
    app.parse(argc, const_cast<char**>(argv));
  } catch (const CLI::ParseError& e) {
    return app.exit(e, out, err);
  }
  args.command = *train ? "train" : *finetune ? "finetune" : *eval ? "eval" : *inspect ? "inspect" : "";
  if (*eval && eval->count("--data") == 0) cfg.data.clear();  // run_eval takes the model's
  if (*finetune) {
    // A learning rate the mode does not use is an error, not silently ignored.
    struct ModeRates {
      const char* mode;
      std::vector<const char*> unused;
      const char* uses;
    };
    static const ModeRates kModes[] = {
        {"full", {"--lr"}, "full uses --head-lr and --backbone-lr"},
        {"frozen", {"--lr", "--backbone-lr"}, "frozen trains the head only, with --head-lr"},
        {"scratch", {"--head-lr", "--backbone-lr"}, "scratch trains every layer with --lr"}};
    for (const ModeRates& m : kModes)
      if (cfg.mode == m.mode)
        for (const char* opt : m.unused)
          if (finetune->count(opt)) {
            err << "finetune --mode " << cfg.mode << " does not use " << opt << " (" << m.uses << ")\n";
            return 2;
          }
  }
  return -1;
}

}  // namespace tgapp
