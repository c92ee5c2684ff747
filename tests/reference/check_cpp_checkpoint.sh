#!/bin/sh
# Reverse interop, run by hand (never by ctest; needs PyTorch): the C++ suite
# writes a freshly initialized LeNet-5 and MLP with tg::save plus their logits,
# then PyTorch loads each checkpoint strictly into the same nn.Sequential and
# must reproduce the logits to 1e-5.
#   tests/reference/check_cpp_checkpoint.sh [build-dir]     (default: build)
set -eu
unset CDPATH
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
TG_INTEROP_OUT="$OUT" "$BUILD/tests/tapegrad_tests" -tc='nn interop: a C++-written*' >/dev/null
for arch in lenet mlp; do
  echo "== $arch"
  /usr/bin/python3 "$ROOT/tests/reference/gen_interop.py" --check "$OUT/cpp_$arch.safetensors" --arch "$arch" \
    --expect-logits "$OUT/cpp_${arch}_logits.safetensors" --tol 1e-5
done
echo "PyTorch reproduced the C++ logits for both checkpoints"
