#!/usr/bin/python3
"""The fine-tuning demo (scripts/demo) redone in PyTorch, on our exact files.

  /usr/bin/python3 bench/finetune_torch.py [--seeds K] [--pretrain-seeds P] [--sample random|first|balanced] [--out FILE.json]
        [--lr 1e-3] [--head-lr 1e-3] [--backbone-lr 1e-3] [--threads 1]
        [--pretrained model.safetensors]

What scripts/demo does with build/examples/tapegrad/tapegrad, step by step:
  1. pretrain LeNet-5 on Fashion-MNIST (/usr/share/datasets/fashion-mnist):
     3 epochs, Adam 1e-3, batch 64, torch.manual_seed(pretrain seed);
  2. fine-tune on 100 and on 1,000 images of our digits training split
     (data/mnist-digits, made by scripts/get-data): with --sample random (the
     default, as scripts/demo) a random n per fine-tuning seed (torch.randperm;
     other digits than tapegrad's draw, the same distribution), with --sample
     balanced a random n with n/10 of each class, with --sample first the
     first n; 20 epochs,
     batch 64, Adam, in three modes:
       full    load the pretrained weights, then a fresh head (a new
               nn.Linear(84, 10) drawn right after the model, with the
               fine-tuning seed), every layer trained; two param groups:
               backbone at --backbone-lr, head at --head-lr;
       frozen  the same model; backbone requires_grad=False, Adam on the head
               only at --head-lr;
       scratch a new model from torch.manual_seed(seed), Adam at --lr;
  3. test accuracy on the 2,000 test digits after the 20th epoch.
Same as tapegrad's app: the IDX files are read with numpy, input = pixel/255
(no normalization, no augmentation), PyTorch default init (which tapegrad
copies: kaiming_uniform(a=sqrt(5)) weights, U(+-1/sqrt(fan_in)) biases), a fresh
random order every epoch, last partial batch kept, cross-entropy from logits.
The random streams differ from tapegrad's, so single runs do not match bit for
bit; compare means over seeds.

Every cell is K runs with fine-tuning seeds 0..K-1; with P pretraining seeds
(models pretrained with seeds 0..P-1), run s fine-tunes the model of seed
s mod P (scripts/demo's --seeds and --pretrain-seeds mean the same; the demo's
default table is --seeds 15 --pretrain-seeds 5, about 5 minutes on one thread).
--pretrained loads a tapegrad model.safetensors instead of pretraining (to
tell pretraining differences from fine-tuning differences).
Prints the demo's table (mean [min-max] over runs) and writes all the
accuracies to --out (JSON). One thread by default (torch.set_num_threads).
"""
import argparse
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FASHION = "/usr/share/datasets/fashion-mnist"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_torch import read_idx  # noqa: E402  (bench/train_torch.py, the same IDX reader)

DIGITS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "mnist-digits")


def load(root, split):
    p = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(root, f"{p}-images-idx3-ubyte"))
    y = read_idx(os.path.join(root, f"{p}-labels-idx1-ubyte"))
    x = torch.from_numpy(x.astype(np.float32) / np.float32(255.0)).unsqueeze(1)  # [N, 1, 28, 28]
    return x, torch.from_numpy(y.astype(np.int64))


def lenet():
    # the same layer indices as tapegrad's Sequential: 0, 3, 7, 9, 11 hold weights
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
                         nn.ReLU(), nn.Linear(84, 10))


HEAD = 11


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32", (k, v["dtype"])
        a, b = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(data[a:b], dtype="<f4").copy()).reshape(v["shape"])
    return out


@torch.no_grad()
def accuracy(model, x, y):
    model.eval()
    correct = 0
    for s in range(0, len(x), 1000):
        correct += (model(x[s:s + 1000]).argmax(1) == y[s:s + 1000]).sum().item()
    model.train()
    return correct / len(x)


def train(model, opt, x, y, epochs, batch, seed):
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for s in range(0, len(x), batch):
            idx = perm[s:s + batch]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


def finetune(pre, mode, n, seed, a, dig):
    x, y, xt, yt = dig
    torch.manual_seed(seed)
    model = lenet()
    if mode == "scratch":
        opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    else:
        model.load_state_dict(pre)
        model[HEAD] = nn.Linear(84, 10)  # the fresh head, drawn after the model like tapegrad's
        backbone = [p for i in range(HEAD) for p in model[i].parameters()]
        head = list(model[HEAD].parameters())
        if mode == "frozen":
            for p in backbone:
                p.requires_grad_(False)
            opt = torch.optim.Adam(head, lr=a.head_lr)
        else:
            opt = torch.optim.Adam([{"params": backbone, "lr": a.backbone_lr}, {"params": head, "lr": a.head_lr}])
    # random / balanced: drawn with the seed (not tapegrad's draw: the same distribution, other digits)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(1_000_003 + seed))
    if a.sample == "first":
        pick = torch.arange(n)
    elif a.sample == "random":
        pick = perm[:n]
    else:  # balanced: n // 10 of each class (the first n % 10 classes one more), first met along perm
        quota = [n // 10 + (1 if c < n % 10 else 0) for c in range(10)]
        chosen = []
        for i in perm.tolist():
            c = int(y[i])
            if quota[c] > 0:
                quota[c] -= 1
                chosen.append(i)
        pick = torch.tensor(chosen)
    train(model, opt, x[pick], y[pick], 20, 64, seed)
    return accuracy(model, xt, yt)


def summary(v):
    return f"{100 * sum(v) / len(v):.1f}% [{100 * min(v):.1f}-{100 * max(v):.1f}]"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3, help="fine-tuning seeds 0..K-1")
    ap.add_argument("--sample", default="random", choices=["first", "random", "balanced"],
                    help="which n training digits: the first, a random n per seed, or a random n with n/10 per class")
    ap.add_argument("--pretrain-seeds", type=int, default=1, help="pretraining seeds 0..P-1")
    ap.add_argument("--pretrained", default="", help="a tapegrad model.safetensors to fine-tune instead")
    ap.add_argument("--lr", type=float, default=1e-3, help="pretraining and scratch lr")
    ap.add_argument("--head-lr", type=float, default=1e-3)
    ap.add_argument("--backbone-lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--digits", default=DIGITS)
    ap.add_argument("--out", default="runs/finetune_torch.json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.time()

    pretrained, pre_acc = [], []
    if a.pretrained:
        pretrained.append(read_safetensors(a.pretrained))
    else:
        fx, fy = load(FASHION, "train")
        fxt, fyt = load(FASHION, "test")
        for ps in range(a.pretrain_seeds):
            torch.manual_seed(ps)
            m = lenet()
            train(m, torch.optim.Adam(m.parameters(), lr=a.lr), fx, fy, 3, 64, ps)
            pre_acc.append(accuracy(m, fxt, fyt))
            print(f"pretrain seed {ps}: Fashion-MNIST test accuracy {100 * pre_acc[-1]:.2f}%", flush=True)
            pretrained.append({k: v.detach().clone() for k, v in m.state_dict().items()})

    dig = (*load(a.digits, "train"), *load(a.digits, "test"))
    acc = {}
    for n in (100, 1000):
        for mode in ("full", "frozen", "scratch"):
            runs = [finetune(pretrained[seed % len(pretrained)], mode, n, seed, a, dig) for seed in range(a.seeds)]
            acc[f"{n}-{mode}"] = runs
            print(f"{n} {mode}: " + " ".join(f"{100 * r:.1f}" for r in runs), flush=True)
    secs = time.time() - t0

    print()
    if pre_acc:
        print(f"Fashion-MNIST test accuracy after pretraining: {summary(pre_acc)}")
    else:
        print(f"pretrained weights: {a.pretrained}")
    print()
    print("| digits | full | frozen | scratch |")
    print("|---|---|---|---|")
    for n in (100, 1000):
        print(f"| {n} | {summary(acc[f'{n}-full'])} | {summary(acc[f'{n}-frozen'])} | {summary(acc[f'{n}-scratch'])} |")
    print()
    print(f"(PyTorch {torch.__version__}; test accuracy on the 2,000 test digits after 20 epochs, mean [min-max] over "
          f"{a.seeds} seeds, {len(pretrained)} pretrained model(s); {secs:.0f} s, "
          f"{a.threads} thread(s); lr {a.lr}, head lr {a.head_lr}, backbone lr {a.backbone_lr})")
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump({"torch": torch.__version__, "seeds": a.seeds, "pretrain_seeds": a.pretrain_seeds, "sample": a.sample,
                   "pretrained": a.pretrained, "lr": a.lr, "head_lr": a.head_lr, "backbone_lr": a.backbone_lr,
                   "threads": a.threads, "seconds": secs, "pretrain_acc": pre_acc, "acc": acc}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
