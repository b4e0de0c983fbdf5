"""A small client of the crypto-market worker pool over Redis (SPEC.md section 6), using only
redis-py. The interface of the seed project's client:

    client = RedisPubSub(RedisConfig(url="redis://localhost:6379"), PubSubConfig())
    await client.connect()
    ticker = await client.publish_request("get_ticker", {"symbol": "BTC/USDT"}, timeout=10.0)
    await client.close()

Requests go on the request stream (XADD: none is lost while workers restart); replies come
back on this client's own channel, subscribed before the first request leaves.
"""

import asyncio
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

import redis.asyncio as aioredis


@dataclass
class RedisConfig:
    url: Optional[str] = None
    host: str = "localhost"
    port: int = 6379
    db: int = 0
    password: Optional[str] = None

    def to_url(self) -> str:
        if self.url:
            return self.url
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/{self.db}"


@dataclass
class PubSubConfig:
    request_channel: str = "crypto_mcp:requests"
    response_channel: str = "crypto_mcp:responses"
    request_timeout: float = 10.0
    client_id: str = field(default_factory=lambda: f"py-{uuid.uuid4().hex[:12]}")


class RemoteError(Exception):
    """The pool answered with an error: one of SPEC.md's codes and a message."""

    def __init__(self, code: str, message: str, retryable: bool = False,
                 retry_after_ms: Optional[int] = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retry_after_ms = retry_after_ms


class RedisPubSub:
    def __init__(self, redis_config: RedisConfig, pubsub_config: PubSubConfig):
        self.redis_config = redis_config
        self.config = pubsub_config
        self.reply_channel = f"{pubsub_config.response_channel}:{pubsub_config.client_id}"
        self._redis = None
        self._pubsub = None
        self._listener = None
        self._pending: Dict[str, asyncio.Future] = {}
        self._next = 0

    async def connect(self) -> None:
        self._redis = aioredis.from_url(self.redis_config.to_url())
        self._pubsub = self._redis.pubsub()
        await self._pubsub.subscribe(self.reply_channel)
        self._listener = asyncio.create_task(self._listen())

    async def close(self) -> None:
        if self._listener:
            self._listener.cancel()
        if self._pubsub:
            await self._pubsub.aclose()
        if self._redis:
            await self._redis.aclose()

    async def publish_request(self, tool: str, args: Dict[str, Any],
                              timeout: Optional[float] = None) -> Any:
        timeout = self.config.request_timeout if timeout is None else timeout
        self._next += 1
        request_id = f"{self.config.client_id}-{self._next}"
        request = {
            "request_id": request_id,
            "tool": tool,
            "args": args,
            "reply_to": self.reply_channel,
            "deadline_ms": int(time.time() * 1000 + timeout * 1000),
            "client_id": self.config.client_id,
        }
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await self._redis.xadd(self.config.request_channel,
                                   {"request": json.dumps(request)},
                                   maxlen=100_000, approximate=True)
            reply = await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(request_id, None)
        if reply.get("ok"):
            return reply.get("result")
        error = reply.get("error") or {}
        raise RemoteError(error.get("code", "internal"), error.get("message", ""),
                          bool(error.get("retryable")), error.get("retry_after_ms"))

    async def _listen(self) -> None:
        async for message in self._pubsub.listen():
            if message.get("type") != "message":
                continue
            try:
                reply = json.loads(message["data"])
            except (ValueError, TypeError):
                continue
            future = self._pending.get(reply.get("request_id"))
            if future is not None and not future.done():
                future.set_result(reply)


async def _main(argv) -> int:
    url = os.environ.get("REDIS_URL", "redis://localhost:6379")
    symbols = argv or ["BTC/USDT"]
    client = RedisPubSub(RedisConfig(url=url), PubSubConfig())
    await client.connect()
    status = 0
    try:
        for symbol in symbols:
            try:
                ticker = await client.publish_request("get_ticker", {"symbol": symbol})
                print(json.dumps(ticker))
            except RemoteError as e:
                print(json.dumps({"symbol": symbol, "error": e.code, "message": e.message}))
                status = 1
    finally:
        await client.close()
    return status


if __name__ == "__main__":
    import sys

    sys.exit(asyncio.run(_main(sys.argv[1:])))
