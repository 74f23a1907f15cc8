"""An application that records errors through the whole pipeline, then ends as told.

For the fault tests and the exit benchmark: exporters and collector come from the
``OTEL_*`` environment, as for any application configured by ``otel_errors.configure``.

    python tests/_fault_app.py ERRORS ENDING

ENDING is ``exit`` (the interpreter ends normally), ``sigterm`` (waits for the signal
after saying ``recorded``) or ``crash`` (an uncaught exception). One ``logging`` error
per ten recorded errors exercises the logs pipeline too.
"""

from __future__ import annotations

import logging
import sys
import time

import otel_errors
from otel_errors.integrations.process_hooks.instrumentor import ProcessHooksErrorsInstrumentor

count, ending = int(sys.argv[1]), sys.argv[2]
otel_errors.configure(service_name="fault-app", instrument=False)
ProcessHooksErrorsInstrumentor().instrument()
logger = logging.getLogger("fault-app")
for number in range(count):
    otel_errors.record_error(TimeoutError(f"upstream timed out ({number})"))
    if number % 10 == 0:
        logger.error("request %d failed", number)
print("recorded", flush=True)
if ending == "crash":
    raise RuntimeError("the application gives up")
if ending == "sigterm":
    time.sleep(120)  # SIGTERM ends the process long before this
