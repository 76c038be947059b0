"""A burst of answers through the real serve() loop, StudyService and SQLite file, for the shutdown tests.

    python -m tests.burst_harness

Settings come from the environment (STUDYBOT_DATABASE, STUDYBOT_QUESTIONS, STUDYBOT_HEALTH_FILE, ...).
A fake platform plays members: each interaction asks for a quiz and answers it, as a button press (choice
questions) or a written answer. stdout gets `start N` before an interaction, `ack N POST_ID` only after the
answer call returned (the answer is committed: that is what a member would be told), `ready` once serving
and `drained` when the platform's stop() has finished every interaction in flight. The burst is bounded in
count and time and stops by itself.

The platform also logs the configured tokens on purpose (in a message, its arguments and a traceback), so the
tests can check that none reaches the log output.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time

import adapters.serve
from adapters.app import configure_logging
from bot.config import Settings
from bot.messages import Message
from bot.service import Actor, AnswerResult, ChannelSettings, StudyService

LIMIT = int(os.environ.get("BURST_LIMIT", "20000"))
SECONDS = float(os.environ.get("BURST_SECONDS", "60"))
CONCURRENCY = int(os.environ.get("BURST_CONCURRENCY", "8"))

log = logging.getLogger("burst")


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class NullPublisher:
    supports_images = False

    async def publish(self, channel: ChannelSettings, message: Message, *, to: str | None = None) -> str | None:
        return None


class BurstPlatform:
    name = "burst"

    def __init__(self, service: StudyService, settings: Settings) -> None:
        self.service = service
        self.settings = settings
        self.publisher = NullPublisher()
        self._stopping = False
        self._inflight: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        log.info("connecting with token %s", self.settings.discord_token)
        try:
            raise RuntimeError(f"handshake refused for {self.settings.slack_bot_token}")
        except RuntimeError:
            log.exception("example failure, token %s in the message too", self.settings.slack_app_token)
        self._loop = asyncio.create_task(self._burst())
        say("ready")

    async def _burst(self) -> None:
        slots = asyncio.Semaphore(CONCURRENCY)
        deadline = time.monotonic() + SECONDS
        for n in range(1, LIMIT + 1):
            await slots.acquire()
            if self._stopping or time.monotonic() > deadline:
                slots.release()
                break
            task = asyncio.create_task(self._interaction(n))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            task.add_done_callback(lambda _: slots.release())
        if not self._stopping:  # bounded: end the run by ourselves
            os.kill(os.getpid(), signal.SIGTERM)

    async def _interaction(self, n: int) -> None:
        actor = Actor("burst", "team", "general", f"u{n}", f"member {n}", community_name="Team")
        say(f"start {n}")
        card = await self.service.quiz(actor)
        assert card.post_id is not None
        choice = next((b.id for b in card.buttons if b.id.startswith(f"sb:a:{card.post_id}:")), None)
        if choice is not None:
            result = await self.service.press(actor, choice)
        else:
            result = await self.service.answer_text(actor, card.post_id, "an answer written in a hurry")
        assert isinstance(result, AnswerResult) and result.recorded
        say(f"ack {n} {card.post_id}")

    async def stop(self) -> None:
        """Stop taking new interactions and finish those in flight."""
        self._stopping = True
        if self._loop is not None:
            await self._loop
        await asyncio.gather(*self._inflight)
        say("drained")


def main() -> int:
    settings = Settings.load()
    configure_logging(settings)
    adapters.serve.build_platform = lambda name, service, s: BurstPlatform(service, s)  # type: ignore[assignment]
    return asyncio.run(adapters.serve.serve(settings, ["burst"]))


if __name__ == "__main__":
    raise SystemExit(main())
