#!/usr/bin/env python3
"""Reference outputs/gradients of nn layers and losses (float64).

Run: /usr/bin/python3 tests/reference/gen_layers.py -> layers.json, layers.safetensors

See README.md for the schema. Convention: grads are of sum(output * dy).
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_io  # noqa: E402

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
G = torch.Generator().manual_seed(4321)


def rnd(*shape, lo=None, hi=None, scale=1.0):
    if lo is None:
        x = scale * torch.randn(tuple(shape), generator=G)
    else:
        x = lo + (hi - lo) * torch.rand(tuple(shape), generator=G)
    return torch.round(x * 1e4) / 1e4


def r4(t):
    return torch.round(t * 1e4) / 1e4


LAYERS = []
LOSSES = []
TENSORS = {}  # flat copy for layers.safetensors


def put(prefix, d):
    for k, v in d.items():
        if isinstance(v, dict):
            put(f"{prefix}/{k}", v)
        elif isinstance(v, torch.Tensor):
            TENSORS[f"{prefix}/{k}"] = v.detach().clone().contiguous()


def layer_entry(name, layer, options, module, x, mode="train", int_input=False):
    """Runs module on x (float leaf unless int_input), backward with a random dy."""
    module = module.double()
    # deterministic params rounded to 4 decimals (from PyTorch's default init with seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(r4(p))
    module.train(mode == "train")
    params = {k: v.detach().clone() for k, v in module.named_parameters()}
    buffers_before = {k: v.detach().clone() for k, v in module.named_buffers()}
    if int_input:
        xin = x
    else:
        xin = x.detach().clone().requires_grad_(True)
    y = module(xin)
    dy = rnd(*y.shape)
    y.backward(dy)
    buffers_after = {k: v.detach().clone() for k, v in module.named_buffers()}
    e = {
        "name": name,
        "layer": layer,
        "options": options,
        "mode": mode,
        "params": params,
        "buffers_before": buffers_before,
        "input": x,
        "output": y.detach(),
        "dy": dy,
        "grad_input": None if int_input else xin.grad,
        "grad_params": {k: v.grad.detach().clone() for k, v in module.named_parameters()},
        "buffers_after": buffers_after,
    }
    put(f"layers/{name}", {k: v for k, v in e.items() if isinstance(v, (torch.Tensor, dict))})
    LAYERS.append(e)


def loss_entry(name, loss, options, fn, inputs, target):
    """fn(**inputs, target) -> loss. inputs: dict of float tensors that get gradients."""
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in inputs.items()}
    y = fn(*leaves.values(), target=target)
    dy = rnd(*y.shape) if y.dim() > 0 else torch.tensor(0.75)
    y.backward(dy)
    e = {
        "name": name,
        "loss": loss,
        "options": options,
        "inputs": inputs,
        "target": target,
        "output": y.detach(),
        "dy": dy,
        "grads": {k: v.grad for k, v in leaves.items()},
    }
    put(f"losses/{name}", {k: v for k, v in e.items() if isinstance(v, (torch.Tensor, dict))})
    LOSSES.append(e)


def jsonable(v):
    if isinstance(v, torch.Tensor):
        return v.tolist()
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    return v


def main():
    # ------------------------------------------------ parametric layers
    torch.manual_seed(1)
    layer_entry("linear_5_3", "Linear", {"in_features": 5, "out_features": 3, "bias": True},
                nn.Linear(5, 3), rnd(4, 5))
    torch.manual_seed(2)
    layer_entry("linear_5_3_3d_input", "Linear", {"in_features": 5, "out_features": 3, "bias": True},
                nn.Linear(5, 3), rnd(2, 3, 5))
    torch.manual_seed(3)
    layer_entry("linear_4_2_nobias", "Linear", {"in_features": 4, "out_features": 2, "bias": False},
                nn.Linear(4, 2, bias=False), rnd(3, 4))
    torch.manual_seed(4)
    layer_entry("conv2d_2_4_k3_s2_p1", "Conv2d",
                {"in_channels": 2, "out_channels": 4, "kernel_size": [3, 3], "stride": [2, 2],
                 "padding": [1, 1], "dilation": [1, 1], "groups": 1, "bias": True},
                nn.Conv2d(2, 4, 3, stride=2, padding=1, dilation=1), rnd(2, 2, 7, 7))
    torch.manual_seed(5)
    layer_entry("conv2d_4_4_k3_p2_d2_g2", "Conv2d",
                {"in_channels": 4, "out_channels": 4, "kernel_size": [3, 3], "stride": [1, 1],
                 "padding": [2, 2], "dilation": [2, 2], "groups": 2, "bias": True},
                nn.Conv2d(4, 4, 3, padding=2, dilation=2, groups=2), rnd(2, 4, 6, 6))
    torch.manual_seed(6)
    layer_entry("conv2d_3_2_k2x3_s1x2_nobias", "Conv2d",
                {"in_channels": 3, "out_channels": 2, "kernel_size": [2, 3], "stride": [1, 2],
                 "padding": [0, 0], "dilation": [1, 1], "groups": 1, "bias": False},
                nn.Conv2d(3, 2, (2, 3), stride=(1, 2), bias=False), rnd(1, 3, 5, 6))

    # ------------------------------------------------ pooling
    layer_entry("maxpool2d_k2", "MaxPool2d",
                {"kernel_size": [2, 2], "stride": [2, 2], "padding": [0, 0]},
                nn.MaxPool2d(2), rnd(2, 3, 6, 6))
    layer_entry("maxpool2d_k3_s2_p1", "MaxPool2d",
                {"kernel_size": [3, 3], "stride": [2, 2], "padding": [1, 1]},
                nn.MaxPool2d(3, stride=2, padding=1), rnd(2, 3, 7, 7))
    layer_entry("avgpool2d_k2", "AvgPool2d",
                {"kernel_size": [2, 2], "stride": [2, 2], "padding": [0, 0], "count_include_pad": True},
                nn.AvgPool2d(2), rnd(2, 3, 6, 6))
    layer_entry("avgpool2d_k3_s2_p1", "AvgPool2d",
                {"kernel_size": [3, 3], "stride": [2, 2], "padding": [1, 1], "count_include_pad": True},
                nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=True), rnd(2, 3, 7, 7))
    layer_entry("maxpool2d_k2_odd", "MaxPool2d",
                {"kernel_size": [2, 2], "stride": [2, 2], "padding": [0, 0],
                 "note": "odd input 5x5, floor -> 2x2"},
                nn.MaxPool2d(2), rnd(1, 2, 5, 5))

    # ------------------------------------------------ activations
    xa = rnd(3, 5)
    xa = torch.where(xa.abs() < 0.05, xa + 0.1 * torch.sign(xa + 1e-12), xa)  # avoid 0 kink
    for name, layer, opts, m in (
        ("relu", "ReLU", {}, nn.ReLU()),
        ("leaky_relu_0.01", "LeakyReLU", {"negative_slope": 0.01}, nn.LeakyReLU(0.01)),
        ("gelu", "GELU", {"approximate": "none"}, nn.GELU()),
        ("gelu_tanh", "GELU", {"approximate": "tanh"}, nn.GELU(approximate="tanh")),
        ("sigmoid", "Sigmoid", {}, nn.Sigmoid()),
        ("tanh", "Tanh", {}, nn.Tanh()),
        ("softmax_dim1", "Softmax", {"dim": 1}, nn.Softmax(dim=1)),
        ("log_softmax_dim1", "LogSoftmax", {"dim": 1}, nn.LogSoftmax(dim=1)),
    ):
        layer_entry(name, layer, opts, m, xa)

    # ------------------------------------------------ normalization
    bn_opts = lambda c: {"num_features": c, "eps": 1e-5, "momentum": 0.1, "affine": True,
                         "track_running_stats": True}
    for mode in ("train", "eval"):
        for shape, tag in (((6, 4), "nc"), ((3, 4, 5), "ncl")):
            torch.manual_seed(7)
            m = nn.BatchNorm1d(4)
            with torch.no_grad():
                m.weight.copy_(rnd(4, lo=0.5, hi=1.5))
                m.bias.copy_(rnd(4, scale=0.3))
                if mode == "eval":
                    m.running_mean.copy_(rnd(4, scale=0.5))
                    m.running_var.copy_(rnd(4, lo=0.5, hi=2.0))
            layer_entry(f"batchnorm1d_{tag}_{mode}", "BatchNorm1d", bn_opts(4), m,
                        rnd(*shape, scale=2.0) + 0.5, mode=mode)
        torch.manual_seed(8)
        m = nn.BatchNorm2d(3)
        with torch.no_grad():
            m.weight.copy_(rnd(3, lo=0.5, hi=1.5))
            m.bias.copy_(rnd(3, scale=0.3))
            if mode == "eval":
                m.running_mean.copy_(rnd(3, scale=0.5))
                m.running_var.copy_(rnd(3, lo=0.5, hi=2.0))
        layer_entry(f"batchnorm2d_{mode}", "BatchNorm2d", bn_opts(3), m,
                    rnd(2, 3, 4, 4, scale=1.5) - 0.3, mode=mode)
    for ns in ([4], [3, 4]):
        m = nn.LayerNorm(ns)
        with torch.no_grad():
            m.weight.copy_(rnd(*ns, lo=0.5, hi=1.5))
            m.bias.copy_(rnd(*ns, scale=0.3))
        layer_entry(f"layernorm_{'x'.join(map(str, ns))}", "LayerNorm",
                    {"normalized_shape": ns, "eps": 1e-5, "elementwise_affine": True}, m,
                    rnd(2, 3, 4, scale=2.0) + 0.2)

    # ------------------------------------------------ embedding
    torch.manual_seed(9)
    layer_entry("embedding_10_3", "Embedding", {"num_embeddings": 10, "embedding_dim": 3},
                nn.Embedding(10, 3), torch.tensor([[1, 4, 4], [9, 0, 1]]), int_input=True)

    # ------------------------------------------------ losses
    logits = rnd(4, 5)
    tgt = torch.tensor([1, 0, 4, 3])
    tgt_ign = torch.tensor([1, 2, 4, 2])  # two targets equal ignore_index=2
    cw = rnd(5, lo=0.5, hi=2.0)
    for red in ("none", "mean", "sum"):
        loss_entry(f"cross_entropy/{red}", "cross_entropy", {"reduction": red},
                   lambda x, target, r=red: F.cross_entropy(x, target, reduction=r), {"input": logits}, tgt)
        loss_entry(f"cross_entropy/label_smoothing=0.1/{red}", "cross_entropy",
                   {"reduction": red, "label_smoothing": 0.1},
                   lambda x, target, r=red: F.cross_entropy(x, target, reduction=r, label_smoothing=0.1),
                   {"input": logits}, tgt)
        loss_entry(f"cross_entropy/ignore_index=2/{red}", "cross_entropy",
                   {"reduction": red, "ignore_index": 2},
                   lambda x, target, r=red: F.cross_entropy(x, target, reduction=r, ignore_index=2),
                   {"input": logits}, tgt_ign)
        loss_entry(f"cross_entropy/weight/{red}", "cross_entropy",
                   {"reduction": red, "weight": cw.tolist()},
                   lambda x, target, r=red: F.cross_entropy(x, target, weight=cw, reduction=r),
                   {"input": logits}, tgt)
        loss_entry(f"cross_entropy/label_smoothing=0.1+ignore_index=2/{red}", "cross_entropy",
                   {"reduction": red, "label_smoothing": 0.1, "ignore_index": 2},
                   lambda x, target, r=red: F.cross_entropy(x, target, reduction=r, ignore_index=2,
                                                            label_smoothing=0.1),
                   {"input": logits}, tgt_ign)
    logp = torch.log_softmax(rnd(4, 5), dim=1)
    for red in ("none", "mean", "sum"):
        loss_entry(f"nll_loss/{red}", "nll_loss", {"reduction": red},
                   lambda x, target, r=red: F.nll_loss(x, target, reduction=r), {"input": logp}, tgt)
        loss_entry(f"nll_loss/ignore_index=2/{red}", "nll_loss", {"reduction": red, "ignore_index": 2},
                   lambda x, target, r=red: F.nll_loss(x, target, reduction=r, ignore_index=2),
                   {"input": logp}, tgt_ign)
        loss_entry(f"nll_loss/weight/{red}", "nll_loss", {"reduction": red, "weight": cw.tolist()},
                   lambda x, target, r=red: F.nll_loss(x, target, weight=cw, reduction=r),
                   {"input": logp}, tgt)
    pred = rnd(3, 4)
    target = pred + torch.sign(rnd(3, 4)) * rnd(3, 4, lo=0.1, hi=1.5)  # |pred-target| >= 0.1
    target = r4(target)
    for red in ("none", "mean", "sum"):
        loss_entry(f"mse_loss/{red}", "mse_loss", {"reduction": red},
                   lambda x, target, r=red: F.mse_loss(x, target, reduction=r), {"input": pred}, target)
        loss_entry(f"l1_loss/{red}", "l1_loss", {"reduction": red},
                   lambda x, target, r=red: F.l1_loss(x, target, reduction=r), {"input": pred}, target)
        loss_entry(f"smooth_l1_loss/beta=1/{red}", "smooth_l1_loss", {"reduction": red, "beta": 1.0},
                   lambda x, target, r=red: F.smooth_l1_loss(x, target, reduction=r, beta=1.0),
                   {"input": pred}, target)
        loss_entry(f"huber_loss/delta=1/{red}", "huber_loss", {"reduction": red, "delta": 1.0},
                   lambda x, target, r=red: F.huber_loss(x, target, reduction=r, delta=1.0),
                   {"input": pred}, target)
    blog = rnd(3, 4, scale=2.0)
    btgt = torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.25, 0.75], [0.0, 0.0, 1.0, 0.5]])
    pw = rnd(4, lo=0.5, hi=3.0)
    bprob = rnd(3, 4, lo=0.05, hi=0.95)
    for red in ("none", "mean", "sum"):
        loss_entry(f"bce_with_logits/{red}", "binary_cross_entropy_with_logits", {"reduction": red},
                   lambda x, target, r=red: F.binary_cross_entropy_with_logits(x, target, reduction=r),
                   {"input": blog}, btgt)
        loss_entry(f"bce_with_logits/pos_weight/{red}", "binary_cross_entropy_with_logits",
                   {"reduction": red, "pos_weight": pw.tolist()},
                   lambda x, target, r=red: F.binary_cross_entropy_with_logits(
                       x, target, reduction=r, pos_weight=pw),
                   {"input": blog}, btgt)
        loss_entry(f"bce/{red}", "binary_cross_entropy", {"reduction": red},
                   lambda x, target, r=red: F.binary_cross_entropy(x, target, reduction=r),
                   {"input": bprob}, btgt)

    # ------------------------------------------------ init bounds (formulas only)
    init = []
    for kind, ctor, shape_desc in (
        ("Linear", lambda: nn.Linear(5, 3), {"in_features": 5, "out_features": 3}),
        ("Linear", lambda: nn.Linear(784, 256), {"in_features": 784, "out_features": 256}),
        ("Linear", lambda: nn.Linear(120, 84), {"in_features": 120, "out_features": 84}),
        ("Conv2d", lambda: nn.Conv2d(2, 4, 3), {"in_channels": 2, "out_channels": 4, "kernel_size": [3, 3], "groups": 1}),
        ("Conv2d", lambda: nn.Conv2d(1, 6, 5), {"in_channels": 1, "out_channels": 6, "kernel_size": [5, 5], "groups": 1}),
        ("Conv2d", lambda: nn.Conv2d(4, 4, 3, groups=2), {"in_channels": 4, "out_channels": 4, "kernel_size": [3, 3], "groups": 2}),
        ("Conv2d", lambda: nn.Conv2d(6, 16, 5), {"in_channels": 6, "out_channels": 16, "kernel_size": [5, 5], "groups": 1}),
    ):
        torch.manual_seed(0)
        m = ctor()
        fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(m.weight)
        a = math.sqrt(5)
        gain = nn.init.calculate_gain("leaky_relu", a)
        std = gain / math.sqrt(fan_in)
        wb = math.sqrt(3.0) * std
        bb = 1.0 / math.sqrt(fan_in)
        assert m.weight.abs().max().item() <= wb and m.bias.abs().max().item() <= bb
        init.append({"layer": kind, "shape": shape_desc, "weight_shape": list(m.weight.shape),
                     "fan_in": fan_in, "fan_out": fan_out, "a": a, "gain": gain,
                     "weight_bound": wb, "bias_bound": bb,
                     "observed_weight_absmax": m.weight.abs().max().item(),
                     "observed_bias_absmax": m.bias.abs().max().item()})

    out = {
        "torch_version": torch.__version__,
        "dtype": "float64",
        "convention": "grad_* = gradient of sum(output * dy); params rounded to 4 decimals",
        "layers": jsonable(LAYERS),
        "losses": jsonable(LOSSES),
        "init_bounds": {
            "formula": "kaiming_uniform_(a=sqrt(5)): gain=sqrt(2/(1+a^2)), bound=sqrt(3)*gain/sqrt(fan_in)"
                       " (=1/sqrt(fan_in)); bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)); "
                       "fan_in = in_channels/groups * prod(kernel_size) (Linear: in_features)",
            "cases": init,
        },
    }
    path = os.path.join(HERE, "layers.json")
    with open(path, "w") as fh:
        json.dump(out, fh, separators=(",", ":"), allow_nan=False)
        fh.write("\n")
    st = os.path.join(HERE, "layers.safetensors")
    safetensors_io.save_file(TENSORS, st, {"format": "pt", "source": "gen_layers.py"})
    print(f"wrote {path}: {len(LAYERS)} layers, {len(LOSSES)} losses, {len(init)} init cases; "
          f"{st}: {len(TENSORS)} tensors")


if __name__ == "__main__":
    main()
