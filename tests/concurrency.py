"""Real parallel transactions on PostgreSQL: each thread has its own connection; a barrier starts them together."""

import threading

from django.db import close_old_connections, connection


def run_in_parallel(function, count: int, *args, **kwargs) -> list:
    """Run `function(index, *args, **kwargs)` in `count` threads at once; returns results or exceptions."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = function(index, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread raised
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    close_old_connections()
    return results
