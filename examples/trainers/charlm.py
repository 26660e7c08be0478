#!/usr/bin/env python3
"""A character-level neural language model, trained by veto once per shard.

This is a trainer behind veto's exec contract (docs/trainers.md):

    veto train --snapshot S --trainer exec:examples/trainers/charlm.py [--trainer-arg --steps=400]

veto runs it as `charlm.py [--steps=N] INPUT OUTPUT` for every shard (and
again for each shard that `veto unlearn` retrains). INPUT holds the shard's
training set (`train.parquet`), the held-out set (`heldout.parquet`) and
`shard.json`; the model goes into OUTPUT with the `eval.json` veto reads.

The model predicts the next byte of a post from the CONTEXT bytes before it:
an embedding of each byte, one tanh hidden layer, a softmax over 256 bytes,
trained with Adam on random windows. numpy and pyarrow only. The same seed
(VETO_SEED) and the same training set give the same files, byte for byte.
"""

import json
import os
import pathlib
import sys

# One BLAS thread: a matrix product sums in one order, so a seed gives one model.
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

CONTEXT, EMBED, HIDDEN, VOCAB = 8, 16, 128, 256
BATCH, LEARNING_RATE = 256, 3e-3
# Held-out positions evaluated (the first ones, in doc_id order): enough for
# a stable loss, bounded so that evaluation stays cheap on large shards.
EVAL_POSITIONS = 200_000


def byte_stream(texts):
    """All texts as one byte array, each preceded by CONTEXT zero bytes (the
    start) and followed by one zero byte (the end); and the positions whose
    byte is predicted (everything but the padding before each text)."""
    parts, targets, at = [], [], 0
    for t in texts:
        if t is None:
            continue
        b = t.encode("utf-8") + b"\0"
        parts.append(b"\0" * CONTEXT + b)
        targets.append(np.arange(at + CONTEXT, at + CONTEXT + len(b), dtype=np.int64))
        at += CONTEXT + len(b)
    if not parts:
        return np.zeros(0, np.uint8), np.zeros(0, np.int64)
    return np.frombuffer(b"".join(parts), np.uint8), np.concatenate(targets)


def init(rng):
    scale = lambda fan_in: 1.0 / np.sqrt(fan_in)  # noqa: E731
    return {
        "embed": rng.normal(0, 1, (VOCAB, EMBED)),
        "w1": rng.normal(0, scale(CONTEXT * EMBED), (CONTEXT * EMBED, HIDDEN)),
        "b1": np.zeros(HIDDEN),
        "w2": rng.normal(0, scale(HIDDEN), (HIDDEN, VOCAB)),
        "b2": np.zeros(VOCAB),
    }


def forward(p, stream, positions):
    """Log-probabilities of the bytes at `positions`, and what backprop needs."""
    idx = positions[:, None] - CONTEXT + np.arange(CONTEXT)[None, :]
    ctx = stream[idx]  # (n, CONTEXT) byte values
    x = p["embed"][ctx].reshape(len(positions), CONTEXT * EMBED)
    h = np.tanh(x @ p["w1"] + p["b1"])
    logits = h @ p["w2"] + p["b2"]
    logits -= logits.max(axis=1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return logp, (ctx, x, h)


def step(p, adam, t, stream, positions):
    logp, (ctx, x, h) = forward(p, stream, positions)
    y = stream[positions]
    n = len(positions)
    loss = -logp[np.arange(n), y].mean()
    d_logits = np.exp(logp)
    d_logits[np.arange(n), y] -= 1.0
    d_logits /= n
    grads = {"w2": h.T @ d_logits, "b2": d_logits.sum(axis=0)}
    d_h = (d_logits @ p["w2"].T) * (1.0 - h * h)
    grads["w1"] = x.T @ d_h
    grads["b1"] = d_h.sum(axis=0)
    d_x = (d_h @ p["w1"].T).reshape(n, CONTEXT, EMBED)
    grads["embed"] = np.zeros_like(p["embed"])
    np.add.at(grads["embed"], ctx, d_x)
    for k, g in grads.items():  # Adam
        m, v = adam[k]
        m[:] = 0.9 * m + 0.1 * g
        v[:] = 0.999 * v + 0.001 * g * g
        m_hat, v_hat = m / (1 - 0.9**t), v / (1 - 0.999**t)
        p[k] -= LEARNING_RATE * m_hat / (np.sqrt(v_hat) + 1e-8)
    return loss


def heldout_loss(p, texts):
    """Mean negative log-likelihood in nats per byte over the first
    EVAL_POSITIONS held-out bytes, and how many bytes that is."""
    stream, positions = byte_stream(texts)
    positions = positions[:EVAL_POSITIONS]
    total = 0.0
    for start in range(0, len(positions), 8192):
        chunk = positions[start : start + 8192]
        logp, _ = forward(p, stream, chunk)
        total -= logp[np.arange(len(chunk)), stream[chunk]].sum()
    return total / max(len(positions), 1), len(positions)


def main(argv):
    steps = 400
    args = []
    for a in argv[1:]:
        if a.startswith("--steps="):
            steps = int(a.split("=", 1)[1])
        else:
            args.append(a)
    if len(args) != 2:
        print("usage: charlm.py [--steps=N] INPUT OUTPUT", file=sys.stderr)
        return 2
    inp, out = pathlib.Path(args[0]), pathlib.Path(args[1])
    shard = json.loads((inp / "shard.json").read_text())
    seed = int(os.environ.get("VETO_SEED", shard["seed"]))
    rng = np.random.default_rng(seed)

    texts = pq.read_table(inp / "train.parquet", columns=["text"]).column("text").to_pylist()
    stream, positions = byte_stream(texts)
    params = init(rng)
    adam = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
    loss = float("nan")
    if len(positions):
        for t in range(1, steps + 1):
            loss = step(params, adam, t, stream, rng.choice(positions, BATCH))
    print(f"shard {shard['shard']}: {shard['rows']} rows, {len(positions)} bytes, {steps} steps, last batch loss {loss:.3f}")

    held = pq.read_table(inp / "heldout.parquet", columns=["text"]).column("text").to_pylist()
    h_loss, h_tokens = heldout_loss(params, held)
    if h_tokens == 0:
        print("the held-out set has no text to evaluate on", file=sys.stderr)
        return 1
    for name, value in params.items():
        np.save(out / f"{name}.npy", value)
    config = {"context": CONTEXT, "embed": EMBED, "hidden": HIDDEN, "steps": steps, "seed": seed}
    (out / "config.json").write_text(json.dumps(config, sort_keys=True) + "\n")
    # eval.json last: veto reads it only after the program exits 0.
    (out / "eval.json").write_text(
        json.dumps({"format": "veto-trainer-eval/1", "heldout_loss": h_loss, "heldout_tokens": h_tokens})
    )
    print(f"held-out loss {h_loss:.4f} nats per byte over {h_tokens} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
