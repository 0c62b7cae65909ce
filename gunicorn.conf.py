"""gunicorn's hooks (`--config gunicorn.conf.py`: docker-compose, the Dockerfile, `make run`, `make bench`).

The settings stay on the command line; this file only keeps the metrics of several workers right
(prometheus-client's multiprocess mode, `ketlogistic/metrics/http.py`): with `PROMETHEUS_MULTIPROC_DIR` set, the
master empties that directory when it starts (files of a former run would add themselves to this one's figures)
and tells prometheus-client when a worker died, so that its files stop counting as a live process's.
"""

import glob
import os


def on_starting(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for path in glob.glob(os.path.join(directory, "*.db")):
            os.remove(path)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
