"""Checks that a peer program computed the same build as veto.

    crosscheck.py VETO_SNAPSHOT_DIR PEER_OUT_DIR NAME

Compares the counts by reason, the per-shard row counts, and, item by item,
the set of included item_ids with their doc_id and shard. Exits non-zero and
says where they differ. Leaf hashes are compared for information only: the
peers skip veto's IBAN checksum and phone digit-count checks (see spec.py), so
rows holding an IBAN-shaped string that fails mod-97 legitimately differ.
"""

import json
import sys
from pathlib import Path

import duckdb


def main(snapshot, peer, name):
    snapshot, peer = Path(snapshot), Path(peer)
    manifest = json.loads((snapshot / "manifest.json").read_text())
    counts = json.loads((peer / "counts.json").read_text())
    problems = []
    veto_reasons = {k: v for k, v in manifest["excluded_by_reason"].items() if v}
    if veto_reasons != counts["excluded_by_reason"]:
        for reason in sorted(set(veto_reasons) | set(counts["excluded_by_reason"])):
            a, b = veto_reasons.get(reason, 0), counts["excluded_by_reason"].get(reason, 0)
            if a != b:
                problems.append(f"reason {reason}: veto {a}, {name} {b}")
    if manifest["items"]["included"] != counts["included"]:
        problems.append(f"included: veto {manifest['items']['included']}, {name} {counts['included']}")
    veto_shards = {str(s["shard"]): s["rows"] for s in manifest["shards"] if s["rows"]}
    if veto_shards != counts["shard_rows"]:
        problems.append(f"rows per shard: veto {veto_shards}, {name} {counts['shard_rows']}")

    con = duckdb.connect()
    only = con.execute(f"""
        SELECT coalesce(v.item_id, p.item_id) AS item_id,
               CASE WHEN v.item_id IS NULL THEN 'only {name}' WHEN p.item_id IS NULL THEN 'only veto'
                    WHEN v.doc_id <> p.doc_id THEN 'doc_id differs' ELSE 'shard differs' END AS what
        FROM '{snapshot}/index.parquet' v FULL JOIN '{peer}/index.parquet' p ON v.item_id = p.item_id
        WHERE v.item_id IS NULL OR p.item_id IS NULL OR v.doc_id <> p.doc_id OR v.shard <> p.shard
        ORDER BY 1 LIMIT 10
    """).fetchall()
    problems += [f"item {item}: {what}" for item, what in only]
    same_leaf, total = con.execute(f"""
        SELECT count(*) FILTER (WHERE v.leaf_hash = p.leaf_hash), count(*)
        FROM '{snapshot}/index.parquet' v JOIN '{peer}/index.parquet' p USING (item_id)
    """).fetchone()
    if problems:
        print(f"cross-check FAILED for {name}:", *problems, sep="\n  ")
        return 1
    print(
        f"cross-check {name}: same counts by reason, same {counts['included']:,} included item_ids, doc_ids and "
        f"shards; identical leaf hashes on {same_leaf / max(total, 1):.4%} of rows"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
