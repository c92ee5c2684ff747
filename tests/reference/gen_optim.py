#!/usr/bin/env python3
"""Reference optimizer trajectories and gradient-clipping values (float64).

Run: /usr/bin/python3 tests/reference/gen_optim.py  -> optim_trajectories.json
"""
import json
import math
import os

import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = 20

# ---------------------------------------------------------------- problems
Q = {
    "x_init": [1.5, -0.5, 2.0],
    "y_init": [[0.3, -1.2], [0.8, 0.1]],
    "c1": [1.0, 3.0, 0.5],
    "t1": [2.0, -1.0, 0.25],
    "c2": [[2.0, 0.5], [1.0, 4.0]],
    "t2": [[1.0, 0.0], [-1.0, 2.0]],
}
R = {"p_init": [-1.5, 2.0]}

PROBLEMS = {
    "quadratic": {
        "params": ["x", "y"],
        "shapes": {"x": [3], "y": [2, 2]},
        "init": {"x": Q["x_init"], "y": Q["y_init"]},
        "constants": {k: Q[k] for k in ("c1", "t1", "c2", "t2")},
        "loss": "sum(c1*(x-t1)^2) + sum(c2*(y-t2)^2)",
    },
    "rosenbrock": {
        "params": ["p"],
        "shapes": {"p": [2]},
        "init": {"p": R["p_init"]},
        "constants": {},
        "loss": "(1-p[0])^2 + 100*(p[1]-p[0]^2)^2",
    },
}


def make_problem(name):
    """Returns (ordered dict of leaf params, closure computing the loss)."""
    if name == "quadratic":
        x = torch.tensor(Q["x_init"], requires_grad=True)
        y = torch.tensor(Q["y_init"], requires_grad=True)
        c1, t1 = torch.tensor(Q["c1"]), torch.tensor(Q["t1"])
        c2, t2 = torch.tensor(Q["c2"]), torch.tensor(Q["t2"])

        def f():
            return (c1 * (x - t1) ** 2).sum() + (c2 * (y - t2) ** 2).sum()

        return {"x": x, "y": y}, f
    if name == "rosenbrock":
        p = torch.tensor(R["p_init"], requires_grad=True)

        def f():
            return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2

        return {"p": p}, f
    raise KeyError(name)


# ---------------------------------------------------------------- configs
# (name, optimizer class name, options for quadratic, options for rosenbrock or None)
CONFIGS = [
    ("sgd", "SGD", {"lr": 0.05}, {"lr": 5e-4}),
    ("sgd_momentum", "SGD", {"lr": 0.02, "momentum": 0.9}, {"lr": 1e-4, "momentum": 0.9}),
    ("sgd_momentum_dampening", "SGD", {"lr": 0.02, "momentum": 0.9, "dampening": 0.1},
     {"lr": 1e-4, "momentum": 0.9, "dampening": 0.1}),
    ("sgd_nesterov", "SGD", {"lr": 0.02, "momentum": 0.9, "nesterov": True},
     {"lr": 1e-4, "momentum": 0.9, "nesterov": True}),
    ("sgd_weight_decay_momentum", "SGD", {"lr": 0.02, "momentum": 0.9, "weight_decay": 0.01},
     {"lr": 1e-4, "momentum": 0.9, "weight_decay": 0.01}),
    ("sgd_maximize", "SGD", {"lr": 0.005, "momentum": 0.5, "maximize": True}, None),
    ("adam", "Adam", {"lr": 0.05}, {"lr": 0.01}),
    ("adam_weight_decay", "Adam", {"lr": 0.05, "weight_decay": 0.01}, {"lr": 0.01, "weight_decay": 0.01}),
    ("adam_amsgrad", "Adam", {"lr": 0.05, "amsgrad": True}, {"lr": 0.01, "amsgrad": True}),
    ("adam_betas_eps", "Adam", {"lr": 0.05, "betas": [0.8, 0.95], "eps": 1e-6},
     {"lr": 0.01, "betas": [0.8, 0.95], "eps": 1e-6}),
    ("adam_maximize", "Adam", {"lr": 0.05, "maximize": True}, None),
    ("adamw", "AdamW", {"lr": 0.05}, {"lr": 0.01}),
    ("adamw_amsgrad", "AdamW", {"lr": 0.05, "amsgrad": True}, {"lr": 0.01, "amsgrad": True}),
    ("rmsprop", "RMSprop", {"lr": 0.01}, {"lr": 1e-3}),
    ("rmsprop_momentum_centered", "RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True},
     {"lr": 1e-3, "momentum": 0.9, "centered": True}),
    ("rmsprop_weight_decay_alpha", "RMSprop", {"lr": 0.01, "weight_decay": 0.01, "alpha": 0.9},
     {"lr": 1e-3, "weight_decay": 0.01, "alpha": 0.9}),
    ("adagrad", "Adagrad", {"lr": 0.1}, {"lr": 0.01}),
    ("adagrad_all_options", "Adagrad",
     {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.01, "initial_accumulator_value": 0.1},
     {"lr": 0.01, "lr_decay": 0.01, "weight_decay": 0.01, "initial_accumulator_value": 0.1}),
]

# Keys of param_groups that describe the math (others like foreach are impl details).
MATH_KEYS = {
    "SGD": ["lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize"],
    "Adam": ["lr", "betas", "eps", "weight_decay", "amsgrad", "maximize"],
    "AdamW": ["lr", "betas", "eps", "weight_decay", "amsgrad", "maximize"],
    "RMSprop": ["lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize"],
    "Adagrad": ["lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps", "maximize"],
}


def resolved(opt_name, group):
    out = {}
    for k in MATH_KEYS[opt_name]:
        v = group[k]
        out[k] = list(v) if isinstance(v, tuple) else v
    return out


def to_ctor(options):
    o = dict(options)
    if "betas" in o:
        o["betas"] = tuple(o["betas"])
    return o


def run(params, f, opt):
    losses, traj = [], []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = f()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        traj.append({k: v.detach().tolist() for k, v in params.items()})
    for l in losses:
        assert math.isfinite(l), "diverged"
    return losses, traj


def main():
    cases = []
    for name, opt_name, q_opts, r_opts in CONFIGS:
        for prob, opts in (("quadratic", q_opts), ("rosenbrock", r_opts)):
            if opts is None:  # maximize configs only run on the quadratic
                continue
            params, f = make_problem(prob)
            cls = getattr(torch.optim, opt_name)
            opt = cls(list(params.values()), **to_ctor(opts))
            init = {k: v.detach().tolist() for k, v in params.items()}
            losses, traj = run(params, f, opt)
            cases.append({
                "name": f"{name}/{prob}",
                "optimizer": opt_name,
                "options": opts,
                "resolved_options": resolved(opt_name, opt.param_groups[0]),
                "param_groups": None,
                "problem": prob,
                "params_init": init,
                "losses": losses,
                "params": traj,
            })

    # Param groups: Adam, x at lr 1e-2, y at lr 1e-3 (quadratic problem).
    params, f = make_problem("quadratic")
    groups = [{"params": ["x"], "lr": 1e-2}, {"params": ["y"], "lr": 1e-3}]
    opt = torch.optim.Adam([{"params": [params["x"]], "lr": 1e-2},
                            {"params": [params["y"]], "lr": 1e-3}])
    init = {k: v.detach().tolist() for k, v in params.items()}
    losses, traj = run(params, f, opt)
    cases.append({
        "name": "adam_param_groups/quadratic",
        "optimizer": "Adam",
        "options": {},
        "resolved_options": None,
        "param_groups": [dict(g, resolved_options=resolved("Adam", pg))
                         for g, pg in zip(groups, opt.param_groups)],
        "problem": "quadratic",
        "params_init": init,
        "losses": losses,
        "params": traj,
    })

    # ------------------------------------------------------------ clipping
    g1 = [0.3, -1.2, 0.5]
    g2 = [[0.8, -0.1], [0.05, 2.0]]
    small1 = [0.1, -0.2, 0.05]
    small2 = [[0.01, 0.3], [-0.1, 0.2]]
    clip = []

    def mk(vals):
        ps = []
        for v in vals:
            p = torch.zeros(torch.tensor(v).shape, requires_grad=True)
            p.grad = torch.tensor(v)
            ps.append(p)
        return ps

    for label, vals in (("large", [g1, g2]), ("small", [small1, small2])):
        for nt in (2.0, "inf"):
            ps = mk(vals)
            total = torch.nn.utils.clip_grad_norm_(ps, max_norm=1.0,
                                                   norm_type=float(nt) if nt != "inf" else math.inf)
            clip.append({
                "name": f"clip_grad_norm/{label}/{nt}",
                "fn": "clip_grad_norm_",
                "max_norm": 1.0,
                "norm_type": nt,
                "grads_in": vals,
                "total_norm": total.item(),
                "grads_out": [p.grad.tolist() for p in ps],
            })
        ps = mk(vals)
        torch.nn.utils.clip_grad_value_(ps, clip_value=0.5)
        clip.append({
            "name": f"clip_grad_value/{label}",
            "fn": "clip_grad_value_",
            "clip_value": 0.5,
            "grads_in": vals,
            "grads_out": [p.grad.tolist() for p in ps],
        })

    out = {
        "torch_version": torch.__version__,
        "dtype": "float64",
        "steps": STEPS,
        "loop": "for each step: zero_grad(); loss=f(); loss.backward(); step(); "
                "losses[i] = loss before step i, params[i] = params after step i",
        "clip_grad_norm_formula": "total=norm of the vector of per-tensor norms; coef=max_norm/(total+1e-6); "
                                  "if coef<1: g*=coef",
        "problems": PROBLEMS,
        "cases": cases,
        "clip": clip,
    }
    path = os.path.join(HERE, "optim_trajectories.json")
    with open(path, "w") as fh:
        json.dump(out, fh, indent=1, allow_nan=False)
        fh.write("\n")
    print(f"wrote {path}: {len(cases)} cases, {len(clip)} clip entries")


if __name__ == "__main__":
    main()
