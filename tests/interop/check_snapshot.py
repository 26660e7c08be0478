"""Reads a veto snapshot with pyarrow and DuckDB, without special options,
and checks what they see against manifest.json. Exit 0 only if all agree."""

import json
import pathlib
import sys

import duckdb
import pyarrow.parquet as pq


def main(snapshot: pathlib.Path) -> int:
    manifest = json.loads((snapshot / "manifest.json").read_text())
    problems = []

    # pyarrow: every file opens and has the rows the manifest says.
    for shard in manifest["shards"]:
        table = pq.read_table(snapshot / shard["file"])
        if table.num_rows != shard["rows"]:
            problems.append(f"pyarrow: {shard['file']} has {table.num_rows} rows, manifest says {shard['rows']}")
        if "person_id" in table.column_names or "item_id" in table.column_names:
            problems.append(f"pyarrow: {shard['file']} carries person or item ids")
    index = pq.read_table(snapshot / "index.parquet")
    if index.num_rows != manifest["items"]["included"]:
        problems.append(f"pyarrow: index has {index.num_rows} rows, included is {manifest['items']['included']}")

    # DuckDB: globbing the shards and grouping the exclusions.
    con = duckdb.connect()
    shards_glob = str(snapshot / "shards" / "*.parquet")
    (included,) = con.execute(f"SELECT count(*) FROM read_parquet('{shards_glob}')").fetchone()
    if included != manifest["items"]["included"]:
        problems.append(f"duckdb: shards hold {included} rows, included is {manifest['items']['included']}")
    rows = con.execute(
        f"SELECT reason, count(*) FROM read_parquet('{snapshot / 'exclusions.parquet'}') GROUP BY reason"
    ).fetchall()
    seen = {reason: n for reason, n in rows}
    expected = {reason: n for reason, n in manifest["excluded_by_reason"].items() if n}
    if seen != expected:
        problems.append(f"duckdb: exclusions by reason {seen} != manifest {expected}")

    for p in problems:
        print(p, file=sys.stderr)
    if not problems:
        print(f"ok: pyarrow and duckdb read {len(manifest['shards'])} shards, {included} rows, {sum(seen.values())} exclusions")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1])))
