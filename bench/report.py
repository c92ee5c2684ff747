#!/usr/bin/python3
"""Turns the JSON lines written by bench/run into a Markdown table and a JSON file.

  bench/report.py RAW.jsonl OUT.json [--command "..."]
  bench/report.py bench/results.json OUT.json      (re-renders an earlier run)

Each input line is one process's result ({"impl", "workload", "threads", "config",
...}) or a load-average note ({"loadavg": ..., "workload": ...}). Times are
medians over every timed epoch (or run) of a configuration; accuracy is the mean
over seeds; peak memory is the median VmHWM of the processes.
Ratios are PyTorch-best / tapegrad-best for times (> 1: we are faster), and
PyTorch-best / tapegrad-best for memory (> 1: we use less).
"""
import json
import statistics
import sys

CONFIGS = [("tg1", "tapegrad T=1"), ("tg2", "tapegrad T=2"), ("pt_best", "PyTorch best (T=1)"),
           ("pt_default", "PyTorch default (T=2)")]


def main():
    raw, out = sys.argv[1], sys.argv[2]
    command = sys.argv[sys.argv.index("--command") + 1] if "--command" in sys.argv else ""
    if raw.endswith(".json"):  # re-render an earlier results.json
        old = json.load(open(raw))
        rows = old["loadavg"] + old["runs"]
        command = command or old.get("command", "")
    else:
        rows = [json.loads(l) for l in open(raw) if l.strip().startswith("{")]
    loads = [r for r in rows if "loadavg" in r]
    res = [r for r in rows if "impl" in r]

    def pick(workload, config):
        return [r for r in res if r["workload"] == workload and r.get("config") == config]

    def med(vals):
        return statistics.median(vals) if vals else None

    # metric name, workload, extractor over a list of results, unit, lower-is-better, target
    def epochs(rs):
        return med([t for r in rs for t in r["epoch_s"]])

    def cpu(rs):
        v = [t for r in rs for t in r.get("epoch_cpu_s", [])]
        return med(v) if v else None

    def acc(rs):  # only runs trained for the full number of epochs of that workload
        full = max((r["epochs"] for r in res if r["workload"] == rs[0]["workload"]), default=0) if rs else 0
        rs = [r for r in rs if r["epochs"] == full]
        return statistics.mean(r["test_acc"] for r in rs) if rs else None

    def peak(rs):
        return med([r["peak_mib"] for r in rs])

    def field(name):
        return lambda rs: med([r[name] for r in rs if name in r])

    metrics = [
        ("W2 MLP s/epoch", "mlp", epochs, True, "<= 0.32 s"),
        ("W2 MLP CPU s/epoch (all threads)", "mlp", cpu, True, ""),
        ("W2 MLP test acc % (mean over seeds)", "mlp", acc, None, "PyTorch +- 0.5"),
        ("W2 MLP peak RSS MiB", "mlp", peak, True, "<= 1/4 PyTorch"),
        ("W2 MLP peak RSS MiB before the test pass", "mlp", field("peak_train_mib"), True, ""),
        ("W3 LeNet s/epoch", "lenet", epochs, True, "<= 1.2 s"),
        ("W3 LeNet CPU s/epoch (all threads)", "lenet", cpu, True, ""),
        ("W3 LeNet test acc % (mean over seeds)", "lenet", acc, None, "PyTorch +- 0.5"),
        ("W3 LeNet peak RSS MiB", "lenet", peak, True, "<= 1/4 PyTorch"),
        ("W3 LeNet peak RSS MiB before the test pass", "lenet", field("peak_train_mib"), True, ""),
        ("W5 add 64 no grad, us", "overhead", field("add_us"), True, ">= 5x below LibTorch"),
        ("W5 add 64 recording, us", "overhead", field("add_grad_us"), True, ">= 5x below LibTorch"),
        ("W5 add+sum+backward, us", "overhead", field("add_sum_backward_us"), True, ">= 5x below LibTorch"),
        ("Infer LeNet batch 1, us", "infer", field("b1_latency_us"), True, ""),
        ("Infer LeNet batch 256, images/s", "infer", field("b256_images_per_s"), False, ""),
    ]
    table, summary = [], []
    for name, wl, fn, lower, target in metrics:
        vals = {c: fn(pick(wl, c)) for c, _ in CONFIGS}
        if all(v is None for v in vals.values()):
            continue
        ours = [(vals[c], c) for c in ("tg1", "tg2") if vals[c] is not None]
        best_ours = None
        if ours and lower is not None:
            best_ours = (min if lower else max)(ours)
        theirs = vals["pt_best"]
        ratio = ""
        if best_ours and theirs:
            r = theirs / best_ours[0] if lower else best_ours[0] / theirs
            ratio = f"{r:.2f}x (ours T={best_ours[1][-1]})"
        elif lower is None and ours and theirs is not None:
            ratio = f"{vals['tg1'] - theirs:+.2f} pts (T=1)" if vals["tg1"] is not None else ""
        def fmt(v):
            if v is None:
                return "-"
            if "MiB" in name or v >= 1000:
                return f"{v:.0f}"
            return f"{v:.2f}" if "acc" in name else f"{v:.3g}"
        cells = [fmt(vals[c]) for c, _ in CONFIGS]
        table.append(f"| {name} | " + " | ".join(cells) + f" | {ratio} | {target} |")
        summary.append({"metric": name, "workload": wl, **{c: vals[c] for c, _ in CONFIGS},
                        "ratio_pytorch_best_over_ours_best": (theirs / best_ours[0] if lower else
                                                              best_ours[0] / theirs) if best_ours and theirs else None,
                        "ours_best_threads": int(best_ours[1][-1]) if best_ours else None, "target": target})
    head = ("| metric | " + " | ".join(n for _, n in CONFIGS) + " | ratio PyTorch best / ours best | target |\n"
            "|---|" + "---|" * (len(CONFIGS) + 2))
    md = head + "\n" + "\n".join(table)
    load_lines = "\n".join(f"- load average (1/5/15 min) before {l['workload']}: {l['loadavg']}" for l in loads)
    print(md)
    print()
    print(load_lines)
    json.dump({"command": command, "table_markdown": md, "loadavg": loads, "summary": summary, "runs": res},
              open(out, "w"), indent=1)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
