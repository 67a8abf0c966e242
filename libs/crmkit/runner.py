"""Runs one nameko service class as a process: JSON logs, settings from env, graceful stop
on SIGTERM/SIGINT. A service's `__main__` patches eventlet first, then calls `run_service`."""
import gc
import signal

import eventlet
from nameko.runners import ServiceRunner

from crmkit.jsonlog import configure_logging
from crmkit.probes import probe_port, serve_probes
from crmkit.settings import bus_settings, log_level


def run_service(service_cls) -> None:
    configure_logging(service_cls.name, log_level())
    runner = ServiceRunner(bus_settings().nameko_config())
    runner.add_service(service_cls)
    port = probe_port()
    if port is not None:
        eventlet.spawn_n(serve_probes, service_cls.name, port)

    def shutdown(signum, frame):
        eventlet.spawn_n(runner.stop)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    runner.start()
    # What exists now (modules, metadata, the container) lives as long as the process:
    # leave it out of the collector's full passes, which otherwise walk ~170,000 such
    # objects every few seconds under load (0.1 s each in reporting's consumer).
    gc.collect()  # start-up garbage in reference cycles goes now, not frozen forever
    gc.freeze()
    runner.wait()
