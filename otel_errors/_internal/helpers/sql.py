"""SQL statements and database error texts with their literals replaced by placeholders.

A failing statement is the most useful fact about a database error and the most
dangerous one: literals in it are user data (emails, tokens, amounts). What we
export keeps the shape of the statement and drops every value:

- string literals (``'...'``, ``E'...'`` with backslash escapes, ``B''``/``X''``/
  ``N''``/``U&''``), dollar-quoted bodies (``$$...$$``, ``$tag$...$tag$``), numbers and
  hex/binary/octal literals become ``?``;
- comments (``--``, ``/* */``) are dropped: they may hold anything, including the
  ``traceparent`` that sqlcommenter appends;
- lists of placeholders collapse (``IN (?, ?, ?)`` to ``IN (?)``, multi-row
  ``VALUES`` to one row), so one statement shape is one value, whatever the list length;
- identifiers, double-quoted identifiers, keywords and bind placeholders (``%s``,
  ``%(name)s``, ``$1``, ``:name``, ``?``) stay.

An unterminated literal or comment hides everything after it, so a statement cut
short (by us or by the driver) cannot leak its tail. Work is bounded: at most
:data:`MAX_SCAN` characters are read and :data:`MAX_LENGTH` returned.

Why not a library: ``sqlparse`` parses far more than needed, is slow on large
statements and leaves literals in place; the semantic conventions only ask for the
literals to go, which a single regular-expression pass does in linear time.

Database error texts need the same care. PostgreSQL puts values into them: the
``DETAIL`` of a constraint violation (``Key (email)=(alice@example.com) already
exists``), the failing statement as ``LINE 1: ...`` (with psycopg2's client-side
parameters already inlined), ``CONTEXT``/``QUERY`` lines of PL/pgSQL; SQLAlchemy adds
``[SQL: ...]`` and ``[parameters: ...]``. :func:`sanitize_error_text` rewrites those
lines (in a message or in a whole stack trace) and leaves the rest as it is.
"""

from __future__ import annotations

import re

MAX_SCAN = 65536
"""Characters of a statement that are read; the rest is treated as unread and hidden."""
MAX_LENGTH = 2048
"""Longest sanitized statement returned."""
PLACEHOLDER = "?"

_TRUNCATED = "…"
_TOKENS = re.compile(
    r"""
      (?P<line_comment>--[^\n]*)
    | (?P<block_comment>/\*.*?(?:\*/|\Z))
    | (?P<dollar>\$(?P<tag>[A-Za-z_][A-Za-z_0-9]*|)\$.*?(?:\$(?P=tag)\$|\Z))
    | (?P<escape_string>(?<![\w$])[Ee]'(?:[^'\\]|\\.|'')*(?:'|\Z))
    | (?P<string>(?:(?<![\w$])(?:[BbXxNn]|[Uu]&))?'(?:[^']|'')*(?:'|\Z))
    | (?P<identifier>"(?:[^"]|"")*(?:"|\Z))
    | (?P<bind>\$\d+|%\([^)]*\)s|%s|:[A-Za-z_][A-Za-z_0-9]*|::)
    | (?P<number>
          \b0[xXoObB][0-9a-fA-F_]+\b
        | (?<![\w$])(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\b
      )
    """,
    re.VERBOSE | re.DOTALL,
)
_PLACEHOLDER_TUPLE = r"\(\s*\?(?:\s*,\s*\?)*\s*\)"
_IN_LIST = re.compile(r"(\bIN\s*)\(\s*\?(?:\s*,\s*\?)+\s*\)", re.IGNORECASE)
_VALUES_ROWS = re.compile(rf"({_PLACEHOLDER_TUPLE})(?:\s*,\s*{_PLACEHOLDER_TUPLE})+")
_SPACES = re.compile(r"\s+")
_LEADING = re.compile(r"^(?:\s+|--[^\n]*|/\*.*?\*/)+", re.DOTALL)
_FIRST_WORD = re.compile(r"[A-Za-z]+")


def _replace(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind in ("line_comment", "block_comment"):
        return " "
    if kind in ("identifier", "bind"):
        return match.group()
    return PLACEHOLDER


def sanitize_statement(statement: str, *, max_length: int = MAX_LENGTH) -> str:
    """``statement`` without literals or comments, whitespace collapsed, at most ``max_length``.

    >>> sanitize_statement("SELECT * FROM users WHERE email = 'a@b.c' AND id IN (1, 2, 3)")
    'SELECT * FROM users WHERE email = ? AND id IN (?)'
    """
    scanned = statement[:MAX_SCAN]
    if len(statement) > MAX_SCAN:
        # What was not read is not shown: an open literal there would be leaked.
        scanned += " " + _TRUNCATED
    text = _TOKENS.sub(_replace, scanned)
    text = _IN_LIST.sub(r"\1(?)", text)
    text = _VALUES_ROWS.sub(r"\1", text)
    text = _SPACES.sub(" ", text).strip()
    if len(text) > max_length:
        text = text[: max(max_length - len(_TRUNCATED), 0)] + _TRUNCATED
    return text


def operation_name(statement: str) -> str | None:
    """The first keyword of ``statement`` after comments (``SELECT``), as written, or None."""
    head = _LEADING.sub("", statement[:MAX_SCAN], count=1)
    match = _FIRST_WORD.match(head)
    return match.group() if match else None


# --- error texts ---------------------------------------------------------------------

_KEY_DETAIL = re.compile(
    r"^(DETAIL:\s+Key \(.*?\)=\().*(\)\s+(?:already exists|is not present in table|"
    r"is still referenced from table|conflicts with existing key).*)$"
)
_ROW_DETAIL = re.compile(r"^(DETAIL:\s+Failing row contains \().*(\)\.?)$")
_PROSE_LINE = re.compile(r"^(?:DETAIL|CONTEXT|WHERE|HINT):")
_PROSE_VALUES = re.compile(r"'(?:[^']|'')*(?:'|$)|(?<![\w$])\d+(?:\.\d+)?\b")
_STATEMENT_LINE = re.compile(r"^((?:LINE \d+|QUERY):\s+)(.*)$")
_CARET_LINE = re.compile(r"^\s*\^\s*$")
_SQL_BLOCK = re.compile(r"\[SQL: (.*?)\](?=\n\[parameters|\n\(Background|\n|\Z)", re.DOTALL)
_PARAMETERS = re.compile(r"^\[parameters: .*$")
_HIDDEN_PARAMETERS = "[parameters: hidden by otel_errors]"


def _statement_block(match: re.Match[str]) -> str:
    return f"[SQL: {sanitize_statement(match.group(1))}]"


def sanitize_error_text(text: str) -> str:
    """A database error message or stack trace with the values in it replaced.

    Rewrites ``DETAIL``/``CONTEXT``/``HINT`` lines (keys, failing rows, quoted values
    and numbers), ``LINE n:``/``QUERY:`` statement lines (dropping the caret line that
    pointed into the original), SQLAlchemy's ``[SQL: ...]`` and ``[parameters: ...]``.
    Other lines, including the primary message, are kept.
    """
    if "[SQL: " in text:
        text = _SQL_BLOCK.sub(_statement_block, text)
    out: list[str] = []
    previous_was_statement = False
    for line in text.split("\n"):
        if previous_was_statement and _CARET_LINE.match(line):
            previous_was_statement = False
            continue
        previous_was_statement = False
        statement = _STATEMENT_LINE.match(line)
        if statement is not None:
            out.append(statement.group(1) + sanitize_statement(statement.group(2)))
            previous_was_statement = True
        elif _PARAMETERS.match(line):
            out.append(_HIDDEN_PARAMETERS)
        elif _PROSE_LINE.match(line):
            out.append(_sanitize_prose(line))
        else:
            out.append(line)
    return "\n".join(out)


def _sanitize_prose(line: str) -> str:
    for pattern in (_KEY_DETAIL, _ROW_DETAIL):
        match = pattern.match(line)
        if match is not None:
            return f"{match.group(1)}{PLACEHOLDER}{match.group(2)}"
    return _PROSE_VALUES.sub(PLACEHOLDER, line)
