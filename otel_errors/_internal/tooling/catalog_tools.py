"""``otel-errors catalog check`` and ``catalog docs``: keeping codes stable and documented.

A code is a contract with dashboards, alert rules and API clients. Removing it, or
giving it a different meaning, breaks them silently; this check makes that loud.
"Different meaning" is judged from the fields clients act on (category, kind, HTTP
status, retryable) and from the title: a title that shares less than half of its
words with the old one is a re-purposed code, a smaller change is a rewording.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from otel_errors._internal.model.catalog import Catalog, ErrorCode

_CONTRACT_FIELDS = ("category", "kind", "http_status", "retryable")
_NOTICE_FIELDS = ("severity", "message", "action", "runbook")
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Change:
    """One difference between two catalogues."""

    code: str
    breaking: bool
    what: str


def compare(old: Catalog, new: Catalog) -> list[Change]:
    """Every difference between ``old`` and ``new``, breaking ones first."""
    changes: list[Change] = []
    for entry in old:
        after = new.get(entry.code)
        if after is None:
            changes.append(Change(entry.code, breaking=True, what="removed"))
            continue
        changes.extend(_field_changes(entry, after))
    changes.extend(
        Change(entry.code, breaking=False, what="added") for entry in new if entry.code not in old
    )
    return sorted(changes, key=lambda c: (not c.breaking, c.code))


def _field_changes(old: ErrorCode, new: ErrorCode) -> list[Change]:
    changes: list[Change] = []
    for name in _CONTRACT_FIELDS:
        before, after = _show(getattr(old, name)), _show(getattr(new, name))
        if before != after:
            changes.append(
                Change(old.code, breaking=True, what=f"re-purposed: {name} {before} -> {after}")
            )
    if old.title != new.title:
        breaking = _word_overlap(old.title, new.title) < 0.5  # noqa: PLR2004 - see module docstring
        label = "re-purposed" if breaking else "reworded"
        changes.append(
            Change(
                old.code, breaking=breaking, what=f"{label}: title {old.title!r} -> {new.title!r}"
            )
        )
    for name in _NOTICE_FIELDS:
        before, after = _show(getattr(old, name)), _show(getattr(new, name))
        if before != after:
            changes.append(
                Change(old.code, breaking=False, what=f"changed: {name} {before} -> {after}")
            )
    return changes


def _show(value: object) -> str:
    return str(getattr(value, "value", value))


def _word_overlap(a: str, b: str) -> float:
    words_a, words_b = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    if not words_a or not words_b:
        return 0.0
    return len(words_a & words_b) / len(words_a | words_b)


def render_markdown(catalog: Catalog, title: str = "Error catalogue") -> str:
    """The catalogue as Markdown: one section per area, one table row per code."""
    areas: dict[str, list[ErrorCode]] = {}
    for entry in catalog:
        areas.setdefault(entry.code.split("-")[0], []).append(entry)
    lines = [f"# {title}", "", f"{len(catalog)} codes.", ""]
    for area in sorted(areas):
        lines += [
            f"## {area}",
            "",
            (
                "| code | title | severity | category | kind | retryable | HTTP | public message "
                "| suggested action | runbook |"
            ),
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for e in areas[area]:
            # The anchor is what alerts link to when the code has no runbook of its own.
            runbook = f'<a id="{code_anchor(e.code)}"></a>'
            runbook += f"[runbook]({e.runbook})" if e.runbook else ""
            cells = [
                f"`{e.code}`",
                e.title,
                e.severity.value,
                e.category.value,
                e.kind.value,
                "yes" if e.is_retryable else "no",
                str(e.http_status),
                e.message,
                e.action,
                runbook,
            ]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def code_anchor(code: str) -> str:
    """The anchor of a code's row in the Markdown docs (``#pay-001``)."""
    return code.lower()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
