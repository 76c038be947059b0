"""Scheduled posts into Slack channels; when the bot is not in a channel, the admin who set it up is told
how to let it in (at most twice a day)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from adapters.runtime import Pacer, pacing
from adapters.slack.installations import using_token
from adapters.slack.render import escape
from bot.messages import Image, Message
from bot.service import ChannelSettings

if TYPE_CHECKING:
    from adapters.slack.adapter import SlackPlatform

log = logging.getLogger("adapters.slack.adapter")

NOTIFY_EVERY = 12 * 3600.0  # at most one "invite me" DM per channel in this many seconds
NOT_IN_CHANNEL = frozenset({"not_in_channel", "channel_not_found"})
NO_FILE_RIGHTS = frozenset({"missing_scope", "not_allowed_token_type", "no_permission"})
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]+$")


POSTS_PER_SECOND = 10.0  # per workspace; STUDYBOT_SLACK_POSTS_PER_SECOND
MAX_429_WAITS = 30


def retry_after_seconds(headers: Mapping[str, Any]) -> float:
    """Slack's Retry-After (whole seconds; 1 when absent or unreadable). slack_sdk gives a response's headers
    as strings, its retry handlers as lists of strings."""
    for name, value in headers.items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                return 1.0
    return 1.0


class ChannelUnavailable(Exception):
    """A scheduled post could not be delivered because the bot is not in the channel."""


class SlackPublisher:
    """Posts the scheduler's messages; tells the configuring admin when the bot is not in the channel."""

    supports_images = True  # the digest's chart, uploaded after its message (text remains the fallback)

    def __init__(self, platform: SlackPlatform, posts_per_second: float = POSTS_PER_SECOND) -> None:
        self.platform = platform
        self.posts_per_second = posts_per_second
        self._pacers: dict[str, Pacer] = {}  # per workspace: Slack's limits are per workspace and channel
        self._notified: dict[str, float] = {}
        self.images_allowed = True  # false once Slack said the app lacks files:write (no asking each week)

    async def publish(self, channel: ChannelSettings, message: Message, *, to: str | None = None) -> str | None:
        """Post with the token of the channel's workspace (its stored installation with the OAuth flow)."""
        token = await self.platform.bot_token(channel.community_external)
        if not token:
            raise ChannelUnavailable(f"studybot is not installed in Slack workspace {channel.community_external} "
                                     "(uninstalled, or its token was revoked); install it again, then /studybot resume")
        pacer = self._pacers.setdefault(channel.community_external, Pacer(self.posts_per_second))
        with using_token(token), pacing(pacer):
            for waits in range(MAX_429_WAITS + 1):
                await pacer.wait()
                try:
                    return await self._publish(channel, message, to=to)
                except SlackApiError as exc:
                    # slack_sdk waits out three 429s itself; a long fan-out can meet more. Wait as long as
                    # Slack says and post again: a rate limit never loses a post.
                    if exc.response.status_code != 429 or waits == MAX_429_WAITS:
                        raise
                    pacer.hold(retry_after_seconds(exc.response.headers))
        raise AssertionError("unreachable")

    async def _publish(self, channel: ChannelSettings, message: Message, *, to: str | None) -> str | None:
        target = to or channel.external_id
        try:
            ts = await self.platform.post_message(target, message)
        except SlackApiError as exc:
            error = str(exc.response.get("error", ""))
            if error not in NOT_IN_CHANNEL:
                raise
            told = await self.notify_not_in_channel(channel, target)
            raise ChannelUnavailable(
                f"cannot post in Slack channel {target} ({error}); "
                + (f"asked {channel.configured_by} to invite the bot" if told else "nobody to tell")) from None
        if message.image is not None and self.images_allowed:
            await self.upload_image(target, message.image)
        return f"{target}:{ts}"

    async def upload_image(self, channel: str, image: Image) -> None:
        """Upload through files.getUploadURLExternal and files.completeUploadExternal (files.upload is
        retired). Without the files:write scope the message's text (with the chart's description) stands."""
        try:
            await self.platform.client.files_upload_v2(channel=channel, content=image.data, filename=image.filename,
                                                       title=image.alt[:250] or "chart")
        except SlackApiError as exc:
            error = str(exc.response.get("error", ""))
            if error in NO_FILE_RIGHTS:
                self.images_allowed = False
                log.warning("slack: cannot upload the digest chart (%s): add the files:write scope to the app "
                            "to see it; the digest is posted as text", error)
                return
            log.warning("slack: uploading the digest chart to %s failed (%s); the digest is posted as text",
                        channel, error)

    async def notify_not_in_channel(self, channel: ChannelSettings, target: str) -> bool:
        """DM the admin who set the channel up how to let the bot in; at most once per NOTIFY_EVERY."""
        admin = channel.configured_by
        if not admin:
            log.warning("slack: not in channel %s and nobody configured it", target)
            return False
        now = time.monotonic()
        last = self._notified.get(target)
        if last is not None and now - last < NOTIFY_EVERY:
            return True
        self._notified[target] = now
        place = f"<#{target}>" if _CHANNEL_ID.match(target) else f"channel {escape(target)}"
        text = (f"I couldn't post today's studybot message in {place}: I'm not a member of that channel.\n"
                f"Open {place} and type `/invite @studybot`, and the next post will go through. "
                "To stop the posts instead, run `/studybot pause` there.")
        try:
            dm = await self.platform.open_dm(admin)
            await self.platform.client.chat_postMessage(
                channel=dm, text=text, unfurl_links=False, unfurl_media=False,
                blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}])
        except SlackApiError as exc:
            log.warning("slack: could not DM %s about channel %s: %s", admin, target, exc.response.get("error"))
            return False
        return True
