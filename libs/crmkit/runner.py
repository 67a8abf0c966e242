"""Runs one nameko service class as a process: JSON logs, settings from env, graceful stop
on SIGTERM/SIGINT. A service's `__main__` patches eventlet first, then calls `run_service`."""
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
    runner.wait()
