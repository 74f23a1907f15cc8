"""Recall and false positives of the redaction engine on the labelled corpus.

``tests/redaction_corpus/make_corpus.py`` writes the corpus deterministically:
positives of every detector (and key rules), built from the families'
specifications, each as written and inside a log line, a stack trace, SQL, a JSON
body and a percent-encoded URL; realistic negatives (UUIDs, trace and span ids, git
SHAs, base64 images, timestamps, versions, long numbers failing Luhn, identifiers
failing their check digits, placeholders, prose). Targets: recall >= 99%, false
positives <= 1%, overall and per family; the test prints both per family.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

from otel_errors._internal.scrubbing import DROP, RedactionConfig, Redactor
from otel_errors._internal.scrubbing.detectors import DETECTORS

CORPUS = Path(__file__).parent / "redaction_corpus"
OPTIONAL = {"phone", "ip_address"}


def load(name: str) -> list[dict[str, str]]:
    lines = (CORPUS / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _table(counts: dict[str, list[int]]) -> str:
    return "\n".join(
        f"  {name:22} {hits / total:7.2%} of {total}"
        for name, (hits, total) in sorted(counts.items())
    )


def test_corpus_recall_and_false_positives(capsys):
    """Every family is caught in every carrier and look-alikes stay, at the stated rates."""
    default = Redactor(RedactionConfig.build(hash_key="corpus"))
    extra = Redactor(RedactionConfig.build(hash_key="corpus", extra_detectors=sorted(OPTIONAL)))
    positives, negatives = load("positives.jsonl"), load("negatives.jsonl")
    assert len(positives) >= 300
    assert len(negatives) >= 300
    covered = Counter(p["detector"] for p in positives)
    assert {d.name for d in DETECTORS} <= set(covered), covered

    missed = []
    recall_by: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in positives:
        redactor = extra if row["detector"] in OPTIONAL else default
        if "key" in row:
            value, _ = redactor.redact_value(row["key"], row["text"])
            exported = "" if value is DROP else str(value)
        else:
            exported, _ = redactor.redact_text(row["text"])
        hit = row["secret"] not in exported
        for name in (row["detector"], f"carrier:{row.get('carrier', 'key')}"):
            recall_by[name][0] += hit
            recall_by[name][1] += 1
        if not hit:
            missed.append(row)
    flagged = []
    flagged_by: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in negatives:
        changed = default.redact_text(row["text"])[0] != row["text"]
        flagged_by[row["kind"]][0] += changed
        flagged_by[row["kind"]][1] += 1
        if changed:
            flagged.append(row)

    recall = 1 - len(missed) / len(positives)
    false_positives = len(flagged) / len(negatives)
    with capsys.disabled():
        print(
            f"\nredaction corpus: recall {recall:.2%} of {len(positives)} positives, "
            f"false positives {false_positives:.2%} of {len(negatives)} negatives\n"
            f"recall by family and carrier:\n{_table(recall_by)}\n"
            f"false positives by kind of negative:\n{_table(flagged_by)}"
        )
    assert recall >= 0.99, missed[:5]
    assert false_positives <= 0.01, flagged[:5]
    assert all(hits / total >= 0.95 for hits, total in recall_by.values()), missed[:5]
