"""The error catalogue: stable codes with their meaning, declared in Python or TOML.

A code is a promise to dashboards, alert rules and API clients, so the catalogue
rejects anything ambiguous at load time (duplicate or malformed codes, unknown
fields, bad enum values) with an error that names the file and the code.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from otel_errors._internal.helpers import locks
from otel_errors._internal.names import UNKNOWN_CODE

if TYPE_CHECKING:
    import threading
    from collections.abc import Iterable, Iterator, Mapping

CODE_PATTERN = re.compile(r"^[A-Z][A-Z0-9]{0,11}-[0-9]{3,4}$")
"""``AREA-NNN`` or ``AREA-NNNN``: an upper-case area of up to 12 characters and a number."""


class CatalogError(ValueError):
    """A catalogue entry or file is invalid; the message names the code and the source."""


class Severity(str, enum.Enum):
    """How urgently a human must act: P1 pages now, P4 shows on dashboards only."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"

    @property
    def rank(self) -> int:
        """1 for P1 (most severe) to 4 for P4."""
        return int(self.value[1])


class Category(str, enum.Enum):
    """Whether the same operation may succeed later (transient) or never will (permanent)."""

    TRANSIENT = "transient"
    PERMANENT = "permanent"


class Kind(str, enum.Enum):
    """An expected failure of the world (operational) or a bug in the code (programmer)."""

    OPERATIONAL = "operational"
    PROGRAMMER = "programmer"


@dataclass(frozen=True)
class ErrorCode:
    """One entry of the catalogue.

    Only ``code`` and ``title`` are required; the rest has defaults that suit an
    unexpected server-side failure.
    """

    code: str
    """Stable identifier, ``AREA-NNN`` (``PAY-002``, ``DB-1002``)."""
    title: str
    """Short human summary, used in problem responses, alerts and docs."""
    message: str = ""
    """Public message safe to show to API clients; defaults to the title."""
    http_status: int = 500
    """HTTP status an API answers with when this error ends a request."""
    severity: Severity = Severity.P3
    """P1 (page now) to P4 (dashboards only)."""
    category: Category = Category.PERMANENT
    """transient (may succeed later) or permanent."""
    kind: Kind = Kind.OPERATIONAL
    """operational (expected failure) or programmer (bug)."""
    retryable: bool | None = None
    """Whether retrying the same call can help; defaults to ``category == transient``."""
    action: str = ""
    """Suggested action for the on-call engineer."""
    runbook: str = ""
    """Runbook URL."""
    match: tuple[str, ...] = ()
    """Qualified exception class names (``stripe.error.CardError``) that map to this code."""

    def __post_init__(self) -> None:
        """Validates the fields and normalises enum values given as strings."""
        if self.code != UNKNOWN_CODE and not CODE_PATTERN.match(self.code):
            raise CatalogError(
                f"malformed error code {self.code!r}: expected AREA-NNN "
                "(upper-case area, a dash, 3 or 4 digits), e.g. 'PAY-002'"
            )
        if not isinstance(self.title, str) or not self.title.strip():
            raise CatalogError(f"error code {self.code!r}: title must be a non-empty string")
        object.__setattr__(self, "severity", _enum(Severity, self.severity, self.code))
        object.__setattr__(self, "category", _enum(Category, self.category, self.code))
        object.__setattr__(self, "kind", _enum(Kind, self.kind, self.code))
        if not isinstance(self.http_status, int) or not 100 <= self.http_status <= 599:  # noqa: PLR2004
            raise CatalogError(
                f"error code {self.code!r}: http_status {self.http_status!r} is not 100..599"
            )
        if self.retryable is None:
            object.__setattr__(self, "retryable", self.category is Category.TRANSIENT)
        if not isinstance(self.retryable, bool):
            raise CatalogError(f"error code {self.code!r}: retryable must be true or false")
        if not self.message:
            object.__setattr__(self, "message", self.title)
        object.__setattr__(self, "match", tuple(self.match))

    @property
    def is_retryable(self) -> bool:
        """``retryable`` as a plain bool (it is never None after construction)."""
        return bool(self.retryable)

    def to_dict(self) -> dict[str, Any]:
        """The entry as TOML-compatible plain values (without the code itself)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "code":
                continue
            value = getattr(self, f.name)
            if isinstance(value, enum.Enum):
                value = value.value
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


def _enum(cls: type[enum.Enum], value: object, code: str) -> Any:
    if isinstance(value, cls):
        return value
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in cls)
        raise CatalogError(
            f"error code {code!r}: {cls.__name__.lower()} {value!r} is not one of {allowed}"
        ) from None


UNKNOWN = ErrorCode(
    code=UNKNOWN_CODE,
    title="Unclassified error",
    message="An unexpected error occurred.",
    severity=Severity.P2,
    category=Category.PERMANENT,
    kind=Kind.PROGRAMMER,
    retryable=False,
    action="Classify this exception: register a matcher or raise an AppError with a code.",
)

_FIELDS = frozenset(f.name for f in dataclasses.fields(ErrorCode)) - {"code"}


@dataclass
class Catalog:
    """A set of error codes; adding a code twice with different content is an error."""

    _codes: dict[str, ErrorCode] = field(default_factory=dict)
    _sources: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=locks.lock, repr=False, compare=False)

    def add(self, entry: ErrorCode, *, source: str = "python") -> ErrorCode:
        """Adds ``entry``; an identical re-declaration is accepted and returns the existing one.

        Raises:
            CatalogError: the code exists with a different definition.
        """
        with self._lock:
            existing = self._codes.get(entry.code)
            if existing is not None:
                if existing == entry:
                    return existing
                raise CatalogError(
                    f"duplicate error code {entry.code!r}: defined in {self._sources[entry.code]} "
                    f"and again, differently, in {source}"
                )
            self._codes[entry.code] = entry
            self._sources[entry.code] = source
            return entry

    def update(self, other: Catalog) -> None:
        """Adds every code of ``other`` (same duplicate rule as :meth:`add`)."""
        for entry in other:
            self.add(entry, source=other.source_of(entry.code))

    def override(self, entry: ErrorCode, *, source: str) -> None:
        """Replaces a code on purpose (an application redefining a shipped default)."""
        with self._lock:
            self._codes[entry.code] = entry
            self._sources[entry.code] = source

    def get(self, code: str) -> ErrorCode | None:
        """The entry for ``code``, or None."""
        return self._codes.get(code)

    def __getitem__(self, code: str) -> ErrorCode:
        """The entry for ``code``; ``KeyError`` if it is not in the catalogue."""
        return self._codes[code]

    def __contains__(self, code: object) -> bool:
        """Whether ``code`` is in the catalogue."""
        return code in self._codes

    def __iter__(self) -> Iterator[ErrorCode]:
        """Entries in code order."""
        return iter(sorted(self._codes.values(), key=lambda e: e.code))

    def __len__(self) -> int:
        """Number of codes."""
        return len(self._codes)

    def source_of(self, code: str) -> str:
        """Where ``code`` was declared (a file path or ``python``)."""
        return self._sources.get(code, "python")

    def copy(self) -> Catalog:
        """A shallow copy that can be changed independently."""
        new = Catalog()
        new._codes = dict(self._codes)
        new._sources = dict(self._sources)
        return new

    @classmethod
    def from_entries(cls, entries: Iterable[ErrorCode], *, source: str = "python") -> Catalog:
        """A catalogue holding ``entries``."""
        catalog = cls()
        for entry in entries:
            catalog.add(entry, source=source)
        return catalog

    @classmethod
    def from_toml(cls, path: str | Path) -> Catalog:
        """Loads a catalogue file.

        The file holds one table per code::

            [codes."PAY-002"]
            title = "Card declined"
            severity = "P3"
            match = ["stripe.error.CardError"]

        Raises:
            CatalogError: the file is missing, not TOML, or holds an invalid entry.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CatalogError(f"cannot read error catalogue {path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise CatalogError(f"error catalogue {path} is not UTF-8: {exc}") from None
        return cls.from_toml_text(text, source=str(path))

    @classmethod
    def from_toml_text(cls, text: str, *, source: str) -> Catalog:
        """Parses a catalogue document; ``source`` names it in error messages.

        The TOML parser is imported here: the registry reads the catalogues on first
        use, so start-up does not import it.
        """
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - exercised on Python 3.10 only
            import tomli as tomllib
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise CatalogError(f"error catalogue {source} is not valid TOML: {exc}") from None
        return cls.from_mapping(data, source=source)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str) -> Catalog:
        """Builds a catalogue from the parsed TOML structure (``{"codes": {code: {...}}}``)."""
        unknown_top = set(data) - {"codes"}
        if unknown_top:
            raise CatalogError(
                f"error catalogue {source}: unknown top-level keys {sorted(unknown_top)}; "
                'expected only [codes."AREA-NNN"] tables'
            )
        codes = data.get("codes", {})
        if not isinstance(codes, dict):
            raise CatalogError(f"error catalogue {source}: 'codes' must be a table")
        catalog = cls()
        for code, fields in codes.items():
            if not isinstance(fields, dict):
                raise CatalogError(f"error catalogue {source}: code {code!r} must be a table")
            unknown = set(fields) - _FIELDS
            if unknown:
                raise CatalogError(
                    f"error catalogue {source}: code {code!r} has unknown fields "
                    f"{sorted(unknown)}; allowed: {sorted(_FIELDS)}"
                )
            try:
                entry = ErrorCode(code=code, **fields)
            except CatalogError as exc:
                raise CatalogError(f"error catalogue {source}: {exc}") from None
            except TypeError as exc:
                raise CatalogError(f"error catalogue {source}: code {code!r}: {exc}") from None
            catalog.add(entry, source=source)
        return catalog
