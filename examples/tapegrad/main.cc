// The tapegrad command: train, finetune, eval and inspect (CLI11).
//   tapegrad train --model lenet --data fashion-mnist --epochs 3 --out run/
//   tapegrad finetune --from run/model.safetensors --data mnist-digits --limit 1000 --mode full --out run2/
//   tapegrad eval --model run/model.safetensors --data fashion-mnist
//   tapegrad inspect run/model.safetensors
// Every failure prints one "tapegrad: error: ..." line and exits non-zero.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "app.h"

int main(int argc, char** argv) {
  CLI::App app{"tapegrad: train, fine-tune, evaluate and inspect small networks"};
  app.require_subcommand(1);
  tgapp::RunConfig cfg;

  auto add_common = [&](CLI::App* c, bool finetune) {
    c->add_option("--model", cfg.model, "mlp or lenet")->check(CLI::IsMember({"mlp", "lenet"}));
    c->add_option("--data", cfg.data, "fashion-mnist or mnist-digits")->check(CLI::IsMember({"fashion-mnist", "mnist-digits"}));
    c->add_option("--data-root", cfg.data_root, "folder with the IDX files (default: the data set's standard folder)");
    c->add_option("--epochs", cfg.epochs, "passes over the training data")->check(CLI::PositiveNumber);
    c->add_option("--batch-size", cfg.batch_size, "samples per step")->check(CLI::PositiveNumber);
    c->add_option("--optimizer", cfg.optimizer, "sgd, adam or adamw")->check(CLI::IsMember({"sgd", "adam", "adamw"}));
    c->add_option("--lr", cfg.lr, "learning rate")->check(CLI::PositiveNumber);
    c->add_option("--seed", cfg.seed, "seed for initialization and shuffling");
    c->add_option("--threads", cfg.threads, "worker threads (default: all cores)")->check(CLI::NonNegativeNumber);
    c->add_option("--limit", cfg.limit, "train on the first N training examples only")->check(CLI::NonNegativeNumber);
    c->add_option("--out", cfg.out, "run folder")->required();
    c->add_flag("--resume", cfg.resume, "continue the run in --out from its last checkpoint");
    c->add_flag("--quiet", cfg.quiet, "no per-epoch lines");
    c->add_option("--stop-after-batches", cfg.stop_after_batches, "testing: stop after N batches as if killed")->group("");
    if (finetune) {
      c->add_option("--from", cfg.from, "pretrained model.safetensors (not needed with --mode scratch)");
      c->add_option("--mode", cfg.mode, "full, frozen or scratch")->check(CLI::IsMember({"full", "frozen", "scratch"}));
      c->add_option("--head-lr", cfg.head_lr, "learning rate of the new head")->check(CLI::PositiveNumber);
      c->add_option("--backbone-lr", cfg.backbone_lr, "learning rate of the pretrained layers (full mode)")
          ->check(CLI::PositiveNumber);
    }
  };
  CLI::App* train = app.add_subcommand("train", "train a model from scratch");
  add_common(train, false);
  CLI::App* finetune = app.add_subcommand("finetune", "put a fresh head on a pretrained model and train it on new data");
  add_common(finetune, true);
  std::string model_path, inspect_path;
  CLI::App* eval = app.add_subcommand("eval", "accuracy, per-class accuracy and confusion matrix");
  eval->add_option("--model", model_path, "model.safetensors")->required();
  eval->add_option("--data", cfg.data, "fashion-mnist or mnist-digits")->check(CLI::IsMember({"fashion-mnist", "mnist-digits"}));
  eval->add_option("--data-root", cfg.data_root, "folder with the IDX files");
  CLI::App* inspect = app.add_subcommand("inspect", "names, shapes, dtypes and parameter count of a safetensors file");
  inspect->add_option("file", inspect_path, "a .safetensors file")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (*train) {
      cfg.from.clear();
      cfg.mode = "full";
      tgapp::run_train(cfg);
    } else if (*finetune) {
      if (cfg.mode == "scratch") cfg.from.clear();
      tgapp::RunConfig c = cfg;
      if (c.mode != "scratch" && c.from.empty()) {
        std::fprintf(stderr, "tapegrad: error: finetune --mode %s needs --from <model.safetensors>\n", c.mode.c_str());
        return 2;
      }
      if (c.from.empty()) c.mode = "scratch";
      tgapp::run_finetune(c);
    } else if (*eval) {
      return tgapp::run_eval(model_path, cfg.data, cfg.data_root, 0);
    } else if (*inspect) {
      return tgapp::run_inspect(inspect_path);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tapegrad: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
