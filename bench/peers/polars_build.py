"""The veto build job written with Polars (peer program for bench/build-vs-peers).

Same job as duckdb_build.py (see spec.py): the rules in veto's order, the four
redaction patterns, HMAC doc ids and shards (polars-hash, a native plugin), RFC
6962 leaf hashes; writes shards/shard=N/data.parquet (ordered by doc_id),
index.parquet and exclusions.parquet (ordered by item_id), zstd-compressed.
"""

import os
import sys

from spec import parse_args


def main(argv):
    args, job = parse_args(argv)
    if args.threads:
        # Polars sizes its thread pool once, on import.
        os.environ["POLARS_MAX_THREADS"] = str(args.threads)
    import polars as pl
    import polars_hash  # noqa: F401  (registers the .chash namespace)

    job.out.mkdir(parents=True, exist_ok=True)
    as_of = pl.lit(job.as_of).dt.replace_time_zone("UTC")
    flags = pl.DataFrame(job.objection_flags(), schema_overrides={"person_id": pl.String}).lazy()
    persons = pl.scan_parquet(job.data / "persons.parquet").select("person_id", "birth_date", "country")
    items = pl.scan_parquet(job.data / "items.parquet").select(
        "item_id", "person_id", "platform", "kind", "audience", "created_at", "deleted_at", "text", "lang",
        "media_sha256",
    )
    created = pl.col("created_at").dt.date()
    birth = pl.col("birth_date")
    age = (
        created.dt.year().cast(pl.Int32)
        - birth.dt.year().cast(pl.Int32)
        - ((created.dt.month().cast(pl.Int32) * 100 + created.dt.day())
           < (birth.dt.month().cast(pl.Int32) * 100 + birth.dt.day())).cast(pl.Int32)
    )
    objected = pl.col("obj_all").fill_null(False)
    for platform in ["facebook", "instagram", "whatsapp"]:
        objected = objected | ((pl.col("platform") == platform) & pl.col(f"obj_{platform}").fill_null(False))
    reason = (
        pl.when(pl.col("created_at") > as_of).then(pl.lit("not_yet_created"))
        .when(pl.col("deleted_at") <= as_of).then(pl.lit("deleted"))
        .when(~(pl.col("platform") + "/" + pl.col("kind")).is_in(job.allowed_pairs)).then(pl.lit("out_of_scope"))
        .when(~pl.col("audience").is_in(job.audiences)).then(pl.lit("not_public"))
        .when(birth.is_null()).then(pl.lit("age_unknown"))
        .when(age < job.min_age).then(pl.lit("minor"))
    )
    if job.regions:
        reason = reason.when(pl.col("country").is_null() | ~pl.col("country").is_in(job.regions)).then(
            pl.lit("out_of_region")
        )
    reason = reason.when(objected).then(pl.lit("objection")).otherwise(pl.lit(None, dtype=pl.String))
    judged = (
        items.join(persons, on="person_id", how="inner")
        .join(flags, on="person_id", how="left")
        .with_columns(reason=reason)
        .select("item_id", "person_id", "platform", "kind", "lang", "media_sha256", "text", "reason")
        .collect(engine="streaming")
    )

    text = pl.col("text")
    for pattern, placeholder in job.redactions:
        # ASCII word boundaries, like veto's and like RE2's in DuckDB.
        text = text.str.replace_all(pattern.replace(r"\b", r"(?-u:\b)"), placeholder)
    byte = {i: bytes([i]) for i in range(256)}

    def field(name):
        col = pl.col(name)
        n = col.str.len_bytes().cast(pl.UInt32)
        length = pl.lit(b"\x01")
        for shift in (24, 16, 8, 0):
            length = length + ((n // (1 << shift)) % 256).replace_strict(byte, return_dtype=pl.Binary)
        return pl.when(col.is_null()).then(pl.lit(b"\x00")).otherwise(length + col.cast(pl.Binary))

    def hmac(prefix, name):
        inner = (pl.lit(job.ipad + prefix) + pl.col(name).cast(pl.Binary)).chash.sha2_256().str.decode("hex")
        return (pl.lit(job.opad) + inner).chash.sha2_256()

    included = (
        judged.lazy()
        .filter(pl.col("reason").is_null())
        .with_columns(
            text=text,
            doc_id=hmac(b"veto/doc_id/v1\0", "item_id").str.slice(0, 32),
            shard=(hmac(b"veto/shard/v1\0", "person_id").str.slice(0, 16).str.to_integer(base=16, dtype=pl.UInt64)
                   % job.shards).cast(pl.UInt32),
        )
        .with_columns(
            leaf_hash=(pl.lit(b"\x00") + field("doc_id") + field("text") + field("platform") + field("kind")
                       + field("lang") + field("media_sha256")).chash.sha2_256().str.decode("hex")
        )
        .sort("shard", "doc_id")
        .collect(engine="streaming")
    )
    shard_rows = {}
    for (shard,), part in included.partition_by("shard", as_dict=True, maintain_order=True).items():
        directory = job.out / "shards" / f"shard={shard}"
        directory.mkdir(parents=True, exist_ok=True)
        part.select("doc_id", "text", "platform", "kind", "lang", "media_sha256").write_parquet(
            directory / "data.parquet", compression="zstd"
        )
        shard_rows[str(shard)] = part.height
    included.select("item_id", "person_id", "doc_id", "shard", "leaf_hash", "platform", "kind").write_parquet(
        job.out / "index.parquet", compression="zstd"
    )
    excluded = judged.filter(pl.col("reason").is_not_null()).select("item_id", "person_id", "reason").sort("item_id")
    excluded.write_parquet(job.out / "exclusions.parquet", compression="zstd")
    by_reason = dict(excluded.group_by("reason").len().iter_rows())
    job.write_counts(by_reason, included.height, dict(sorted(shard_rows.items(), key=lambda kv: int(kv[0]))))


if __name__ == "__main__":
    main(sys.argv[1:])
