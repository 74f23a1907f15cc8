"""Recall and false positives of the redaction engine on the labelled corpus.

``tests/redaction_corpus/make_corpus.py`` writes the corpus deterministically: at
least 300 positives across every detector (and key rules), 300 realistic
negatives (UUIDs, trace and span ids, git SHAs, base64 images, timestamps,
versions, long numbers failing Luhn, prose). Targets: recall >= 99%, false
positives <= 1%; the test prints both.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from otel_errors._internal.scrubbing import DROP, RedactionConfig, Redactor
from otel_errors._internal.scrubbing.detectors import DETECTORS

CORPUS = Path(__file__).parent / "redaction_corpus"
OPTIONAL = {"phone", "ip_address"}


def load(name: str) -> list[dict[str, str]]:
    lines = (CORPUS / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_corpus_recall_and_false_positives(capsys):
    default = Redactor(RedactionConfig.build(hash_key="corpus"))
    extra = Redactor(RedactionConfig.build(hash_key="corpus", extra_detectors=sorted(OPTIONAL)))
    positives, negatives = load("positives.jsonl"), load("negatives.jsonl")
    assert len(positives) >= 300
    assert len(negatives) >= 300
    covered = Counter(p["detector"] for p in positives)
    assert {d.name for d in DETECTORS} <= set(covered), covered

    missed = []
    for row in positives:
        redactor = extra if row["detector"] in OPTIONAL else default
        if "key" in row:
            value, _ = redactor.redact_value(row["key"], row["text"])
            exported = "" if value is DROP else str(value)
        else:
            exported, _ = redactor.redact_text(row["text"])
        if row["secret"] in exported:
            missed.append(row)
    flagged = [row for row in negatives if default.redact_text(row["text"])[0] != row["text"]]

    recall = 1 - len(missed) / len(positives)
    false_positives = len(flagged) / len(negatives)
    with capsys.disabled():
        print(
            f"\nredaction corpus: recall {recall:.2%} of {len(positives)} positives, "
            f"false positives {false_positives:.2%} of {len(negatives)} negatives"
        )
    assert recall >= 0.99, missed[:5]
    assert false_positives <= 0.01, flagged[:5]
