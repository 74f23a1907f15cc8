"""``AppError``: the base class for application exceptions that carry a catalogue code."""

from __future__ import annotations

from typing import Any

from otel_errors._internal.model import declarations
from otel_errors._internal.model.catalog import CODE_PATTERN, CatalogError, ErrorCode
from otel_errors._internal.names import APP_ERROR_MARKER, UNKNOWN_CODE
from otel_errors._internal.recording import runtime


class AppError(Exception):
    """An application failure with a stable code from the error catalogue.

    Subclass it once per failure and name the code in the class statement; the
    code may be a catalogue entry declared right there::

        class CardDeclined(AppError, code="PAY-002"): ...


        class QuotaExceeded(
            AppError,
            code=ErrorCode("PAY-010", title="Quota exceeded", http_status=429, severity="P4"),
        ): ...


        raise CardDeclined("card ending 4242 declined", card_brand="visa")

    Keyword arguments become the error's ``context`` and are recorded as
    ``error.context.<key>`` attributes (redacted like every other attribute).
    The message defaults to the catalogue title.
    """

    code: str = UNKNOWN_CODE
    """The catalogue code of this class; an instance may override it."""

    def __init_subclass__(cls, *, code: str | ErrorCode | None = None, **kwargs: Any) -> None:
        """Binds the subclass to ``code`` (inherited from the parent when omitted).

        Raises:
            CatalogError: the code is malformed or conflicts with the catalogue.
        """
        super().__init_subclass__(**kwargs)
        if code is None:
            return
        if isinstance(code, ErrorCode):
            declarations.declare(code, source=f"{cls.__module__}.{cls.__qualname__}")
            cls.code = code.code
            return
        if not isinstance(code, str) or not CODE_PATTERN.match(code):
            raise CatalogError(
                f"{cls.__qualname__}: malformed error code {code!r}: expected AREA-NNN, "
                "e.g. 'PAY-002'"
            )
        cls.code = code

    def __init__(
        self, message: str | None = None, /, *, code: str | None = None, **context: Any
    ) -> None:
        """Creates the error.

        Args:
            message: Internal message (redacted before export); defaults to the title.
            code: Overrides the class's code for this instance.
            **context: Details recorded as ``error.context.<key>`` attributes.
        """
        if message is None:
            super().__init__()
        else:
            super().__init__(message)
        if code is not None:
            if not CODE_PATTERN.match(code):
                raise CatalogError(f"malformed error code {code!r}: expected AREA-NNN")
            self.code = code
        self.context: dict[str, Any] = context

    def __str__(self) -> str:
        """The message, or the catalogue title when none was given."""
        if self.args:
            return str(self.args[0])
        return runtime.current().registry.classifier.resolve(self.code).title


setattr(AppError, APP_ERROR_MARKER, True)  # how the classifier knows an AppError


def declared_app_error_codes() -> dict[str, list[str]]:
    """Codes bound to ``AppError`` subclasses, with the classes that use them."""
    found: dict[str, list[str]] = {}
    stack: list[type[AppError]] = list(AppError.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.code != UNKNOWN_CODE:
            found.setdefault(cls.code, []).append(f"{cls.__module__}.{cls.__qualname__}")
    return found
