"""An asyncio client of nameko's RPC wire protocol, shared by every request of a gateway
process: one connection, one channel, one exclusive reply queue, replies matched to
callers by correlation id. (A proxy per request costs a connection and a queue each,
which caps a gateway at tens of calls per second.)"""
import asyncio
import json
import uuid

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
from nameko.constants import HEADER_PREFIX

from crmkit.errors import ServiceUnavailable

RPC_EXCHANGE = "nameko-rpc"
# What a publish raises while the broker is gone or the robust connection is still
# restoring its channel (a RuntimeError, not an AMQPError).
BUS_DOWN = (aio_pika.exceptions.AMQPError, aio_pika.exceptions.ChannelInvalidStateError,
            ConnectionError)


class RemoteError(Exception):
    """An error a service answered with, in nameko's serialised form."""

    def __init__(self, error: dict):
        super().__init__(error.get("exc_type"), error.get("value"))
        self.error = error


class RpcClient:
    def __init__(self, amqp_uri: str, timeout: float):
        self.amqp_uri = amqp_uri
        self.timeout = timeout
        self.connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._pending: dict[str, asyncio.Future] = {}

    async def connect(self) -> None:
        self.connection = await aio_pika.connect_robust(self.amqp_uri)
        # Replies are transient and requests time out, so confirms would only add latency.
        channel = await self.connection.channel(publisher_confirms=False)
        self.exchange = await channel.declare_exchange(
            RPC_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        self.reply_queue = await channel.declare_queue(
            f"rpc.reply-gateway-{uuid.uuid4()}", exclusive=True, auto_delete=True)
        await self.reply_queue.bind(self.exchange, routing_key=self.reply_queue.name)
        await self.reply_queue.consume(self._on_reply, no_ack=True)

    @property
    def connected(self) -> bool:
        return self.connection is not None and not self.connection.is_closed

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._pending.pop(message.correlation_id or "", None)
        if future is not None and not future.done():
            future.set_result(message.body)

    async def call(self, service: str, method: str, kwargs: dict, context: dict,
                   timeout: float | None = None):
        if not self.connected:
            raise ServiceUnavailable("The message bus is unavailable")
        correlation_id = uuid.uuid4().hex
        future = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = future
        headers = {f"{HEADER_PREFIX}.{key}": value for key, value in context.items()
                   if value is not None}
        message = aio_pika.Message(
            json.dumps({"args": [], "kwargs": kwargs}, ensure_ascii=False).encode(),
            content_type="application/json", content_encoding="utf-8",
            correlation_id=correlation_id, reply_to=self.reply_queue.name, headers=headers,
            delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT)
        try:
            # Not mandatory: without publisher confirms aiormq cannot match a returned
            # request to its caller and only logs it; an absent service is a timeout.
            await self.exchange.publish(message, routing_key=f"{service}.{method}",
                                        mandatory=False)
            body = await asyncio.wait_for(future, timeout or self.timeout)
        except TimeoutError:
            raise ServiceUnavailable(f"{service} did not answer in time") from None
        except BUS_DOWN:
            raise ServiceUnavailable("The message bus is unavailable") from None
        finally:
            self._pending.pop(correlation_id, None)
        reply = json.loads(body)
        if reply.get("error"):
            raise RemoteError(reply["error"])
        return reply.get("result")
