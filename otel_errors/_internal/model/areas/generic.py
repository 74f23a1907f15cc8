"""Generic rules: resource exhaustion hidden behind plain ``OSError``."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from otel_errors._internal.model.classification import Classifier

_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
_TOO_MANY_FILES = frozenset({errno.EMFILE, errno.ENFILE})


def os_error_code(exc: BaseException) -> str | None:
    """``SYS-002`` for a full disk, ``SYS-003`` for exhausted descriptors, else None."""
    number = getattr(exc, "errno", None)
    if number in _DISK_FULL:
        return "SYS-002"
    if number in _TOO_MANY_FILES:
        return "SYS-003"
    return None


def register(classifier: Classifier) -> None:
    """Adds the generic rules."""
    classifier.add(OSError, os_error_code)
