"""Recomputes, from the snapshot's Parquet files alone, the training set of
every shard of a model's current version, and checks model.json against it:
the training-set root (RFC 6962 over the leaves of docs/snapshot-format.md),
the row count, the removed doc ids, and every artifact's SHA-256.

    check_training_sets.py SNAPSHOT_DIR MODEL_DIR [--contributions CSV] [REMOVED_PERSON_ID...]

With --contributions, the CSV of `veto report contributions` is checked
too: one row per person with rows in the training sets, each person's items
and tokens (UTF-8 bytes of the text plus one end-of-text token) as counted
here, and a total equal to the model's training-set size. Person refs are
keyed with the installation secret, so rows are compared as a multiset.

The removed persons are the ones unlearned so far; their doc ids come from
the private index. Written from the format documents, not from veto's code.
Exit 0 only if everything agrees."""

import hashlib
import json
import pathlib
import struct
import sys

import pyarrow.parquet as pq

LEAF_COLUMNS = ["doc_id", "text", "platform", "kind", "lang", "media_sha256"]


def leaf_hash(row):
    data = bytearray()
    for col in LEAF_COLUMNS:
        value = row[col]
        if value is None:
            data += b"\0"
        else:
            b = value.encode("utf-8")
            data += b"\1" + struct.pack(">I", len(b)) + b
    return hashlib.sha256(b"\0" + bytes(data)).digest()


def merkle_root(leaves):
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\1" + merkle_root(leaves[:k]) + merkle_root(leaves[k:])).digest()


def main(snapshot, model_dir, persons, contributions=None):
    manifest = json.loads((snapshot / "manifest.json").read_text())
    model = json.loads((model_dir / "model.json").read_text())
    index = pq.read_table(snapshot / "index.parquet", columns=["doc_id", "person_id"]).to_pylist()
    removed = {r["doc_id"] for r in index if r["person_id"] in persons}
    problems = []
    if set(model["removed_doc_ids"]) != removed:
        problems.append(f"removed_doc_ids: {len(model['removed_doc_ids'])} in model.json, {len(removed)} expected")
    files = {s["shard"]: s["file"] for s in manifest["shards"]}
    person_of = {r["doc_id"]: r["person_id"] for r in index}
    per_person = {}
    for shard in model["shards"]:
        rows = pq.read_table(snapshot / files[shard["shard"]], columns=LEAF_COLUMNS).to_pylist()
        kept = [r for r in rows if not r["doc_id"].startswith("0") and r["doc_id"] not in removed]
        for r in kept:
            items, tokens = per_person.get(person_of[r["doc_id"]], (0, 0))
            t = 0 if r["text"] is None else len(r["text"].encode("utf-8")) + 1
            per_person[person_of[r["doc_id"]]] = (items + 1, tokens + t)
        root = merkle_root([leaf_hash(r) for r in kept]).hex()
        if shard.get("training_set_root") != root:
            problems.append(f"shard {shard['shard']}: training_set_root {shard.get('training_set_root')}, recomputed {root}")
        if shard.get("training_set_rows") != len(kept):
            problems.append(f"shard {shard['shard']}: training_set_rows {shard.get('training_set_rows')}, recomputed {len(kept)}")
        for a in shard.get("artifacts", []):
            digest = hashlib.sha256((model_dir / a["file"]).read_bytes()).hexdigest()
            if digest != a["sha256"]:
                problems.append(f"{a['file']}: sha256 {digest}, model.json says {a['sha256']}")
    if contributions is not None:
        problems += check_contributions(contributions, per_person, sum(s["tokens"] for s in model["shards"]))
    for p in problems:
        print(p, file=sys.stderr)
    if not problems:
        print(f"ok: {len(model['shards'])} training sets of version {model['version']}, {len(removed)} doc ids removed")
    return 1 if problems else 0


def check_contributions(path, per_person, size):
    lines = pathlib.Path(path).read_text().splitlines()
    if lines[0] != "person_ref,items,tokens,share":
        return [f"{path}: header {lines[0]!r}"]
    rows = [line.split(",") for line in lines[1:]]
    got = sorted((int(items), int(tokens)) for _, items, tokens, _ in rows)
    want = sorted(per_person.values())
    problems = []
    if got != want:
        problems.append(f"{path}: {len(got)} rows, {len(want)} persons in the training sets; counts differ")
    total = sum(t for _, t in want)
    if total != size:
        problems.append(f"training sets hold {total} tokens, model.json shards say {size}")
    if any(abs(float(share) - int(tokens) / total) > 1e-9 for _, _, tokens, share in rows):
        problems.append(f"{path}: a share is not tokens / {total}")
    if len({r[0] for r in rows}) != len(rows):
        problems.append(f"{path}: a person_ref appears twice")
    return problems


if __name__ == "__main__":
    args = sys.argv[3:]
    csv = None
    if args[:1] == ["--contributions"]:
        csv, args = args[1], args[2:]
    sys.exit(main(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), set(args), csv))
