"""The build job, stated once for the peer programs (DuckDB and Polars).

This is an independent restatement of what `veto build` does, written from the
documented contract (docs/export-format.md, docs/snapshot-format.md and the
policy preset), so the peers compute the same result without calling veto:

* the seven eligibility rules in veto's order, first failing rule wins;
* the four redaction patterns of veto_core::redact, applied one after another
  (email, IBAN, phone, mention). The peers do not run veto's mod-97 IBAN check
  or its 7..15 digit check on phone numbers: neither engine can do that inside
  a regex replacement, and skipping it only makes the peers' job cheaper;
* doc_id = first 16 bytes of HMAC-SHA-256(secret, "veto/doc_id/v1\\0" || item_id),
  shard = first 8 bytes (big-endian) of HMAC-SHA-256(secret,
  "veto/shard/v1\\0" || person_id) modulo the shard count;
* leaf_hash = SHA-256(0x00 || canonical row bytes), RFC 6962.
"""

import datetime as dt
import json
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PRESETS = REPO / "crates" / "veto-core" / "src" / "presets"

EMAIL = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
IBAN = r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{1,4}){3,8}\b"
PHONE = (
    r"(?:\+|\b00)[1-9][0-9]{0,2}[ ./\-]?(?:\(0\)[ ]?)?[0-9]{1,5}(?:[ ./\-]?[0-9]{2,8}){1,4}\b"
    r"|(?:\(0[0-9]{2,5}\)|\b0[0-9]{2,5})[ /\-]?[0-9]{2,9}(?:[ \-]?[0-9]{1,6}){0,3}\b"
)
MENTION = r"@[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])?"


class Job:
    def __init__(self, data, policy, as_of, secret_hex, shards, out):
        self.data = Path(data)
        self.out = Path(out)
        self.shards = int(shards)
        self.as_of = dt.datetime.fromisoformat(as_of).astimezone(dt.timezone.utc)
        path = Path(policy) if Path(policy).is_file() else PRESETS / f"{policy}.toml"
        self.policy = tomllib.loads(path.read_text())
        switches = self.policy.get("redaction", {})
        self.redactions = [
            (pattern, placeholder)
            for key, pattern, placeholder in [
                ("emails", EMAIL, "[EMAIL]"),
                ("ibans", IBAN, "[IBAN]"),
                ("phones", PHONE, "[PHONE]"),
                ("mentions", MENTION, "[MENTION]"),
            ]
            if switches.get(key, True)
        ]
        secret = bytes.fromhex(secret_hex)
        key = secret.ljust(64, b"\0") if len(secret) <= 64 else None
        assert key is not None, "secrets longer than one SHA-256 block are not used by veto"
        self.ipad = bytes(b ^ 0x36 for b in key)
        self.opad = bytes(b ^ 0x5C for b in key)
        self.secret = secret

    @property
    def allowed_pairs(self):
        return sorted(f"{p}/{k}" for p, kinds in self.policy["scope"].items() for k in kinds)

    @property
    def audiences(self):
        audiences = ["public"]
        if self.policy.get("assistant_chats") == "train":
            audiences.append("assistant")
        return audiences

    @property
    def regions(self):
        return list(self.policy.get("regions", []))

    @property
    def min_age(self):
        return int(self.policy["min_age"])

    def objection_flags(self):
        """Per person: which scopes have an objection in force at as-of."""
        flags = {}
        path = self.data / "objections.jsonl"
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            o = json.loads(line)
            filed = dt.datetime.fromisoformat(o["filed_at"])
            withdrawn = o.get("withdrawn_at")
            if filed > self.as_of:
                continue
            if withdrawn and dt.datetime.fromisoformat(withdrawn) <= self.as_of:
                continue
            flags.setdefault(o["person_id"], set()).add(o["scope"])
        scopes = ["all", "facebook", "instagram", "whatsapp"]
        return {
            "person_id": list(flags),
            **{f"obj_{s}": [s in v for v in flags.values()] for s in scopes},
        }

    def write_counts(self, by_reason, included, shard_rows):
        """What the cross-check compares: counts by reason and per shard."""
        (self.out / "counts.json").write_text(
            json.dumps({"included": included, "excluded_by_reason": by_reason, "shard_rows": shard_rows}, indent=1)
        )


def parse_args(argv):
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--policy", default="meta-2025")
    ap.add_argument("--as-of", required=True)
    ap.add_argument("--secret-hex", required=True)
    ap.add_argument("--shards", type=int, default=16)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    job = Job(args.data, args.policy, args.as_of, args.secret_hex, args.shards, args.out)
    return args, job
