"""Prints the build-vs-peers table: medians per variant and engine, ratios to veto."""

import statistics
import sys
from collections import defaultdict


def main(path, items):
    items = int(items)
    runs = defaultdict(list)
    for line in open(path):
        variant, engine, _round, secs, kib = line.split("\t")
        runs[(variant, engine)].append((float(secs), int(kib)))
    variants = list(dict.fromkeys(v for v, _ in runs))
    print()
    print("| variant | engine | median wall | items/s | median peak RSS | time / veto's |")
    print("|---|---|---|---|---|---|")
    for variant in variants:
        veto = statistics.median(s for s, _ in runs[(variant, "veto")])
        for engine in ["veto", "duckdb", "polars"]:
            if (variant, engine) not in runs:
                continue
            secs = statistics.median(s for s, _ in runs[(variant, engine)])
            rss = statistics.median(k for _, k in runs[(variant, engine)]) / 1024
            print(
                f"| {variant} | {engine} | {secs:.2f} s | {items / secs:,.0f} | {rss:,.0f} MiB | {secs / veto:.2f}x |"
            )


if __name__ == "__main__":
    main(*sys.argv[1:])
