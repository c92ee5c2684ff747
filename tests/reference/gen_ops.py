#!/usr/bin/env python3
"""Reference forward values and gradients of tensor ops (float64).

Run: /usr/bin/python3 tests/reference/gen_ops.py  -> ops.json

Each entry of "entries":
  name          unique id, e.g. "add/[2,3]&[3]"
  op            torch function name (add, sub, ..., one_hot)
  args          non-differentiable arguments: scalars, dims, integer/bool tensors as nested lists
  inputs        differentiable float64 inputs {name: nested list}; "input_shapes" gives their shapes
  output        nested list (float, or int for one_hot); "output_shape" gives its shape
  extra_outputs e.g. {"indices": ...} for max/min with dim
  dy            upstream gradient, same shape as output (null when the op has no gradient)
  grads         {name: d(sum(output*dy))/d(input)} for every key of inputs
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))
G = torch.Generator().manual_seed(1234)


def rnd(*shape, lo=None, hi=None):
    """Seeded values rounded to 4 decimals (exactly what is stored in the JSON is used)."""
    if lo is None:
        x = torch.randn(tuple(shape), generator=G)
    else:
        x = lo + (hi - lo) * torch.rand(tuple(shape), generator=G)
    return torch.round(x * 1e4) / 1e4


def away_from(x, points, margin=0.1):
    """Shift values that are within margin of any point by 2*margin (away from the point)."""
    x = x.clone()
    for p in points:
        d = x - p
        close = d.abs() < margin
        x = torch.where(close, x + torch.where(d >= 0, 2 * margin, -2 * margin), x)
    return torch.round(x * 1e4) / 1e4


def signed_away_from_zero(*shape, lo=0.2, hi=2.0):
    mag = rnd(*shape, lo=lo, hi=hi)
    sign = torch.where(torch.rand(*shape, generator=G) < 0.5, -1.0, 1.0)
    return mag * sign


def shp(s):
    return "[" + ",".join(str(d) for d in s) + "]"


ENTRIES = []
NAMES = set()


def entry(name, op, fn, inputs, args=None, multi=None):
    """fn(**leaf_inputs) -> output tensor (or tuple if multi: (primary, {extra_name: tensor}))."""
    assert name not in NAMES, name
    NAMES.add(name)
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in inputs.items()}
    res = fn(**leaves)
    extra = {}
    if multi:
        res, extra = res
    e = {
        "name": name,
        "op": op,
        "args": args or {},
        "inputs": {k: v.tolist() for k, v in inputs.items()},
        "input_shapes": {k: list(v.shape) for k, v in inputs.items()},
        "output": res.detach().tolist(),
        "output_shape": list(res.shape),
    }
    if extra:
        e["extra_outputs"] = {k: v.tolist() for k, v in extra.items()}
    if res.is_floating_point() and leaves:
        dy = rnd(*res.shape)
        res.backward(dy)
        e["dy"] = dy.tolist()
        e["grads"] = {k: (v.grad if v.grad is not None else torch.zeros_like(v)).tolist()
                      for k, v in leaves.items()}
    else:
        e["dy"] = None
        e["grads"] = {}
    ENTRIES.append(e)


def main():
    # ------------------------------------------------ binary elementwise + broadcasting
    bshapes = [([2, 3], [3]), ([2, 1, 3], [4, 1]), ([3], [2, 3]), ([2, 3], [2, 3])]
    binops = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}
    for sa, sb in bshapes:
        for op, f in binops.items():
            a = rnd(*sa)
            b = signed_away_from_zero(*sb, lo=0.5, hi=2.0) if op == "div" else rnd(*sb)
            entry(f"{op}/{shp(sa)}&{shp(sb)}", op, lambda a, b, f=f: f(a, b), {"a": a, "b": b})
    # scalar operands
    a = rnd(2, 3)
    entry("add_scalar/[2,3]", "add", lambda a: a + 2.5, {"a": a}, {"other": 2.5})
    entry("mul_scalar/[2,3]", "mul", lambda a: a * -1.5, {"a": a}, {"other": -1.5})
    entry("div_scalar/[2,3]", "div", lambda a: a / 4.0, {"a": a}, {"other": 4.0})
    entry("rsub_scalar/[2,3]", "rsub", lambda a: 1.0 - a, {"a": a},
          {"other": 1.0, "note": "other - a"})
    # pow: tensor exponent on positive base (with broadcasting), and scalar exponents
    base = rnd(2, 3, lo=0.5, hi=2.0)
    ex = rnd(2, 3, lo=-1.5, hi=2.5)
    entry("pow/[2,3]&[2,3]", "pow", lambda a, b: torch.pow(a, b), {"a": base, "b": ex})
    base = rnd(2, 3, lo=0.5, hi=2.0)
    ex = rnd(3, lo=-1.5, hi=2.5)
    entry("pow/[2,3]&[3]", "pow", lambda a, b: torch.pow(a, b), {"a": base, "b": ex})
    for p in (2.0, 3.0, 0.5, -1.0):
        base = rnd(2, 3, lo=0.5, hi=2.0)
        entry(f"pow_scalar/{p}", "pow", lambda a, p=p: torch.pow(a, p), {"a": base}, {"exponent": p})

    # ------------------------------------------------ unary
    x = rnd(3, 4)
    pos = rnd(3, 4, lo=0.2, hi=3.0)
    nz = signed_away_from_zero(3, 4, lo=0.1, hi=2.0)
    unary = [
        ("exp", torch.exp, x, {}),
        ("log", torch.log, pos, {}),
        ("sqrt", torch.sqrt, pos, {}),
        ("rsqrt", torch.rsqrt, pos, {}),
        ("abs", torch.abs, nz, {}),
        ("neg", torch.neg, x, {}),
        ("relu", torch.relu, nz, {}),
        ("leaky_relu", lambda t: F.leaky_relu(t, 0.1), nz, {"negative_slope": 0.1}),
        ("sigmoid", torch.sigmoid, x, {}),
        ("tanh", torch.tanh, x, {}),
        ("gelu", lambda t: F.gelu(t, approximate="none"), x, {"approximate": "none"}),
        ("gelu", lambda t: F.gelu(t, approximate="tanh"), x, {"approximate": "tanh"}),
        ("clamp", lambda t: torch.clamp(t, -0.5, 0.5),
         away_from(rnd(3, 4), [-0.5, 0.5], 0.05), {"min": -0.5, "max": 0.5}),
        ("square", torch.square, x, {}),
        ("sin", torch.sin, x, {}),
        ("cos", torch.cos, x, {}),
    ]
    for op, f, inp, args in unary:
        name = op if "approximate" not in args else f"{op}/{args['approximate']}"
        entry(name, op, lambda a, f=f: f(a), {"a": inp}, args)

    # ------------------------------------------------ reductions on [2,3,4]
    x = rnd(2, 3, 4)
    for dims in ([1], [0, 2]):
        for keepdim in (False, True):
            tag = f"dim={shp(dims)}/keepdim={str(keepdim).lower()}"
            entry(f"sum/{tag}", "sum", lambda a, d=dims, k=keepdim: a.sum(dim=d, keepdim=k),
                  {"a": x}, {"dim": dims, "keepdim": keepdim})
            entry(f"mean/{tag}", "mean", lambda a, d=dims, k=keepdim: a.mean(dim=d, keepdim=k),
                  {"a": x}, {"dim": dims, "keepdim": keepdim})
            entry(f"var/unbiased/{tag}", "var",
                  lambda a, d=dims, k=keepdim: a.var(dim=d, unbiased=True, keepdim=k),
                  {"a": x}, {"dim": dims, "keepdim": keepdim, "unbiased": True, "correction": 1})
            entry(f"var/biased/{tag}", "var",
                  lambda a, d=dims, k=keepdim: a.var(dim=d, unbiased=False, keepdim=k),
                  {"a": x}, {"dim": dims, "keepdim": keepdim, "unbiased": False, "correction": 0})
            entry(f"std/unbiased/{tag}", "std",
                  lambda a, d=dims, k=keepdim: a.std(dim=d, unbiased=True, keepdim=k),
                  {"a": x}, {"dim": dims, "keepdim": keepdim, "unbiased": True, "correction": 1})
            entry(f"amax/{tag}", "amax", lambda a, d=dims, k=keepdim: a.amax(dim=d, keepdim=k),
                  {"a": x}, {"dim": dims, "keepdim": keepdim})
            entry(f"amin/{tag}", "amin", lambda a, d=dims, k=keepdim: a.amin(dim=d, keepdim=k),
                  {"a": x}, {"dim": dims, "keepdim": keepdim})
    entry("sum/all", "sum", lambda a: a.sum(), {"a": x}, {"dim": None, "keepdim": False})
    entry("mean/all", "mean", lambda a: a.mean(), {"a": x}, {"dim": None, "keepdim": False})
    for keepdim in (False, True):
        k = str(keepdim).lower()
        entry(f"logsumexp/dim=[1]/keepdim={k}", "logsumexp",
              lambda a, kd=keepdim: torch.logsumexp(a, dim=1, keepdim=kd), {"a": x},
              {"dim": [1], "keepdim": keepdim})
        entry(f"max/dim=1/keepdim={k}", "max",
              lambda a, kd=keepdim: (lambda r: (r.values, {"indices": r.indices}))(
                  torch.max(a, dim=1, keepdim=kd)),
              {"a": x}, {"dim": 1, "keepdim": keepdim}, multi=True)
        entry(f"min/dim=1/keepdim={k}", "min",
              lambda a, kd=keepdim: (lambda r: (r.values, {"indices": r.indices}))(
                  torch.min(a, dim=1, keepdim=kd)),
              {"a": x}, {"dim": 1, "keepdim": keepdim}, multi=True)
    # argmax (no grad) for completeness
    entry("argmax/dim=2", "argmax", lambda: torch.argmax(x, dim=2), {}, {"a": x.tolist(), "dim": 2})

    # ------------------------------------------------ softmax / log_softmax on [2,3,4]
    for dim in (1, -1):
        entry(f"softmax/dim={dim}", "softmax", lambda a, d=dim: torch.softmax(a, dim=d),
              {"a": x}, {"dim": dim})
        entry(f"log_softmax/dim={dim}", "log_softmax",
              lambda a, d=dim: torch.log_softmax(a, dim=d), {"a": x}, {"dim": dim})

    # ------------------------------------------------ matmul
    for sa, sb in (([3, 4], [4, 5]), ([2, 3, 4], [2, 4, 5]), ([2, 3, 4], [4, 5]),
                   ([4], [4, 5]), ([3, 4], [4]), ([4], [4])):
        entry(f"matmul/{shp(sa)}@{shp(sb)}", "matmul", lambda a, b: torch.matmul(a, b),
              {"a": rnd(*sa), "b": rnd(*sb)})

    # ------------------------------------------------ shape ops
    a, b = rnd(2, 3), rnd(1, 3)
    entry("cat/dim=0", "cat", lambda a, b: torch.cat([a, b], dim=0), {"a": a, "b": b},
          {"dim": 0, "order": ["a", "b"]})
    a, b, c = rnd(2, 3), rnd(2, 2), rnd(2, 1)
    entry("cat/dim=1", "cat", lambda a, b, c: torch.cat([a, b, c], dim=1),
          {"a": a, "b": b, "c": c}, {"dim": 1, "order": ["a", "b", "c"]})
    a, b, c = rnd(2, 3), rnd(2, 3), rnd(2, 3)
    for dim in (0, 1, 2):
        entry(f"stack/dim={dim}", "stack", lambda a, b, c, d=dim: torch.stack([a, b, c], dim=d),
              {"a": a, "b": b, "c": c}, {"dim": dim, "order": ["a", "b", "c"]})
    x2 = rnd(4, 3)
    idx = [2, 0, 2]
    entry("index_select/dim=0", "index_select",
          lambda a: torch.index_select(a, 0, torch.tensor(idx)), {"a": x2}, {"dim": 0, "index": idx})
    idx1 = [2, 1, 2, 0]
    entry("index_select/dim=1", "index_select",
          lambda a: torch.index_select(a, 1, torch.tensor(idx1)), {"a": x2}, {"dim": 1, "index": idx1})
    x3 = rnd(3, 4)
    gi1 = [[0, 3], [1, 1], [2, 0]]
    entry("gather/dim=1", "gather", lambda a: torch.gather(a, 1, torch.tensor(gi1)), {"a": x3},
          {"dim": 1, "index": gi1})
    gi0 = [[2, 0, 1, 1], [0, 0, 2, 1]]
    entry("gather/dim=0", "gather", lambda a: torch.gather(a, 0, torch.tensor(gi0)), {"a": x3},
          {"dim": 0, "index": gi0})
    cond = [[True, False, True], [False, False, True]]
    entry("where/[2,3]&[2,3]", "where", lambda a, b: torch.where(torch.tensor(cond), a, b),
          {"a": rnd(2, 3), "b": rnd(2, 3)}, {"condition": cond})
    entry("where/[2,3]&[3]", "where", lambda a, b: torch.where(torch.tensor(cond), a, b),
          {"a": rnd(2, 3), "b": rnd(3)}, {"condition": cond})
    cond2 = [[True], [False]]
    entry("where/cond[2,1]/[1,3]&[2,3]", "where", lambda a, b: torch.where(torch.tensor(cond2), a, b),
          {"a": rnd(1, 3), "b": rnd(2, 3)}, {"condition": cond2})
    oh = [3, 0, 1, 3, 2]
    entry("one_hot/num_classes=5", "one_hot", lambda: F.one_hot(torch.tensor(oh), 5), {},
          {"a": oh, "num_classes": 5})
    entry("one_hot/num_classes=-1", "one_hot", lambda: F.one_hot(torch.tensor(oh), -1), {},
          {"a": oh, "num_classes": -1})
    oh2 = [[0, 2], [1, 1]]
    entry("one_hot/2d", "one_hot", lambda: F.one_hot(torch.tensor(oh2), 3), {},
          {"a": oh2, "num_classes": 3})
    # views
    x4 = rnd(2, 3, 4)
    entry("transpose/0,2", "transpose", lambda a: a.transpose(0, 2), {"a": x4}, {"dim0": 0, "dim1": 2})
    entry("permute/2,0,1", "permute", lambda a: a.permute(2, 0, 1), {"a": x4}, {"dims": [2, 0, 1]})
    entry("reshape/[4,6]", "reshape", lambda a: a.reshape(4, 6), {"a": x4}, {"shape": [4, 6]})
    x5 = rnd(3, 1)
    entry("expand/[2,3,4]", "expand", lambda a: a.expand(2, 3, 4), {"a": x5}, {"size": [2, 3, 4]})
    entry("narrow/dim=2,start=1,len=2", "narrow", lambda a: a.narrow(2, 1, 2), {"a": x4},
          {"dim": 2, "start": 1, "length": 2})

    out = {
        "torch_version": torch.__version__,
        "dtype": "float64",
        "convention": "grads[k] = gradient of sum(output * dy) w.r.t. inputs[k]",
        "entries": ENTRIES,
    }
    path = os.path.join(HERE, "ops.json")
    with open(path, "w") as fh:
        json.dump(out, fh, separators=(",", ":"), allow_nan=False)
        fh.write("\n")
    print(f"wrote {path}: {len(ENTRIES)} entries")


if __name__ == "__main__":
    main()
