"""Every ``OTEL_ERRORS_*`` environment variable, declared once with its type and default.

This module is also the ``opentelemetry_environment_variables`` entry point, so
``opentelemetry-instrument --errors_catalog=app.toml`` works like any OTel option.
The README's settings table is generated from :data:`SETTINGS` and a test checks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable

OTEL_ERRORS_ENABLED: Final = "OTEL_ERRORS_ENABLED"
"""``false`` turns every otel_errors addition off; the plain SDK pipeline remains."""

OTEL_ERRORS_CATALOG: Final = "OTEL_ERRORS_CATALOG"
"""Error catalogue TOML files, separated by commas."""

OTEL_ERRORS_LOCAL_DIR: Final = "OTEL_ERRORS_LOCAL_DIR"
"""Directory of the local JSON-lines exporter (``otel_errors_local``)."""

OTEL_ERRORS_LOCAL_MAX_BYTES: Final = "OTEL_ERRORS_LOCAL_MAX_BYTES"
"""Size at which a local JSON-lines file is rotated to ``<name>.1``."""

OTEL_ERRORS_SHUTDOWN_DEADLINE: Final = "OTEL_ERRORS_SHUTDOWN_DEADLINE"
"""Seconds the process may spend delivering telemetry once it is ending."""

OTEL_ERRORS_MAX_MESSAGE_LENGTH: Final = "OTEL_ERRORS_MAX_MESSAGE_LENGTH"
"""Maximum ``exception.message`` length in characters."""

OTEL_ERRORS_MAX_STACKTRACE_LENGTH: Final = "OTEL_ERRORS_MAX_STACKTRACE_LENGTH"
"""Maximum ``exception.stacktrace`` length in characters (head and tail are kept)."""

OTEL_ERRORS_STACK_CACHE_SIZE: Final = "OTEL_ERRORS_STACK_CACHE_SIZE"
"""Failure locations whose formatted stack and fingerprint are remembered."""

OTEL_ERRORS_CAPTURE_LOCALS: Final = "OTEL_ERRORS_CAPTURE_LOCALS"
"""Exception events carry the failing frames' variables (``error.locals``), redacted."""

OTEL_ERRORS_HTTP_CLIENT_ERROR_STATUSES: Final = "OTEL_ERRORS_HTTP_CLIENT_ERROR_STATUSES"
"""HTTP response statuses that HTTP clients record as errors without an exception."""

OTEL_ERRORS_PROBLEM_DETAILS: Final = "OTEL_ERRORS_PROBLEM_DETAILS"
"""Which failures web frameworks answer with RFC 9457 problem details."""

OTEL_ERRORS_PROBLEM_TYPE_BASE: Final = "OTEL_ERRORS_PROBLEM_TYPE_BASE"
"""URI prefix of problem ``type`` (the code is appended); ``about:blank`` when empty."""

OTEL_ERRORS_DEBUG: Final = "OTEL_ERRORS_DEBUG"
"""Problem details include the exception type, message and stack trace."""

OTEL_ERRORS_REQUEST_ID_HEADER: Final = "OTEL_ERRORS_REQUEST_ID_HEADER"
"""Header carrying the request id in and out of web frameworks."""

OTEL_ERRORS_REQUEST_ID_ECHO: Final = "OTEL_ERRORS_REQUEST_ID_ECHO"
"""Every response repeats the request id in the request id header."""

OTEL_ERRORS_PROPAGATE_ERRORS: Final = "OTEL_ERRORS_PROPAGATE_ERRORS"
"""Failure responses tell callers their error code, this service and the origin service."""

OTEL_ERRORS_METRICS_CARDINALITY_LIMIT: Final = "OTEL_ERRORS_METRICS_CARDINALITY_LIMIT"
"""Distinct attribute sets of the errors counter before new ones fold into OVERFLOW."""

OTEL_ERRORS_FINGERPRINTS_LIMIT: Final = "OTEL_ERRORS_FINGERPRINTS_LIMIT"
"""Distinct fingerprints the fingerprints counter keeps per process before OVERFLOW."""

OTEL_ERRORS_LOG_CONSOLE_JSON: Final = "OTEL_ERRORS_LOG_CONSOLE_JSON"
"""JSON-lines console logging when the application configures none."""

OTEL_ERRORS_LOG_EXPORT: Final = "OTEL_ERRORS_LOG_EXPORT"
"""Standard logging records flow through the OpenTelemetry logs pipeline."""

OTEL_ERRORS_REDACTION: Final = "OTEL_ERRORS_REDACTION"
"""Redact secrets and personal data from everything exported."""

OTEL_ERRORS_REDACTION_KEY: Final = "OTEL_ERRORS_REDACTION_KEY"
"""HMAC key for hashed values (``user.hash``); random per process when empty."""

OTEL_ERRORS_REDACTION_ALLOW_KEYS: Final = "OTEL_ERRORS_REDACTION_ALLOW_KEYS"
"""Attribute keys that pass untouched."""

OTEL_ERRORS_REDACTION_RULES: Final = "OTEL_ERRORS_REDACTION_RULES"
"""TOML file with actions for built-in rules and rules of your own."""

OTEL_ERRORS_REDACTION_EXTRA_DETECTORS: Final = "OTEL_ERRORS_REDACTION_EXTRA_DETECTORS"
"""Optional detectors to switch on: phone, ip_address."""

OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN: Final = "OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN"
"""Semantic-conventions switch (not ours, honoured): ``logs`` or ``logs/dup``."""


@dataclass(frozen=True)
class Setting:
    """One setting: its variable, the ``configure()`` keyword, parser and default."""

    env: str
    keyword: str
    kind: str
    """Human description of accepted values, used in errors and the README."""
    default: str
    """The default, written as it would be in the environment."""
    parse: Callable[[str], object]
    doc: str

    @property
    def default_value(self) -> object:
        """The parsed default."""
        return self.parse(self.default)


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise ValueError


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text.strip())
        if value < minimum:
            raise ValueError
        return value

    return parse


def _positive_seconds(text: str) -> float:
    value = float(text.strip())
    if not 0 < value <= 3600:  # noqa: PLR2004 - an hour: anything longer is a typo
        raise ValueError
    return value


def _paths(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def _statuses(text: str) -> frozenset[int]:
    """``429,500-599`` style: codes and inclusive ranges, each within 100..599."""
    statuses: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        low, _, high = part.partition("-")
        first, last = int(low), int(high or low)
        if not 100 <= first <= last <= 599:  # noqa: PLR2004 - the HTTP status range
            raise ValueError
        statuses.update(range(first, last + 1))
    return frozenset(statuses)


class ProblemDetails(str, Enum):
    """Failures web frameworks answer with problem details (``OTEL_ERRORS_PROBLEM_DETAILS``)."""

    APP_ERRORS = "app_errors"
    """Only the application's own ``AppError``s: raising one is the opt-in."""
    ALL = "all"
    """Every failure, with the framework's status; never for clients that prefer HTML."""
    OFF = "off"
    """None: every answer is the framework's."""


def _problem_details(text: str) -> ProblemDetails:
    """A mode, or a boolean as before modes existed: true is ``all``, false is ``off``."""
    value = text.strip().lower()
    try:
        return ProblemDetails(value)
    except ValueError:
        return ProblemDetails.ALL if _bool(value) else ProblemDetails.OFF


def _text(text: str) -> str:
    return text.strip()


def _header_name(text: str) -> str:
    name = text.strip().lower()
    if not name or not all(c.isalnum() or c == "-" for c in name):
        raise ValueError
    return name


def _names(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


SETTINGS: Final[tuple[Setting, ...]] = (
    Setting(
        env=OTEL_ERRORS_ENABLED,
        keyword="enabled",
        kind="true or false",
        default="true",
        parse=_bool,
        doc="Turns every otel_errors addition on or off; off leaves the plain SDK pipeline.",
    ),
    Setting(
        env=OTEL_ERRORS_CATALOG,
        keyword="catalog",
        kind="comma-separated TOML paths",
        default="",
        parse=_paths,
        doc="Application error catalogues, merged over the shipped defaults.",
    ),
    Setting(
        env=OTEL_ERRORS_LOCAL_DIR,
        keyword="local_dir",
        kind="directory path",
        default="",
        parse=_text,
        doc="Where the `otel_errors_local` exporter writes spans, logs and metrics; if empty, "
        "the first usable of `$XDG_STATE_HOME/otel-errors`, `~/.local/state/otel-errors`, "
        "`<temp dir>/otel-errors-<uid>` (printed at start-up).",
    ),
    Setting(
        env=OTEL_ERRORS_LOCAL_MAX_BYTES,
        keyword="local_max_bytes",
        kind="integer >= 4096",
        default=str(50 * 1024 * 1024),
        parse=_int_at_least(4096),
        doc="Size at which a local file rotates to `<name>.1`.",
    ),
    Setting(
        env=OTEL_ERRORS_SHUTDOWN_DEADLINE,
        keyword="shutdown_deadline",
        kind="seconds, > 0",
        default="5",
        parse=_positive_seconds,
        doc="Longest a SIGTERM, exit or crash waits for telemetry, all providers together.",
    ),
    Setting(
        env=OTEL_ERRORS_MAX_MESSAGE_LENGTH,
        keyword="max_message_length",
        kind="integer >= 16",
        default="1024",
        parse=_int_at_least(16),
        doc="Maximum `exception.message` length in characters.",
    ),
    Setting(
        env=OTEL_ERRORS_MAX_STACKTRACE_LENGTH,
        keyword="max_stacktrace_length",
        kind="integer >= 256",
        default="16384",
        parse=_int_at_least(256),
        doc="Maximum `exception.stacktrace` length; the head and the tail are kept.",
    ),
    Setting(
        env=OTEL_ERRORS_HTTP_CLIENT_ERROR_STATUSES,
        keyword="http_client_error_statuses",
        kind="codes and ranges, e.g. 429,500-599 (empty: none)",
        default="429,500-599",
        parse=_statuses,
        doc="Responses an HTTP client records as errors although no exception was raised.",
    ),
    Setting(
        env=OTEL_ERRORS_METRICS_CARDINALITY_LIMIT,
        keyword="metrics_cardinality_limit",
        kind="integer >= 1",
        default="2000",
        parse=_int_at_least(1),
        doc="Attribute sets of the `errors` counter before new ones count as `OVERFLOW`.",
    ),
    Setting(
        env=OTEL_ERRORS_FINGERPRINTS_LIMIT,
        keyword="fingerprints_limit",
        kind="integer >= 1",
        default="256",
        parse=_int_at_least(1),
        doc=(
            "Distinct fingerprints the `otel_errors.fingerprints` counter keeps per process "
            "(new and regressed errors per release); later ones count as `OVERFLOW`."
        ),
    ),
    Setting(
        env=OTEL_ERRORS_LOG_CONSOLE_JSON,
        keyword="log_console_json",
        kind="true or false",
        default="false",
        parse=_bool,
        doc="JSON-lines logs on stderr while the application configures no logging itself "
        "(off: the console output stays the application's).",
    ),
    Setting(
        env=OTEL_ERRORS_LOG_EXPORT,
        keyword="log_export",
        kind="true or false",
        default="true",
        parse=_bool,
        doc="`logging` records go through the OpenTelemetry logs pipeline (OTLP, Loki).",
    ),
    Setting(
        env=OTEL_ERRORS_REDACTION,
        keyword="redaction",
        kind="true or false",
        default="true",
        parse=_bool,
        doc="Redact secrets and personal data from spans, events, logs and our metrics.",
    ),
    Setting(
        env=OTEL_ERRORS_REDACTION_KEY,
        keyword="redaction_key",
        kind="secret string",
        default="",
        parse=_text,
        doc="HMAC-SHA256 key of hashed values (`user.hash`); random per process if empty.",
    ),
    Setting(
        env=OTEL_ERRORS_REDACTION_ALLOW_KEYS,
        keyword="redaction_allow_keys",
        kind="comma-separated attribute keys",
        default="",
        parse=_names,
        doc="Attribute keys that are never redacted.",
    ),
    Setting(
        env=OTEL_ERRORS_REDACTION_RULES,
        keyword="redaction_rules",
        kind="TOML path",
        default="",
        parse=_text,
        doc="Actions (mask, hash, drop) for built-in rules and rules of your own.",
    ),
    Setting(
        env=OTEL_ERRORS_REDACTION_EXTRA_DETECTORS,
        keyword="redaction_extra_detectors",
        kind="comma-separated: phone, ip_address",
        default="",
        parse=_names,
        doc="Optional detectors to switch on (off by default).",
    ),
    Setting(
        env=OTEL_ERRORS_PROBLEM_DETAILS,
        keyword="problem_details",
        kind="app_errors, all or off (true = all, false = off)",
        default="app_errors",
        parse=_problem_details,
        doc="Failures answered with RFC 9457 `application/problem+json`: the application's "
        "`AppError`s, every failure (status kept, never to HTML clients), or none.",
    ),
    Setting(
        env=OTEL_ERRORS_PROBLEM_TYPE_BASE,
        keyword="problem_type_base",
        kind="URI prefix",
        default="",
        parse=_text,
        doc="Prefix of the problem `type` URI (the code is appended); `about:blank` if empty.",
    ),
    Setting(
        env=OTEL_ERRORS_DEBUG,
        keyword="debug",
        kind="true or false",
        default="false",
        parse=_bool,
        doc="Problem details include exception type, message and stack trace (never in prod).",
    ),
    Setting(
        env=OTEL_ERRORS_REQUEST_ID_HEADER,
        keyword="request_id_header",
        kind="header name",
        default="x-request-id",
        parse=_header_name,
        doc="Header the request id is read from (generated when absent) and, when echoed, "
        "written to.",
    ),
    Setting(
        env=OTEL_ERRORS_REQUEST_ID_ECHO,
        keyword="request_id_echo",
        kind="true or false",
        default="false",
        parse=_bool,
        doc="Every response carries the request id header (off: only problem responses).",
    ),
    Setting(
        env=OTEL_ERRORS_PROPAGATE_ERRORS,
        keyword="propagate_errors",
        kind="true or false",
        default="false",
        parse=_bool,
        doc="Failure responses of web frameworks carry `Otel-Errors-*` headers and problem "
        "members (gRPC: trailing metadata) naming the code, this service and the origin "
        "service (callers always read them).",
    ),
    Setting(
        env=OTEL_ERRORS_CAPTURE_LOCALS,
        keyword="capture_locals",
        kind="true or false",
        default="false",
        parse=_bool,
        doc="Exception events carry the variables of the innermost application frames "
        "(`error.locals`, redacted, bounded), for a fingerprint's first occurrence in a "
        "minute (off: variables may hold personal data no redaction rule knows).",
    ),
    Setting(
        env=OTEL_ERRORS_STACK_CACHE_SIZE,
        keyword="stack_cache_size",
        kind="integer >= 1",
        default="512",
        parse=_int_at_least(1),
        doc="Failure locations whose formatted stack and fingerprint are cached.",
    ),
)
