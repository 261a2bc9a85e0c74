"""The collector in a long-running server process.

What start-up and the first requests load (the app, every template's compiled code, the
catalogs, SQLAlchemy's compiled statements) lives as long as the process. Left in the
collector's oldest generation, every full collection during a request rescans it, and
the requests that happen to run one make the slow tail (bench/coverage.py). So, once
after start-up (wsgi.py) and again after the first requests, what is alive is moved out
of its sight with gc.freeze(). The collector stays on: it still collects everything
made after, and what was frozen is still freed by reference counting.
"""

import gc
import itertools


def freeze() -> None:
    gc.collect()
    gc.freeze()


def freeze_after_requests(app) -> None:
    """Freeze once each time the process has served one of HEAP_FREEZE_AFTER_REQUESTS
    requests, after that response has been sent (call_on_close), never during one."""
    counts = set(app.config["HEAP_FREEZE_AFTER_REQUESTS"])
    if not counts or app.testing:
        return
    served = itertools.count(1)

    @app.after_request
    def freeze_when_warm(response):
        if next(served) in counts:
            response.call_on_close(freeze)
        return response
