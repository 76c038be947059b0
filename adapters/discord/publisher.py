"""Scheduled posts (daily question, reveal, weekly digest) sent to a channel by id."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Sequence

import aiohttp
import discord

from adapters.discord.render import render
from bot.messages import Message
from bot.service import ChannelSettings

log = logging.getLogger(__name__)

# discord.py already retries 500, 502, 504 and 524 itself (four times, 1 s to 7 s apart); these delays
# are for what still fails after that (503, other 5xx, a dropped connection).
RETRY_DELAYS = (2.0, 10.0, 30.0)


class DiscordPublisher:
    """Implements bot.schedule.Publisher: `POST /channels/{id}/messages`, images as an attachment."""

    supports_images: bool = True

    def __init__(self, client: Callable[[], discord.Client | None],
                 retry_delays: Sequence[float] = RETRY_DELAYS) -> None:
        self._client = client
        self.retry_delays = tuple(retry_delays)

    async def publish(self, channel: ChannelSettings, message: Message, *, to: str | None = None) -> str | None:
        client = self._client()
        if client is None or client.is_closed():
            raise RuntimeError("the Discord client is not running")
        target = int(to or channel.external_id)
        # One nonce for every attempt: if a post went through but its answer was lost, Discord returns
        # the same message instead of posting it twice (discord.py sends enforce_nonce with it).
        nonce = str(secrets.randbits(63))
        attempt = 0
        while True:
            try:
                rendered = render(message)  # a fresh file object per attempt: a sent one is closed
                sent = await client.get_partial_messageable(target, type=discord.ChannelType.text).send(
                    nonce=nonce, **rendered.kwargs())
                return str(sent.id)
            except (TimeoutError, discord.DiscordServerError, aiohttp.ClientError) as exc:
                if attempt >= len(self.retry_delays):
                    raise
                delay = self.retry_delays[attempt]
                attempt += 1
                log.warning("posting %s to Discord channel %s failed (%s); retry %d of %d in %.1f s",
                            message.kind or "a message", target, _describe(exc), attempt, len(self.retry_delays),
                            delay)
                await asyncio.sleep(delay)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, discord.HTTPException):
        return f"HTTP {exc.status}"
    return type(exc).__name__
