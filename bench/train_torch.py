#!/usr/bin/python3
"""Side-by-side training benchmark, PyTorch side (bench/train.cc is tapegrad's).

  /usr/bin/python3 bench/train_torch.py --workload mlp|lenet|infer [--threads T]
                                        [--epochs E] [--seed S] [--iters N] [--test-batch B]

The identical recipe: the gz IDX files are parsed once with gzip + numpy into
uint8 tensors in memory; each batch is gathered by a fresh random permutation
per epoch and turned into float32 pixel/255 (as tapegrad's loader does); no
DataLoader, no workers; torch.set_num_threads(T); PyTorch's default init;
Adam 1e-3, batch 64, cross-entropy from logits. An epoch's time covers batching,
forward, backward and the optimizer step; the test pass is outside it and runs
in batches of --test-batch images (default 64, as tapegrad's side).
Prints one JSON object on stdout; peak memory is VmHWM of this process.
"""
import argparse
import gzip
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    """An IDX file of unsigned bytes as a numpy array; `path` or, when missing, `path`.gz."""
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path += ".gz"
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(root, split):
    p = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(root, f"{p}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(root, f"{p}-labels-idx1-ubyte.gz"))
    return torch.from_numpy(x.copy()), torch.from_numpy(y.astype(np.int64))


def make_model(w):
    if w == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                             nn.Linear(128, 10))
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
                         nn.ReLU(), nn.Linear(84, 10))


def vm_hwm_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return -1.0


def to_float(xb):
    return (xb.to(torch.float32) / 255.0).unsqueeze(1)  # [B, 1, 28, 28]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", default="mlp", choices=["mlp", "lenet", "infer", "overhead"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=-1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--iters", type=int, default=-1)
    ap.add_argument("--data", default=ROOT)
    ap.add_argument("--test-batch", type=int, default=64)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    if a.workload == "overhead":  # W5 fallback when the LibTorch C++ side cannot be built
        n = a.iters if a.iters > 0 else 200000

        def med_us(f, iters):
            runs = []
            for _ in range(7):
                t0 = time.perf_counter()
                for _ in range(iters):
                    f()
                runs.append((time.perf_counter() - t0) / iters * 1e6)
            return statistics.median(runs)

        x, y = torch.rand(64), torch.rand(64)
        xg, yg = torch.rand(64).requires_grad_(), torch.rand(64).requires_grad_()
        r = {"impl": "pytorch-python", "workload": "overhead", "threads": torch.get_num_threads(),
             "add_us": med_us(lambda: x + y, n), "add_grad_us": med_us(lambda: xg + yg, n),
             "add_sum_backward_us": med_us(lambda: torch.sum(xg + yg).backward(), n // 4)}
        print(json.dumps(r))
        return

    if a.workload == "infer":
        model = make_model("lenet").eval()

        def time_batch(b, n):
            x = torch.rand(b, 1, 28, 28)
            with torch.no_grad():
                for _ in range(max(3, n // 20)):
                    model(x)
                runs = []
                for _ in range(5):
                    t0 = time.perf_counter()
                    for _ in range(n):
                        model(x)
                    runs.append((time.perf_counter() - t0) / n)
            return statistics.median(runs)

        n1 = a.iters if a.iters > 0 else 2000
        n256 = max(1, a.iters // 50) if a.iters > 0 else 40
        s1, s256 = time_batch(1, n1), time_batch(256, n256)
        print(json.dumps({"impl": "pytorch", "workload": "infer", "threads": torch.get_num_threads(),
                          "b1_latency_us": s1 * 1e6, "b256_latency_ms": s256 * 1e3,
                          "b256_images_per_s": 256.0 / s256, "peak_mib": vm_hwm_mib()}))
        return

    epochs = a.epochs if a.epochs > 0 else (5 if a.workload == "mlp" else 3)
    xtr, ytr = load(a.data, "train")
    xte, yte = load(a.data, "test")
    model = make_model(a.workload)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(a.seed)
    n, bs = xtr.shape[0], 64
    epoch_s, epoch_cpu_s, losses = [], [], []
    for e in range(epochs):
        model.train()
        loss_sum, steps = 0.0, 0
        t0, c0 = time.perf_counter(), time.process_time()
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            xb, yb = to_float(xtr[idx]), ytr[idx]
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item()
            steps += 1
        epoch_s.append(time.perf_counter() - t0)
        epoch_cpu_s.append(time.process_time() - c0)  # CPU seconds, all threads
        losses.append(loss_sum / steps)
        print(f"pytorch {a.workload} T={a.threads} seed={a.seed} epoch {e + 1}: loss {losses[-1]:.4f}, "
              f"{epoch_s[-1]:.3f} s", file=sys.stderr)
    peak_train = vm_hwm_mib()  # before the test pass
    model.eval()
    with torch.no_grad():
        # In batches of --test-batch (as the tapegrad side).
        tb = max(1, a.test_batch)
        correct = sum(int((model(to_float(xte[i:i + tb])).argmax(1) == yte[i:i + tb]).sum())
                      for i in range(0, xte.shape[0], tb))
        acc = correct / xte.shape[0]
    print(json.dumps({"impl": "pytorch", "workload": a.workload, "threads": torch.get_num_threads(), "seed": a.seed,
                      "epochs": epochs, "epoch_s": epoch_s, "epoch_cpu_s": epoch_cpu_s, "train_loss": losses, "test_acc": 100 * acc,
                      "peak_mib": vm_hwm_mib(), "peak_train_mib": peak_train}))


if __name__ == "__main__":
    main()
