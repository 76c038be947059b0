"""Scheduled posts (daily question, reveal, weekly digest) sent to a channel by id."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Sequence

import aiohttp
import discord

from adapters.discord.render import render
from adapters.runtime import Pacer
from bot.messages import Message
from bot.service import ChannelSettings

log = logging.getLogger(__name__)

# discord.py already retries 500, 502, 504 and 524 itself (four times, 1 s to 7 s apart); these delays
# are for what still fails after that (503, other 5xx, a dropped connection).
RETRY_DELAYS = (2.0, 10.0, 30.0)
# Discord's global limit is 50 requests a second per bot; scheduled posts keep a little for card edits.
POSTS_PER_SECOND = 45.0
MAX_429_WAITS = 30  # a post waits out this many 429s before it counts as failed


class DiscordPublisher:
    """Implements bot.schedule.Publisher: `POST /channels/{id}/messages`, images as an attachment."""

    supports_images: bool = True

    def __init__(self, client: Callable[[], discord.Client | None],
                 retry_delays: Sequence[float] = RETRY_DELAYS, posts_per_second: float = POSTS_PER_SECOND) -> None:
        self._client = client
        self.retry_delays = tuple(retry_delays)
        self.pacer = Pacer(posts_per_second)

    async def publish(self, channel: ChannelSettings, message: Message, *, to: str | None = None) -> str | None:
        client = self._client()
        if client is None or client.is_closed():
            raise RuntimeError("the Discord client is not running")
        target = int(to or channel.external_id)
        # One nonce for every attempt: if a post went through but its answer was lost, Discord returns
        # the same message instead of posting it twice (discord.py sends enforce_nonce with it).
        nonce = str(secrets.randbits(63))
        attempt = waits = 0
        while True:
            try:
                await self.pacer.wait()
                rendered = render(message)  # a fresh file object per attempt: a sent one is closed
                sent = await client.get_partial_messageable(target, type=discord.ChannelType.text).send(
                    nonce=nonce, **rendered.kwargs())
                return str(sent.id)
            except (discord.RateLimited, discord.HTTPException) as exc:
                # discord.py waits out a 429 itself up to five times; under a long fan-out one post can meet
                # more. Wait as long as Discord says and try again: a rate limit never loses a post.
                retry_after = _retry_after(exc)
                if retry_after is not None and waits < MAX_429_WAITS:
                    waits += 1
                    await asyncio.sleep(retry_after)
                    continue
                if not isinstance(exc, discord.DiscordServerError):
                    raise
                attempt = await self._back_off(exc, attempt, message, target)
            except (TimeoutError, aiohttp.ClientError) as exc:
                attempt = await self._back_off(exc, attempt, message, target)

    async def _back_off(self, exc: BaseException, attempt: int, message: Message, target: int) -> int:
        """Wait before the next try after a server error or a dropped connection; re-raise when out of tries."""
        if attempt >= len(self.retry_delays):
            raise exc
        delay = self.retry_delays[attempt]
        log.warning("posting %s to Discord channel %s failed (%s); retry %d of %d in %.1f s",
                    message.kind or "a message", target, _describe(exc), attempt + 1, len(self.retry_delays), delay)
        await asyncio.sleep(delay)
        return attempt + 1


def _retry_after(exc: discord.RateLimited | discord.HTTPException) -> float | None:
    """Seconds Discord asked to wait, for a 429; None for any other error."""
    if isinstance(exc, discord.RateLimited):
        return float(exc.retry_after)
    if exc.status != 429:
        return None
    try:
        return max(0.0, float(exc.response.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


def _describe(exc: BaseException) -> str:
    if isinstance(exc, discord.HTTPException):
        return f"HTTP {exc.status}"
    return type(exc).__name__
