#!/bin/sh
# Regenerates every reference file in this directory. Needs Debian's python3-torch (1.13)
# and python3-numpy; uses /usr/bin/python3 (override with PYTHON=...).
set -eu
cd "$(dirname "$0")"
PY=${PYTHON:-/usr/bin/python3}
"$PY" -c 'import torch; print("torch", torch.__version__)'
for s in gen_optim.py gen_sched.py gen_ops.py gen_layers.py gen_interop.py; do
  echo "== $s"
  "$PY" "$s"
done
