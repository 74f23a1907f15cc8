"""Codes and rules that several libraries share, loaded before any library's unit.

- ``generic``: what Python itself raises (timeouts, permissions, network, validation,
  resources, programmer errors);
- ``http``: failures of HTTP clients (requests, httpx, urllib3, aiohttp, botocore's
  transport), which wrap each other's exceptions: the walk that finds the failure
  inside a wrapper, and the class tables it walks by, are one family's knowledge;
- ``db``: SQL databases (SQLSTATE, sqlite3 error names, ``.orig`` wrappers);
- ``web``: what web frameworks raise (``WEB-*``, status-carrying HTTP exceptions);
- ``resilience``: retries and circuit breakers (``RES-*``).

Each is a catalogue section (``<area>.toml``) and, for the first two, rules of its own;
the others offer rules that the libraries' units register for their classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otel_errors._internal.model.areas import generic, http

if TYPE_CHECKING:
    from collections.abc import Callable

    from otel_errors._internal.model.classification import Classifier

SECTIONS = ("generic", "http", "db", "web", "resilience")
"""The areas' catalogue files, in loading order."""
RULES: tuple[Callable[[Classifier], None], ...] = (generic.register, http.register)
"""The areas' own rules, registered before every unit's."""
