"""Declaring a service's event queues ahead of its first start (the migrate step): nameko
publishes events without `mandatory`, so an event whose consumer queue does not exist yet
is dropped by the broker. Declared at deploy time, the queue holds it until the consumer
runs."""
import importlib

from kombu import Connection
from nameko.containers import ServiceContainer
from nameko.events import EventHandler

from crmkit.settings import bus_settings


def service_class(service: str):
    """The nameko service class of `<service>.service` (its `name` is the service)."""
    module = importlib.import_module(f"{service}.service")
    for value in vars(module).values():
        if isinstance(value, type) and getattr(value, "name", None) == service:
            return value
    raise LookupError(f"{service}.service defines no service class named {service!r}")


def event_queues(service_cls, config: dict) -> list:
    """The queues (bound to their exchanges) of the class's event handlers."""
    container = ServiceContainer(service_cls, config)
    queues = []
    for entrypoint in container.entrypoints:
        if isinstance(entrypoint, EventHandler):
            entrypoint.setup()
            queues.append(entrypoint.queue)
    return queues


def declare_event_queues(services) -> list[str]:
    config = bus_settings().nameko_config()
    declared = []
    with Connection(config["AMQP_URI"]) as connection:
        channel = connection.channel()
        for service in services:
            for queue in event_queues(service_class(service), config):
                queue(channel).declare()
                declared.append(queue.name)
    return declared
