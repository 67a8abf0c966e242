"""The gateway's feed of the revocation list (`crmkit.revocations`): accounts' events on a
queue of this process's own, consumed with aio_pika."""
import json
import logging
import uuid

import aio_pika

from crmkit.revocations import EVENTS, Revocations

log = logging.getLogger(__name__)

__all__ = ["EVENTS", "Revocations", "subscribe"]


async def subscribe(connection: aio_pika.abc.AbstractRobustConnection,
                    revocations: Revocations) -> None:
    channel = await connection.channel()
    exchange = await channel.declare_exchange("accounts.events", aio_pika.ExchangeType.TOPIC,
                                              durable=True)
    queue = await channel.declare_queue(f"gateway-revocations-{uuid.uuid4()}",
                                        exclusive=True, auto_delete=True)
    for event_type in EVENTS:
        await queue.bind(exchange, routing_key=event_type)

    async def on_event(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process(ignore_processed=True):
            try:
                envelope = json.loads(message.body)
                revocations.apply(envelope["type"], envelope["data"])
            except (ValueError, KeyError, TypeError):
                log.warning("ignoring malformed revocation event")

    await queue.consume(on_event)
