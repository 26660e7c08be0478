"""The veto build job written in DuckDB SQL (peer program for bench/build-vs-peers).

Reads the export's Parquet tables and objections.jsonl, applies the policy's
rules, redaction, shard assignment and hashing (see spec.py), and writes
shards/shard=N/*.parquet (rows ordered by doc_id), index.parquet and
exclusions.parquet (ordered by item_id), zstd-compressed like veto's output.
"""

import sys

import duckdb
import pyarrow as pa

from spec import parse_args


def lit(b: bytes) -> str:
    return f"unhex('{b.hex()}')"


def field(expr: str) -> str:
    """veto's canonical field bytes: 0 for null, else 1, u32 BE length, UTF-8."""
    return (
        f"CASE WHEN {expr} IS NULL THEN unhex('00') "
        f"ELSE unhex('01' || printf('%08x', octet_length(encode({expr})))) || encode({expr}) END"
    )


def hmac(job, prefix: bytes, expr: str) -> str:
    inner = f"unhex(sha256({lit(job.ipad + prefix)} || encode({expr})))"
    return f"sha256({lit(job.opad)} || {inner})"


def main(argv):
    args, job = parse_args(argv)
    con = duckdb.connect()
    if args.threads:
        con.execute(f"SET threads = {args.threads}")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET temp_directory = '{job.out}/.tmp'")
    job.out.mkdir(parents=True, exist_ok=True)

    flags = job.objection_flags()
    con.register("objections", pa.table(flags))
    t = job.as_of.strftime("%Y-%m-%d %H:%M:%S.%f+00")
    pairs = ", ".join(f"'{p}'" for p in job.allowed_pairs)
    audiences = ", ".join(f"'{a}'" for a in job.audiences)
    region_rule = ""
    if job.regions:
        regions = ", ".join(f"'{r}'" for r in job.regions)
        region_rule = f"WHEN p.country IS NULL OR p.country NOT IN ({regions}) THEN 'out_of_region'"
    text = "i.text"
    for pattern, placeholder in job.redactions:
        text = f"regexp_replace({text}, '{pattern}', '{placeholder}', 'g')"

    con.execute(f"""
        CREATE TEMP TABLE judged AS
        SELECT i.item_id, i.person_id, i.platform, i.kind, i.lang, i.media_sha256, i.text,
          CASE
            WHEN i.created_at > TIMESTAMPTZ '{t}' THEN 'not_yet_created'
            WHEN i.deleted_at <= TIMESTAMPTZ '{t}' THEN 'deleted'
            WHEN i.platform || '/' || i.kind NOT IN ({pairs}) THEN 'out_of_scope'
            WHEN i.audience NOT IN ({audiences}) THEN 'not_public'
            WHEN p.birth_date IS NULL THEN 'age_unknown'
            WHEN year(CAST(i.created_at AS DATE)) - year(p.birth_date)
                 - CASE WHEN month(CAST(i.created_at AS DATE)) * 100 + day(CAST(i.created_at AS DATE))
                             < month(p.birth_date) * 100 + day(p.birth_date) THEN 1 ELSE 0 END
                 < {job.min_age} THEN 'minor'
            {region_rule}
            WHEN o.obj_all OR (i.platform = 'facebook' AND o.obj_facebook)
                 OR (i.platform = 'instagram' AND o.obj_instagram)
                 OR (i.platform = 'whatsapp' AND o.obj_whatsapp) THEN 'objection'
          END AS reason
        FROM read_parquet('{job.data}/items.parquet') i
        JOIN read_parquet('{job.data}/persons.parquet') p ON i.person_id = p.person_id
        LEFT JOIN objections o ON i.person_id = o.person_id
    """)
    doc_id = hmac(job, b"veto/doc_id/v1\0", "item_id")
    shard = hmac(job, b"veto/shard/v1\0", "person_id")
    redacted = text.replace("i.text", "text")
    con.execute(f"""
        CREATE TEMP TABLE included AS
        WITH r AS (
          SELECT item_id, person_id, platform, kind, lang, media_sha256,
                 {redacted} AS text,
                 substr({doc_id}, 1, 32) AS doc_id,
                 CAST(('0x' || substr({shard}, 1, 16)) AS UBIGINT)
                   % {job.shards} AS shard
          FROM judged WHERE reason IS NULL
        )
        SELECT *, unhex(sha256(unhex('00') || {field('doc_id')} || {field('text')} || {field('platform')}
                  || {field('kind')} || {field('lang')} || {field('media_sha256')})) AS leaf_hash
        FROM r
    """)
    opts = "FORMAT parquet, COMPRESSION zstd"
    con.execute(f"""
        COPY (SELECT shard, doc_id, text, platform, kind, lang, media_sha256 FROM included ORDER BY shard, doc_id)
        TO '{job.out}/shards' ({opts}, PARTITION_BY (shard))
    """)
    con.execute(f"""
        COPY (SELECT item_id, person_id, doc_id, CAST(shard AS UINTEGER) AS shard, leaf_hash, platform, kind
              FROM included ORDER BY shard, doc_id)
        TO '{job.out}/index.parquet' ({opts})
    """)
    con.execute(f"""
        COPY (SELECT item_id, person_id, reason FROM judged WHERE reason IS NOT NULL ORDER BY item_id)
        TO '{job.out}/exclusions.parquet' ({opts})
    """)
    by_reason = dict(con.execute("SELECT reason, count(*) FROM judged WHERE reason IS NOT NULL GROUP BY 1").fetchall())
    shard_rows = dict(con.execute("SELECT shard, count(*) FROM included GROUP BY 1").fetchall())
    included = sum(shard_rows.values())
    job.write_counts(by_reason, included, {str(k): v for k, v in sorted(shard_rows.items())})


if __name__ == "__main__":
    main(sys.argv[1:])
