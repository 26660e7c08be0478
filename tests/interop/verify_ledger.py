"""Verifies a veto ledger export without veto: the hash chain, key rotations
and the signed head. Usage: verify_ledger.py LEDGER.jsonl [GENESIS_KEY_HEX]"""
import hashlib
import json
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def canonical(value):
    # RFC 8785 (JCS) for format 2, the legacy form for format 1: for the
    # strings and integers veto's payloads hold, both are exactly this. (JCS
    # sorts keys by UTF-16 code units, Python by code points; they differ
    # only for keys mixing characters above U+FFFF with U+E000..U+FFFF.)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError(f"duplicate key in {keys}")
    return dict(pairs)


def check_signature(key_hex, signature_hex, message):
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(key_hex)).verify(bytes.fromhex(signature_hex), message.encode())


def main(path, trusted_key=None):
    lines = [json.loads(line, object_pairs_hook=no_duplicates) for line in open(path, encoding="utf-8") if line.strip()]
    head = lines.pop()["head"]
    if lines[0]["kind"] != "ledger_created":
        sys.exit("entry 0 is not ledger_created")
    key = lines[0]["payload"]["public_key"]
    if trusted_key and trusted_key != key:
        sys.exit("the genesis key is not the trusted key")
    prev = "0" * 64
    for position, entry in enumerate(lines):
        if entry["seq"] != position:
            sys.exit(f"entry {position}: seq is {entry['seq']} (dropped, added or moved)")
        if entry["prev"] != prev:
            sys.exit(f"entry {position}: prev does not link to the entry before")
        # The hash covers every field but itself: seq, kind, at, payload,
        # prev, and from format 2 on "format": 2.
        fields = {"format", "seq", "kind", "at", "payload", "prev", "hash"}
        if entry.get("format", 1) not in (1, 2) or set(entry) - fields:
            sys.exit(f"entry {position}: not a veto ledger entry (format 1 or 2)")
        body = {field: value for field, value in entry.items() if field != "hash"}
        if hashlib.sha256(canonical(body).encode()).hexdigest() != entry["hash"]:
            sys.exit(f"entry {position}: hash does not match its content")
        if entry["kind"] == "key_rotated":
            new_key = entry["payload"]["public_key"]
            check_signature(key, entry["payload"]["signature_by_previous_key"], f"veto-key-rotation/v1\n{new_key}")
            key = new_key
        prev = entry["hash"]
    if head["seq"] != lines[-1]["seq"] or head["hash"] != prev:
        sys.exit("the signed head is not the last entry")
    if head["public_key"] != key:
        sys.exit("the head is signed by a key not in force")
    check_signature(key, head["signature"], f"veto-ledger-head/v1\n{head['seq']}\n{head['hash']}")
    print(f"ok: {len(lines)} entries, head {head['seq']} signed by {key}")


if __name__ == "__main__":
    try:
        main(*sys.argv[1:3])
    except Exception as error:  # a bad signature raises InvalidSignature
        sys.exit(f"ledger does not verify: {error!r}")
