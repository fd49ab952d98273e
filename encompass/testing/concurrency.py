"""Real threads lined up on a barrier, for tests that race service calls or requests on
PostgreSQL (``@pytest.mark.django_db(transaction=True)``: each thread has its own connection)."""

import threading

from django.db import connection

from encompass.exceptions import ValidationError


def run_threads(n, work, *, timeout=60):
    """Run ``work(i)`` for ``i`` in ``range(n)`` in ``n`` threads released together; answer
    (results, errors). A thread still running after ``timeout`` seconds (a deadlock the database
    did not break) is an error too."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def runner(i):
        try:
            barrier.wait(10)
            results[i] = work(i)
        except Exception as exc:  # collected and asserted by the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    errors += [TimeoutError(f"{t.name} still running") for t in threads if t.is_alive()]
    return results, errors


def race(*calls, timeout=60):
    """Run each zero-argument callable in its own thread, released together. Answer
    (outcomes, errors): an outcome is ``"won"`` or the ``ValidationError`` that refused the call;
    anything else raised (an IntegrityError, a deadlock) is in ``errors``."""

    def work(i):
        try:
            calls[i]()
            return "won"
        except ValidationError as exc:
            return exc

    return run_threads(len(calls), work, timeout=timeout)


def winners(outcomes):
    return [o for o in outcomes if o == "won"]


def refusals(outcomes):
    return [o for o in outcomes if isinstance(o, ValidationError)]
