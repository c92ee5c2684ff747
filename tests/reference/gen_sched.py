#!/usr/bin/env python3
"""Reference learning-rate schedules.

Run: /usr/bin/python3 tests/reference/gen_sched.py  -> lr_schedules.json

Protocol for every schedule: a dummy float64 parameter, SGD(lr=0.1) (momentum 0.9 for
OneCycleLR, Adam(lr=0.1) for the OneCycleLR/Adam variant).
  lrs[0]   = lr right after constructing the scheduler (before any step)
  lrs[i]   = lr after the i-th iteration of `opt.step(); sched.step()` (i = 1..100)
ReduceLROnPlateau is stepped as `sched.step(metrics[i-1])`.
"""
import json
import math
import os

import torch
from torch.optim import lr_scheduler as S

torch.manual_seed(0)
HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = 100
BASE_LR = 0.1


def plateau_metrics():
    m = []
    # 0..19: steady decrease by 10 % per step
    for i in range(20):
        m.append(round(1.0 * 0.9 ** i, 12))
    last = m[-1]
    # 20..44: plateau; tiny relative improvements (1.5e-5 per step < threshold 1e-4) only
    # count once they accumulate past the threshold w.r.t. the stored best (every 7th step)
    for i in range(25):
        last = round(last * (1 - 1.5e-5), 12)
        m.append(last)
    # 45: one real improvement, resets the bad-epoch counter
    m.append(round(last * 0.8, 12))
    # 46..99: deterministic "noise" around a level above the best
    for i in range(46, STEPS):
        m.append(round(0.11 + 0.01 * math.sin(1.7 * i), 12))
    assert len(m) == STEPS
    return m


def param():
    return [torch.zeros(2, dtype=torch.float64, requires_grad=True)]


def record(opt, sched, extra=None, metrics=None):
    """extra: callable(group) -> value recorded alongside lr (e.g. momentum)."""
    lrs = [opt.param_groups[0]["lr"]]
    ex = [extra(opt.param_groups[0])] if extra else None
    for i in range(STEPS):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[i])
        lrs.append(opt.param_groups[0]["lr"])
        if extra:
            ex.append(extra(opt.param_groups[0]))
        if metrics is None:
            assert sched.get_last_lr()[0] == lrs[-1]
    return lrs, ex


def main():
    out = {
        "torch_version": torch.__version__,
        "base_lr": BASE_LR,
        "steps": STEPS,
        "protocol": "lrs[0]: before any step; lrs[i]: after i iterations of opt.step(); sched.step() "
                    "(ReduceLROnPlateau: sched.step(metrics[i-1])). len(lrs) = steps+1.",
        "schedules": [],
    }
    sch = out["schedules"]

    def add(name, scheduler, options, lrs, **kw):
        e = {"name": name, "scheduler": scheduler, "optimizer": kw.pop("optimizer", "SGD"),
             "optimizer_options": kw.pop("optimizer_options", {"lr": BASE_LR}),
             "options": options, "lrs": lrs}
        e.update(kw)
        sch.append(e)

    simple = [
        ("step_lr", "StepLR", {"step_size": 10, "gamma": 0.5}),
        ("multistep_lr", "MultiStepLR", {"milestones": [20, 50, 80], "gamma": 0.3}),
        ("exponential_lr", "ExponentialLR", {"gamma": 0.97}),
        ("cosine_annealing_lr", "CosineAnnealingLR", {"T_max": 30, "eta_min": 0.001}),
        ("linear_lr_warmup", "LinearLR", {"start_factor": 0.1, "end_factor": 1.0, "total_iters": 10}),
    ]
    for name, cls, opts in simple:
        opt = torch.optim.SGD(param(), lr=BASE_LR)
        sched = getattr(S, cls)(opt, **opts)
        lrs, _ = record(opt, sched)
        kw = {}
        if cls == "CosineAnnealingLR":
            # PyTorch's step() uses a recursive (chainable) update; the closed form is
            # eta_min + (base-eta_min)*(1+cos(pi*t/T_max))/2, which it matches up to rounding,
            # including past T_max (the cosine just keeps going: lr rises back after t=T_max).
            kw["closed_form"] = [opts["eta_min"] + (BASE_LR - opts["eta_min"]) *
                                 (1 + math.cos(math.pi * t / opts["T_max"])) / 2
                                 for t in range(STEPS + 1)]
        add(name, cls, opts, lrs, **kw)

    # OneCycleLR with SGD momentum=0.9: momentum is cycled too (between 0.85 and 0.95).
    oc = {"max_lr": 0.5, "total_steps": 101, "pct_start": 0.3, "anneal_strategy": "cos",
          "cycle_momentum": True, "base_momentum": 0.85, "max_momentum": 0.95,
          "div_factor": 25.0, "final_div_factor": 1e4, "three_phase": False}
    opt = torch.optim.SGD(param(), lr=BASE_LR, momentum=0.9)
    sched = S.OneCycleLR(opt, max_lr=0.5, total_steps=101)
    lrs, moms = record(opt, sched, extra=lambda g: g["momentum"])
    add("one_cycle_lr", "OneCycleLR", oc, lrs, momentum=moms,
        optimizer_options={"lr": BASE_LR, "momentum": 0.9},
        note="initial_lr = max_lr/div_factor, min_lr = initial_lr/final_div_factor; "
             "the optimizer's own lr (0.1) is overwritten; momentum list is group['momentum']")

    # Same schedule on Adam: beta1 is cycled instead of momentum.
    opt = torch.optim.Adam(param(), lr=BASE_LR)
    sched = S.OneCycleLR(opt, max_lr=0.5, total_steps=101)
    lrs, b1 = record(opt, sched, extra=lambda g: g["betas"][0])
    add("one_cycle_lr_adam", "OneCycleLR", oc, lrs, beta1=b1, optimizer="Adam",
        optimizer_options={"lr": BASE_LR},
        note="with Adam, betas[0] is cycled (beta1 list); betas[1] stays 0.999")

    metrics = plateau_metrics()
    po = {"mode": "min", "factor": 0.5, "patience": 3, "threshold": 1e-4,
          "threshold_mode": "rel", "cooldown": 0, "min_lr": 0.0, "eps": 1e-8}
    opt = torch.optim.SGD(param(), lr=BASE_LR)
    sched = S.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=3, threshold=1e-4)
    lrs, _ = record(opt, sched, metrics=metrics)
    add("reduce_lr_on_plateau", "ReduceLROnPlateau", po, lrs, metrics=metrics)

    po2 = {"mode": "max", "factor": 0.5, "patience": 2, "threshold": 0.01,
           "threshold_mode": "abs", "cooldown": 2, "min_lr": 0.01, "eps": 1e-8}
    neg = [-v for v in metrics]
    opt = torch.optim.SGD(param(), lr=BASE_LR)
    sched = S.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=2, threshold=0.01,
                                threshold_mode="abs", cooldown=2, min_lr=0.01)
    lrs, _ = record(opt, sched, metrics=neg)
    add("reduce_lr_on_plateau_max_abs_cooldown", "ReduceLROnPlateau", po2, lrs, metrics=neg)

    path = os.path.join(HERE, "lr_schedules.json")
    with open(path, "w") as fh:
        json.dump(out, fh, indent=1, allow_nan=False)
        fh.write("\n")
    print(f"wrote {path}: {len(sch)} schedules")


if __name__ == "__main__":
    main()
