"""Differences between the supported Python versions, in one place."""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    BaseExceptionGroup_ = BaseExceptionGroup  # noqa: F821 - a builtin from 3.11 on
else:  # pragma: no cover - Python 3.10: the backport that anyio and trio use too
    from exceptiongroup import BaseExceptionGroup as BaseExceptionGroup_

__all__ = ["BaseExceptionGroup_"]
