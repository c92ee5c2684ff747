#!/usr/bin/python3
# Folds `perf script` output (perf record --call-graph dwarf) into training phases
# (conv forward / backward dx / backward dw, maxpool, linear, relu, adam, ...) and
# the leaf function inside each, as used for the profile in docs/bench.md:
#   perf record -F 300 --call-graph dwarf,16384 -o lenet.data build-bench/bench/bench_train --workload lenet --epochs 1
#   perf script -i lenet.data | bench/perf_phases.py
import sys, re, collections
# perf script output -> (leaf, phase) counts
phases = [("conv_dw","conv backward dw"),("conv_dx","conv backward dx"),("conv2d_forward","conv forward"),
          ("max_pool2d_backward","maxpool backward"),("max_pool2d_forward","maxpool forward"),
          ("linear(","linear backward"),("raw::linear","linear forward"),("matmul","linear backward"),("cross_entropy","cross_entropy"),
          ("relu","relu fwd/bwd"),("ReLU::forward","relu fwd/bwd"),("Adam","adam step"),("adam","adam step"),("zero_grad","zero_grad"),
          ("DataLoader","data loader"),("read_idx","load IDX (startup)"),("run_backward","autograd engine other"),("Sequential::forward","forward other")]
cnt = collections.Counter(); leafcnt = collections.Counter(); pl = collections.Counter(); total = 0
stack = []
def flush():
    global total
    if not stack: return
    total += 1
    leaf = stack[0]
    ph = "other"
    for fr in stack:
        hit = None
        for k, name in phases:
            if k in fr: hit = name; break
        if hit: ph = hit; break
    cnt[ph] += 1
    pl[(ph, re.sub(r"\((?!anonymous).*", "", leaf)[:60])] += 1
for line in sys.stdin:
    line = line.rstrip()
    if not line:
        flush(); stack = []; continue
    if line.startswith((" ", "\t")):
        parts = line.strip().split(" ", 1)
        if len(parts) == 2:
            stack.append(re.sub(r"\+0x[0-9a-f]+ .*$", "", parts[1]))
flush()
print(f"total samples {total}")
for ph, c in cnt.most_common(): print(f"{100*c/total:6.1f}%  {ph}")
print("--- phase / leaf function")
for (ph, leaf), c in pl.most_common(25): print(f"{100*c/total:6.1f}%  {ph:24s} {leaf}")
