"""Run the same call from many threads released at once (a barrier), each on
its own database connection, as concurrent requests or workers would."""

import threading

from django.db import connection


def in_parallel(count: int, target, timeout: float = 120) -> list:
    """`target(i)` for i in range(count), all at once; results (or the
    exception each raised) in order."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = target(i)
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    return results
