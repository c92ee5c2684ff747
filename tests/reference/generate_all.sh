#!/bin/sh
# Regenerates every reference file in this directory. Needs Debian's python3-torch (1.13)
# and python3-numpy; uses /usr/bin/python3 (override with PYTHON=...).
set -eu
# PyTorch's CPU kernels go through OpenBLAS; this machine's environment sets
# OPENBLAS_CORETYPE=Haswell, which changes some references at ~1e-15. The
# committed files were made with OpenBLAS choosing its own core.
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE CDPATH
cd "$(dirname "$0")"
PY=${PYTHON:-/usr/bin/python3}
"$PY" -c 'import torch; print("torch", torch.__version__)'
for s in gen_optim.py gen_sched.py gen_ops.py gen_layers.py gen_interop.py; do
  echo "== $s"
  "$PY" "$s"
done
