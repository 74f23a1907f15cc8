"""Counts what each redaction rule masks in real text that nobody labelled.

Run it from the repository: ``python tests/redaction_corpus/real_text.py [RULE ...]``.
It reads every line of the sources and documentation of the installed dependencies
(the active environment's ``site-packages``: millions of lines of code, docs and test
fixtures written by others), redacts each one as a one-line text and prints how many
lines each rule fired on; for each RULE named, twelve of its lines as redacted.

The corpus files measure recall and false positives against labels; this measures
where the detectors fire on prose and code nobody wrote for them, which is how the
false positives fixed in issue 13's last round were found (decimal numbers taken for
cards, ``basic configuration.`` for credentials, type annotations for passwords).
"""

from __future__ import annotations

import random
import sys
import sysconfig
from collections import Counter, defaultdict
from pathlib import Path

from otel_errors._internal.scrubbing import RedactionConfig, Redactor

SUFFIXES = frozenset({".py", ".txt", ".md", ".rst", ".json", ".cfg", ".toml"})
SHOWN = 12


def main(shown_rules: set[str]) -> None:
    """Prints the lines read, the firings per rule and samples of ``shown_rules``."""
    redactor = Redactor(RedactionConfig.build(hash_key="real-text"))
    root = Path(sysconfig.get_paths()["purelib"])
    fired_on: Counter[str] = Counter()
    samples: defaultdict[str, list[str]] = defaultdict(list)
    lines = 0
    for path in sorted(root.rglob("*")):
        if path.suffix not in SUFFIXES or not path.is_file():
            continue
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for line in text.splitlines():
            lines += 1
            redacted, rules = redactor.redact_text(line)
            for rule in set(rules):
                fired_on[rule] += 1
                if rule in shown_rules:
                    samples[rule].append(redacted.strip()[:150])
    print(f"{lines} lines of {root}")
    for rule, count in sorted(fired_on.items()):
        print(f"  {rule:16} {count}")
    chooser = random.Random(1)  # a sample to read, the same one each run
    for rule in sorted(shown_rules):
        print(f"\n{rule}:")
        for line in chooser.sample(samples[rule], min(SHOWN, len(samples[rule]))):
            print("  " + line)


if __name__ == "__main__":
    main(set(sys.argv[1:]))
