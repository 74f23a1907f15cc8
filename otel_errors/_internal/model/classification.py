"""Maps any exception to an ``ErrorCode``.

Order of decision for one exception:

1. an ``AppError`` carries its own code;
2. a rule registered for the exception's class or one of its bases, most specific
   class first and, for the same class, the most recently registered rule first
   (so an application overrides a shipped default by registering after it).
   Rules name classes by object or by qualified name (``"psycopg.errors.UniqueViolation"``)
   so that a library is never imported to be classified; a rule's code may be a
   function of the exception that returns None to pass to the next rule;
3. predicate rules (a function of the exception object), newest first.

Chains and groups, deliberately:

- An exception that no rule matches defers to its explicit cause (``raise X from Y``),
  recursively: wrappers such as SQLAlchemy's ``DBAPIError`` then report the driver's
  code. The implicit context (an exception raised while handling another) is never
  used: it is a different failure, and it stays visible in the stack trace.
- An ``ExceptionGroup`` that no rule matches takes the code of its most severe leaf
  (P1 before P4; the first leaf on ties), and lists every distinct leaf code in
  ``error.group.codes``.
- Everything else is ``UNKNOWN``.

Cycles in chains and groups are cut, and depth is bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Union, cast

from otel_errors._internal.helpers import locks
from otel_errors._internal.helpers.compat import BaseExceptionGroup_
from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.model import declarations
from otel_errors._internal.model.catalog import UNKNOWN, Catalog, CatalogError, ErrorCode
from otel_errors._internal.names import APP_ERROR_MARKER

if TYPE_CHECKING:
    from collections.abc import Callable

CodeLike = Union[str, ErrorCode]  # noqa: UP007 - evaluated at runtime on Python 3.10
CodeRule = Union[CodeLike, "Callable[[BaseException], CodeLike | None]"]
Match = Union[type[BaseException], str, "Callable[[BaseException], bool]"]

_MAX_CHAIN_DEPTH = 16


def qualified_name(cls: type) -> str:
    """``module.QualName`` of a class, or the bare name for builtins (as the SDK records it)."""
    module = getattr(cls, "__module__", None)
    qualname = getattr(cls, "__qualname__", None) or getattr(cls, "__name__", "?")
    if not isinstance(module, str) or module == "builtins":
        return str(qualname)
    return f"{module}.{qualname}"


@dataclass(frozen=True)
class Classification:
    """The outcome of classifying one exception."""

    error: ErrorCode
    """The catalogue entry that applies."""
    group_codes: tuple[str, ...] = ()
    """For exception groups, the distinct codes of the leaves, in order."""


class Classifier:
    """A registry of rules from exceptions to catalogue codes.

    Args:
        catalog: Where codes named by rules are looked up (at classification time,
            so codes added to the catalogue later still resolve).
    """

    def __init__(self, catalog: Catalog) -> None:
        """Creates an empty registry that resolves codes in ``catalog``."""
        self.catalog = catalog
        self._by_name: dict[str, list[CodeRule]] = {}
        self._predicates: list[tuple[Callable[[BaseException], bool], CodeRule]] = []
        self._per_type: dict[type, tuple[CodeRule, ...]] = {}
        self._lock = locks.lock()

    def add(self, match: Match, code: CodeRule) -> None:
        """Registers a rule.

        Args:
            match: An exception class, a qualified class name, or a predicate on the
                exception object.
            code: A code (string or ``ErrorCode``), or a function of the exception
                returning one or None (None passes to the next rule).

        Raises:
            TypeError: ``match`` is none of the accepted forms.
        """
        if isinstance(code, ErrorCode) and code.code not in self.catalog:
            self.catalog.add(code)
        with self._lock:
            if isinstance(match, str):
                self._by_name.setdefault(match, []).insert(0, code)
            elif isinstance(match, type) and issubclass(match, BaseException):
                self._by_name.setdefault(qualified_name(match), []).insert(0, code)
            elif callable(match):
                self._predicates.insert(0, (cast("Callable[[BaseException], bool]", match), code))
            else:
                raise TypeError(
                    f"cannot match exceptions with {match!r}: give an exception class, "
                    "a qualified class name or a predicate"
                )
            self._per_type.clear()

    def add_catalog_matches(self) -> None:
        """Registers the ``match`` lists of every catalogue entry as class-name rules."""
        for entry in self.catalog:
            for name in entry.match:
                self.add(name, entry.code)

    def referenced_codes(self) -> set[str]:
        """Static codes named by rules (dynamic ones cannot be known before they run)."""
        codes: set[str] = set()
        rules = [r for rs in self._by_name.values() for r in rs]
        rules += [r for _, r in self._predicates]
        for rule in rules:
            if isinstance(rule, str):
                codes.add(rule)
        return codes

    def classify(self, exc: BaseException) -> Classification:
        """The catalogue entry for ``exc`` (never raises; ``UNKNOWN`` as the last resort)."""
        try:
            return self._classify(exc, seen=set(), depth=0) or Classification(UNKNOWN)
        except Exception as failure:
            report_internal_failure("classification", failure)
            return Classification(UNKNOWN)

    def resolve(self, code: CodeLike) -> ErrorCode:
        """The entry for ``code``; an unknown code keeps its name, with UNKNOWN's fields."""
        if isinstance(code, ErrorCode):
            return code
        entry = self.catalog.get(code)
        if entry is not None:
            return entry
        entry = declarations.declared.get(code)  # an AppError class created after this registry
        if entry is not None:
            for conflict in declarations.merge_into(self.catalog):
                report_internal_failure("catalog.declaration", CatalogError(conflict))
            return self.catalog.get(code) or entry
        return _placeholder(code)

    def _classify(self, exc: BaseException, seen: set[int], depth: int) -> Classification | None:
        if id(exc) in seen or depth > _MAX_CHAIN_DEPTH:
            return None
        seen.add(id(exc))
        entry = self._classify_one(exc)
        if entry is not None:
            return Classification(entry)
        if isinstance(exc, BaseExceptionGroup_):
            return self._classify_group(exc, seen, depth)
        cause = exc.__cause__
        if cause is not None:
            return self._classify(cause, seen, depth + 1)
        return None

    def _classify_group(
        self, group: BaseExceptionGroup_, seen: set[int], depth: int
    ) -> Classification | None:
        best: ErrorCode | None = None
        codes: list[str] = []
        for leaf in group.exceptions:
            result = self._classify(leaf, seen, depth + 1)
            leaf_entry = result.error if result else UNKNOWN
            leaf_codes = result.group_codes if result and result.group_codes else (leaf_entry.code,)
            codes.extend(c for c in leaf_codes if c not in codes)
            if best is None or leaf_entry.severity.rank < best.severity.rank:
                best = leaf_entry
        if best is None:
            return None
        return Classification(best, tuple(codes))

    def _classify_one(self, exc: BaseException) -> ErrorCode | None:
        if getattr(type(exc), APP_ERROR_MARKER, False):  # an AppError carries its code
            return self.resolve(str(getattr(exc, "code", UNKNOWN.code)))
        for rule in self._rules_for(type(exc)):
            entry = self._apply(rule, exc)
            if entry is not None:
                return entry
        for predicate, rule in self._predicates:
            try:
                matched = predicate(exc)
            except Exception as failure:
                report_internal_failure("classification.predicate", failure)
                continue
            if matched:
                entry = self._apply(rule, exc)
                if entry is not None:
                    return entry
        return None

    def _rules_for(self, cls: type) -> tuple[CodeRule, ...]:
        rules = self._per_type.get(cls)
        if rules is None:
            collected: list[CodeRule] = []
            for base in cls.__mro__:
                collected.extend(self._by_name.get(qualified_name(base), ()))
            rules = tuple(collected)
            self._per_type[cls] = rules
        return rules

    def _apply(self, rule: CodeRule, exc: BaseException) -> ErrorCode | None:
        if isinstance(rule, (str, ErrorCode)):
            return self.resolve(rule)
        try:
            code = rule(exc)
        except Exception as failure:
            report_internal_failure("classification.rule", failure)
            return None
        return None if code is None else self.resolve(code)


def _placeholder(code: str) -> ErrorCode:
    try:
        return ErrorCode(
            code=code,
            title=code,
            message=UNKNOWN.message,
            severity=UNKNOWN.severity,
            category=UNKNOWN.category,
            kind=UNKNOWN.kind,
            retryable=False,
        )
    except ValueError:
        return UNKNOWN
