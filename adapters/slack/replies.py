"""Sending replies through Slack's Web API: public posts, ephemeral messages (with the response_url as the
fallback where the bot is not a member), DMs and the answer form."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.middleware.authorization.async_single_team_authorization import AsyncSingleTeamAuthorization
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.runtime import retry_paced
from adapters.slack.events import Where, form_metadata, form_origin
from adapters.slack.publisher import NO_FILE_RIGHTS, NOT_IN_CHANNEL, retry_after_seconds
from adapters.slack.render import answer_modal, form_modal, render
from bot.config import Settings
from bot.errors import ConfigError, UserError
from bot.messages import Attachment, Form, Message
from bot.service import TextPrompt

log = logging.getLogger("adapters.slack.adapter")


class PacedRateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's 429 retry, waiting through the sender's pacer (adapters.runtime.retry_paced): in a
    fan-out, one 429 holds every post to that workspace, not only the one that met it."""

    async def prepare_for_next_attempt_async(self, *, state: RetryState, request: HttpRequest,
                                             response: HttpResponse | None = None,
                                             error: Exception | None = None) -> None:
        if response is None:
            raise error or RuntimeError("a rate-limit retry without a response")
        state.next_attempt_requested = True
        await retry_paced(retry_after_seconds(response.headers))
        state.increment_current_attempt()


def retry_handlers() -> list[AsyncRetryHandler]:
    """Connection resets once, rate limits (HTTP 429, honouring Retry-After) up to three times."""
    return [AsyncConnectionErrorRetryHandler(), PacedRateLimitRetryHandler(max_retry_count=3)]


def api_base(settings: Settings) -> str:
    base = settings.slack_api_url or AsyncWebClient.BASE_URL
    return base if base.endswith("/") else base + "/"


def slack_mode(settings: Settings) -> str:
    """socket or http: STUDYBOT_SLACK_MODE, else Socket Mode when an app-level token is set (and the app is not
    installed through the OAuth flow, which runs in HTTP mode)."""
    mode = (settings.slack_mode or "").strip().lower()
    if mode in ("http", "socket"):
        return mode
    if mode:
        raise ConfigError("STUDYBOT_SLACK_MODE is socket or http")
    return "socket" if settings.slack_app_token and not settings.slack_oauth else "http"


def share_auth_test(app: AsyncApp, result: AsyncSlackResponse) -> None:
    """Give slack-bolt's single-workspace authorization the auth.test answer start-up already has. It
    otherwise asks on the first request, and a burst of first requests would each ask (500 presses made
    about 500 auth.test calls). Without that middleware (a newer slack-bolt), nothing changes."""
    for middleware in getattr(app, "_async_middleware_list", ()):
        if isinstance(middleware, AsyncSingleTeamAuthorization) and middleware.auth_test_result is None:
            middleware.auth_test_result = result


class Replies:
    def __init__(self, client: AsyncWebClient, remember: Callable[[int, str], Awaitable[None]]) -> None:
        self.client = client
        self.remember = remember  # where a post's public card is (to refresh its count later)
        self.session: aiohttp.ClientSession | None = None
        self._dms: dict[str, str] = {}

    async def post_message(self, channel: str, message: Message) -> str:
        response = await self.client.chat_postMessage(channel=channel, unfurl_links=False, unfurl_media=False,
                                                      **render(message))
        return str(response["ts"])

    async def send_public(self, where: Where, message: Message, *, remember: int | None = None) -> None:
        if where.channel is None:
            where.channel = await self.open_dm(where.user)
        try:
            ts = await self.post_message(where.channel, message)
        except SlackApiError as exc:
            if exc.response.get("error") not in NOT_IN_CHANNEL:
                raise
            if where.response_url:  # a slash command's response_url can post where the bot is not a member
                await self.respond(where.response_url, message, response_type="in_channel")
                return
            raise UserError("I'm not a member of this channel. Add me with /invite @studybot and try again.") from None
        if remember is not None:
            await self.remember(remember, f"{where.channel}:{ts}")

    async def send_ephemeral(self, where: Where, message: Message) -> None:
        if where.direct or where.channel is None:
            channel = where.channel or await self.open_dm(where.user)
            await self.post_message(channel, message)
            return
        try:
            await self.client.chat_postEphemeral(channel=where.channel, user=where.user, **render(message))
        except SlackApiError:
            if not where.response_url:
                raise
            await self.respond(where.response_url, message, response_type="ephemeral")

    async def respond(self, url: str, message: Message, *, response_type: str | None = None,
                      replace_original: bool = False) -> None:
        client = AsyncWebhookClient(url, session=self.session, retry_handlers=retry_handlers(), logger=log)
        payload = render(message)
        response = await client.send(text=payload["text"], blocks=payload["blocks"], response_type=response_type,
                                     replace_original=replace_original, unfurl_links=False, unfurl_media=False)
        if response.status_code != 200:
            raise RuntimeError(f"response_url answered {response.status_code}: {response.body[:200]}")

    async def open_answer_modal(self, where: Where, prompt: TextPrompt) -> None:
        if not where.trigger_id:
            raise UserError("Press “Answer in words” on the question to write an answer.")
        meta = form_metadata(where, prompt.post_id)
        await self.client.views_open(trigger_id=where.trigger_id, view=answer_modal(prompt.question, meta))

    async def open_form(self, where: Where, form: Form) -> None:
        if not where.trigger_id:
            raise UserError("That form can only open from a command or a button; try again.")
        await self.client.views_open(trigger_id=where.trigger_id, view=form_modal(form, form_origin(where)))

    async def send_file(self, user: str, file: Attachment) -> None:
        """A file for one member, in their DM with the bot (files.getUploadURLExternal and
        files.completeUploadExternal)."""
        try:
            await self.client.files_upload_v2(channel=await self.open_dm(user), content=file.data,
                                              filename=file.filename, title=file.description[:250] or file.filename)
        except SlackApiError as exc:
            if str(exc.response.get("error", "")) in NO_FILE_RIGHTS:
                raise UserError("I can't send files in this workspace yet: an admin needs to add the files:write "
                                "scope to the app.") from None
            raise

    async def open_dm(self, user: str) -> str:
        if user not in self._dms:
            response = await self.client.conversations_open(users=user)
            self._dms[user] = str(response["channel"]["id"])
        return self._dms[user]
