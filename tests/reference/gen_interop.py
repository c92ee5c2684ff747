#!/usr/bin/env python3
"""PyTorch <-> tapegrad interop fixtures (float32).

Generate (default):
  /usr/bin/python3 tests/reference/gen_interop.py
    -> lenet5.safetensors, mlp.safetensors      state_dict() of the models (F32, metadata {"format":"pt"})
       interop_inputs.safetensors              fixed batch + targets
       interop_outputs.safetensors             logits, loss, input gradients (+ LeNet param grads)

Check a model written by the C++ side:
  /usr/bin/python3 tests/reference/gen_interop.py --check model.safetensors --arch lenet|mlp \
      [--expect-logits logits.safetensors] [--write-logits out.safetensors] [--tol 1e-5]
  Loads the state dict (same key names, strict), runs the fixed batch from
  interop_inputs.safetensors, prints logits. With --expect-logits, compares them to the tensor
  "logits" in that file (or its only tensor) and exits 1 if max |diff| > tol.
"""
import argparse
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_io  # noqa: E402

TARGETS = [3, 7, 0, 9]
INPUT_SEED = 12345


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10))


def mlp():
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                         nn.Linear(128, 10))


ARCHS = {"lenet": (lenet5, "lenet5.safetensors", "lenet_input"),
         "mlp": (mlp, "mlp.safetensors", "mlp_input")}


def make_inputs():
    g = torch.Generator().manual_seed(INPUT_SEED)
    images = torch.rand((4, 1, 28, 28), generator=g, dtype=torch.float32)
    return {"lenet_input": images,
            "mlp_input": images.reshape(4, 784).clone(),
            "targets": torch.tensor(TARGETS, dtype=torch.int64)}


def forward_backward(model, x, targets):
    x = x.detach().clone().requires_grad_(True)
    model.zero_grad()
    logits = model(x)
    loss = F.cross_entropy(logits, targets)
    loss.backward()
    return logits.detach(), loss.detach(), x.grad.detach()


def generate():
    torch.set_num_threads(1)
    inputs = make_inputs()
    safetensors_io.save_file(inputs, os.path.join(HERE, "interop_inputs.safetensors"),
                             {"format": "pt", "input_seed": str(INPUT_SEED),
                              "note": "mlp_input = lenet_input.reshape(4, 784)"})
    outputs = {}
    for arch, (ctor, fname, in_key) in ARCHS.items():
        torch.manual_seed(0)
        model = ctor()  # float32, PyTorch default init
        sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
        safetensors_io.save_file(sd, os.path.join(HERE, fname), {"format": "pt"})
        logits, loss, gx = forward_backward(model, inputs[in_key], inputs["targets"])
        outputs[f"{arch}_logits"] = logits
        outputs[f"{arch}_loss"] = loss  # shape []
        outputs[f"{arch}_input_grad"] = gx
        if arch == "lenet":
            for k, p in model.named_parameters():
                outputs[f"lenet_grad.{k}"] = p.grad.detach().clone()
        # float64 re-computation of the same float32 weights/inputs (a more exact reference)
        m64 = ctor().double()
        m64.load_state_dict({k: v.double() for k, v in sd.items()})
        l64, loss64, gx64 = forward_backward(m64, inputs[in_key].double(), inputs["targets"])
        outputs[f"{arch}_logits_f64"] = l64
        outputs[f"{arch}_loss_f64"] = loss64
        outputs[f"{arch}_input_grad_f64"] = gx64
        # round-trip self-check of the written file
        loaded, meta = safetensors_io.load_torch(os.path.join(HERE, fname))
        assert meta == {"format": "pt"} and list(loaded) == sorted(sd)
        m2 = ctor()
        m2.load_state_dict(loaded, strict=True)
        with torch.no_grad():
            assert torch.equal(m2(inputs[in_key]), logits)
        print(f"{arch}: loss={loss.item():.9g} (f64 {loss64.item():.17g}), "
              f"max|logits-f64|={(logits.double() - l64).abs().max().item():.3g}, "
              f"params={sum(v.numel() for v in sd.values())}")
    safetensors_io.save_file(outputs, os.path.join(HERE, "interop_outputs.safetensors"),
                             {"format": "pt", "loss": "cross_entropy(logits, targets), reduction mean"})
    print("wrote lenet5.safetensors, mlp.safetensors, interop_inputs.safetensors, "
          "interop_outputs.safetensors")


def check(args):
    ctor, _, in_key = ARCHS[args.arch]
    sd, meta = safetensors_io.load_torch(args.check)
    model = ctor()
    model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    inputs, _ = safetensors_io.load_torch(args.inputs)
    with torch.no_grad():
        logits = model(inputs[in_key].float())
    torch.set_printoptions(precision=8)
    print(f"metadata: {meta}")
    print(f"logits ({args.arch}):\n{logits}")
    if args.write_logits:
        safetensors_io.save_file({"logits": logits}, args.write_logits, {"format": "pt"})
    if args.expect_logits:
        exp, _ = safetensors_io.load_torch(args.expect_logits)
        if "logits" in exp:
            e = exp["logits"]
        elif f"{args.arch}_logits" in exp:
            e = exp[f"{args.arch}_logits"]
        elif len(exp) == 1:
            e = next(iter(exp.values()))
        else:
            print(f"cannot pick logits tensor from {sorted(exp)}", file=sys.stderr)
            return 2
        if tuple(e.shape) != tuple(logits.shape):
            print(f"MISMATCH: shape {tuple(e.shape)} vs {tuple(logits.shape)}", file=sys.stderr)
            return 1
        diff = (e.double() - logits.double()).abs().max().item()
        print(f"max |diff| = {diff:.3g} (tol {args.tol})")
        if not diff <= args.tol:
            print("MISMATCH", file=sys.stderr)
            return 1
        print("OK")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", metavar="FILE.safetensors")
    ap.add_argument("--arch", choices=sorted(ARCHS))
    ap.add_argument("--expect-logits", metavar="FILE.safetensors")
    ap.add_argument("--write-logits", metavar="FILE.safetensors")
    ap.add_argument("--inputs", default=os.path.join(HERE, "interop_inputs.safetensors"))
    ap.add_argument("--tol", type=float, default=1e-5)
    args = ap.parse_args()
    if args.check:
        if not args.arch:
            ap.error("--check needs --arch")
        sys.exit(check(args))
    generate()


if __name__ == "__main__":
    main()
