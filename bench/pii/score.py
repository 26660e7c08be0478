"""Recall per PII type and the share of harmless numbers kept, for veto's
redactor and (if it installs) Microsoft Presidio's pattern recognisers.

The posts are generated with Faker from many locales (phone numbers,
IBANs, emails, card numbers) plus hand-made German tax ids and disguised
emails, and harmless numbers (prices, dates, times, percentages, versions,
ISBNs, scores, large numbers) in German sentences. Nothing here is tuned to
either recogniser: the generators are Faker's own.

Usage: score.py VETO_BINARY [N_POSTS] [SEED]
"""

import json
import random
import subprocess
import sys

from faker import Faker

PHONE_LOCALES = [
    "de_DE", "de_AT", "de_CH", "fr_FR", "fr_CH", "it_IT", "es_ES", "nl_NL", "nl_BE",
    "pl_PL", "pt_PT", "sv_SE", "da_DK", "fi_FI", "cs_CZ", "sk_SK", "hu_HU", "ro_RO",
    "el_GR", "en_IE", "en_GB", "en_US", "en_CA",
]
IBAN_LOCALES = ["de_DE", "de_AT", "fr_FR", "it_IT", "es_ES", "nl_NL", "pl_PL", "en_GB"]
OPENERS = ["Heute war ein schöner Tag.", "Danke für eure Nachrichten!", "Kurze Info an alle:",
           "Wer hat Lust am Wochenende?", "Endlich Urlaub!", "Frage an die Gruppe:"]
CLOSERS = ["Bis bald!", "Liebe Grüße", "Meldet euch.", "Schönen Abend noch.", "Danke!"]


def steuer_id(rng):
    """A valid German tax id: ten digits (one repeated), ISO 7064 check digit."""
    while True:
        digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(9)]
        counts = [digits.count(d) for d in range(10)]
        if sum(1 for c in counts if c >= 2) != 1 or max(counts) > 3:
            continue
        product = 10
        for d in digits:
            s = (d + product) % 10 or 10
            product = (s * 2) % 11
        check = (11 - product) % 10
        return "".join(map(str, digits + [check]))


def disguised(email, rng):
    local, domain = email.split("@")
    at, dot = rng.choice([(" [at] ", " [dot] "), ("(at)", "(dot)"), (" at ", " dot "), (" [at] ", ".")])
    return local + at + domain.replace(".", dot)


def harmless(fake, rng):
    return rng.choice([
        lambda: f"{rng.randint(1, 999)},{rng.randint(0, 99):02d} €",
        lambda: fake.date(pattern="%d.%m.%Y"),
        lambda: f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d} Uhr",
        lambda: f"{rng.randint(1, 99)},{rng.randint(0, 9)} %",
        lambda: f"Version {rng.randint(1, 20)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}",
        lambda: "ISBN " + fake.isbn13(),
        lambda: f"{rng.randint(0, 7)}:{rng.randint(0, 7)}",
        lambda: f"{rng.randint(1, 999)}.{rng.randint(0, 999):03d}.{rng.randint(0, 999):03d} Einwohner",
        lambda: str(rng.randint(1950, 2030)),
    ])()


def posts(n, seed):
    rng = random.Random(seed)
    Faker.seed(seed)
    fakers = {loc: Faker(loc) for loc in set(PHONE_LOCALES + IBAN_LOCALES)}
    de = fakers["de_DE"]
    out = []
    for i in range(n):
        kind = ["phone", "iban", "email", "email_disguised", "card", "tax_id", "harmless", "harmless"][i % 8]
        if kind == "phone":
            value = fakers[rng.choice(PHONE_LOCALES)].phone_number()
        elif kind == "iban":
            value = fakers[rng.choice(IBAN_LOCALES)].iban()
            value = rng.choice([value, value.lower(), " ".join(value[j:j + 4] for j in range(0, len(value), 4))])
        elif kind == "email":
            value = de.email()
        elif kind == "email_disguised":
            value = disguised(de.email(), rng)
        elif kind == "card":
            value = de.credit_card_number()
        elif kind == "tax_id":
            value = steuer_id(rng)
        else:
            value = harmless(de, rng)
        text = f"{rng.choice(OPENERS)} {de.sentence(nb_words=6)} {value} {rng.choice(CLOSERS)}"
        out.append({"kind": kind, "value": value, "text": text})
    return out


def veto_redact(binary, texts):
    done = subprocess.run([binary, "redact"], input="\n".join(texts) + "\n", capture_output=True,
                          text=True, check=True)
    return done.stdout.split("\n")[: len(texts)]


def presidio_redact(texts):
    try:
        from presidio_analyzer.predefined_recognizers import (
            CreditCardRecognizer, EmailRecognizer, IbanRecognizer, PhoneRecognizer)
    except Exception as e:  # not installable here: say so
        print(f"presidio: not available ({e.__class__.__name__}: {e})", file=sys.stderr)
        return None
    recognisers = [EmailRecognizer(), PhoneRecognizer(), IbanRecognizer(), CreditCardRecognizer()]
    out = []
    for text in texts:
        spans = []
        for r in recognisers:
            for res in r.analyze(text, r.supported_entities, None) or []:
                spans.append((res.start, res.end))
        for start, end in sorted(spans, reverse=True):
            text = text[:start] + "<X>" + text[end:]
        out.append(text)
    return out


def score(rows, redacted):
    table = {}
    for row, out in zip(rows, redacted):
        kind = row["kind"]
        gone = row["value"] not in out
        t = table.setdefault(kind, [0, 0])
        t[0] += gone if kind != "harmless" else not gone
        t[1] += 1
    return {k: (v[0], v[1]) for k, v in sorted(table.items())}


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2400
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 7
    rows = posts(n, seed)
    texts = [r["text"] for r in rows]
    results = {"veto": score(rows, veto_redact(binary, texts))}
    p = presidio_redact(texts)
    if p is not None:
        results["presidio (pattern recognisers)"] = score(rows, p)
    kinds = sorted({r["kind"] for r in rows})
    print(f"{n} posts, seed {seed}; share redacted per PII type, share kept for harmless numbers")
    print("| type | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for k in kinds:
        cells = []
        for res in results.values():
            ok, total = res[k]
            cells.append(f"{100 * ok / total:.1f}% ({ok}/{total})")
        label = "harmless numbers kept" if k == "harmless" else k
        print(f"| {label} | " + " | ".join(cells) + " |")
    misses = [(r["kind"], r["value"]) for r, o in zip(rows, veto_redact(binary, texts))
              if (r["kind"] != "harmless") == (r["value"] in o)]
    print("\nveto's misses (first 25):")
    for kind, value in misses[:25]:
        print(f"  {kind}: {value!r}")
    json.dump(results, open("bench/work/pii-results.json", "w"), indent=1)


if __name__ == "__main__":
    main()
