"""DiscordPlatform: discord.py's Client and CommandTree in front of the study service.

- Slash commands (see commands.py) are synced at start-up, globally or to `STUDYBOT_DISCORD_GUILD`.
- Every component and modal whose custom id starts with `sb:` goes through one `on_interaction` router to
  `StudyService.press` / `answer_text`. Ids carry the post id and nothing lives in discord.py's view store,
  so a button pressed after a restart (or on a post from a previous process) works the same.
- Each reply is sent within Discord's 3 s limit: when the service is slower than `defer_after`, the
  interaction is acknowledged first (deferred) and the reply follows.
- The public card of a post is edited with its new answer count after each recorded answer; edits of one
  message are coalesced so a burst of clicks costs a few edits, not one per click.
- `STUDYBOT_DISCORD_API_BASE` / `STUDYBOT_DISCORD_GATEWAY_URL` move discord.py's REST base and gateway
  (REST and gateway proxies; the tests' fake Discord).
- `STUDYBOT_DISCORD_SHARDS` / `STUDYBOT_DISCORD_SHARD_COUNT` connect only some shards (see shards.py); posts
  and card edits go over REST by channel id, so any process can publish to any server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from adapters.discord.client import (
    ANSWER_INPUT,
    GUILD_READY_TIMEOUT,
    HTTP_CONNECTIONS,
    PLATFORM,
    AnswerModal,
    FormModal,
    ShardedStudyClient,
    StudyClient,
    actor_of,
    describe,
    endpoints,
    inputs_of,
    shows_post,
    submitted,
)
from adapters.discord.publisher import RETRY_DELAYS, DiscordPublisher
from adapters.discord.render import form_values, render
from adapters.discord.shards import IdentifyGate, describe_ids, session_limit, shard_plan
from adapters.runtime import CardRefresher, InFlight, acknowledged_in_time
from bot import actions
from bot.config import Settings
from bot.dispatch import (
    Command,
    Dispatcher,
    Effect,
    OpenForm,
    OpenPrompt,
    Press,
    RefreshCard,
    SubmitForm,
    SubmitWords,
)
from bot.errors import ConfigError
from bot.messages import Message, ephemeral
from bot.schedule import Publisher
from bot.service import StudyService

log = logging.getLogger(__name__)

# Discord wants the first response within 3 s of the interaction. A reply normally takes milliseconds; when
# the service has not answered after this long (a burst of clicks), acknowledge first and follow up. It is
# well under 3 s because under load the event loop itself lags (bench/discord_bench.py).
DEFER_AFTER = 1.0
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
RESTARTING = "studybot is restarting; try again in a minute."
UNKNOWN_INTERACTION = 10062  # Discord's error code for an interaction answered too late (or twice)


class DiscordPlatform:
    """What adapters.serve runs: `start()` logs in, syncs commands and connects; `stop()` finishes the
    interactions in flight and disconnects."""

    name: str = PLATFORM

    def __init__(self, service: StudyService, settings: Settings, *, guild_ready_timeout: float | None = None,
                 defer_after: float = DEFER_AFTER, publish_retry_delays: tuple[float, ...] | None = None) -> None:
        self.service = service
        self.settings = settings
        self.guild_ready_timeout = GUILD_READY_TIMEOUT if guild_ready_timeout is None else guild_ready_timeout
        self.defer_after = defer_after
        self.connections = HTTP_CONNECTIONS
        self.client: StudyClient | None = None
        self.publisher: Publisher = DiscordPublisher(
            lambda: self.client, RETRY_DELAYS if publish_retry_delays is None else publish_retry_delays,
            posts_per_second=settings.discord_posts_per_second)
        # Edits of one message coalesce: a burst of clicks costs a few edits, not one per click.
        self.cards: CardRefresher[tuple[int, int], int] = CardRefresher(self._edit_card, name="Discord card")
        self.inflight = InFlight()
        self.dispatcher = Dispatcher(service)
        self.synced: list[app_commands.AppCommand] = []
        self._runner: asyncio.Task[None] | None = None
        self._stopping = False
        self._saved_endpoints: tuple[str, yarl.URL] | None = None
        self.identify_gate = IdentifyGate(None)

    # ----------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        if not self.settings.discord_token:
            raise ConfigError("platform discord needs DISCORD_TOKEN")
        api, gateway = endpoints(self.settings)
        plan = shard_plan(self.settings)
        self._saved_endpoints = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
        if api:
            Route.BASE = api
            log.info("Discord REST base: %s", api)
        if gateway:
            DiscordWebSocket.DEFAULT_GATEWAY = gateway
            log.info("Discord gateway: %s", gateway)
        self._stopping = False
        sharded: ShardedStudyClient | None = None
        if plan is None:
            client = StudyClient(self, guild_ready_timeout=self.guild_ready_timeout, connections=self.connections)
        else:  # shard ids and count are set after login, from /gateway/bot when the count is `auto`
            client = sharded = ShardedStudyClient(self, guild_ready_timeout=self.guild_ready_timeout,
                                                  connections=self.connections, shard_ids=[0], shard_count=1)
        self.client = client
        try:
            await client.login(self.settings.discord_token)  # also syncs the commands (setup_hook)
            if plan is not None and sharded is not None:
                recommended, _, limits = await client.http.get_bot_gateway()
                ids, count = plan.resolve(recommended)
                sharded.shard_ids, sharded.shard_count = ids, count
                concurrency, remaining, reset_after = session_limit(limits)
                self.identify_gate = IdentifyGate(self.service.store.schedule, max_concurrency=concurrency)
                log.info("Discord: connecting shards %s of %d (Discord recommends %d; %d identify at a time)",
                         describe_ids(ids), count, recommended, concurrency)
                if remaining is not None and remaining < len(ids):
                    log.warning("Discord: only %d session starts left today for %d shard(s) (reset in %.0f s)",
                                remaining, len(ids), reset_after or 0.0)
        except BaseException:
            await client.close()
            self._restore_endpoints()
            raise
        self._runner = asyncio.create_task(client.connect(reconnect=True), name="studybot-discord-gateway")
        ready = asyncio.create_task(client.wait_until_ready())
        done, _ = await asyncio.wait({self._runner, ready}, timeout=READY_TIMEOUT,
                                     return_when=asyncio.FIRST_COMPLETED)
        if self._runner in done:
            ready.cancel()
            error = self._runner.exception()
            await self.stop()
            raise error or RuntimeError("the Discord gateway connection ended during start-up")
        if ready not in done:
            ready.cancel()
            log.warning("Discord: not ready after %.0f s; still connecting in the background", READY_TIMEOUT)

    async def stop(self) -> None:
        self._stopping = True
        try:
            if not await self.inflight.drain(STOP_TIMEOUT):
                log.warning("Discord: %d interaction(s) still running at shutdown", len(self.inflight))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.cards.drain(), STOP_TIMEOUT)
            if self.client is not None:
                await self.client.close()
            if self._runner is not None:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(self._runner, STOP_TIMEOUT)
        finally:
            self._runner = None
            self._restore_endpoints()

    async def settled(self) -> None:
        """Wait until no interaction is being handled and no card edit is pending (tests, shutdown)."""
        while self.inflight or self.cards.busy:
            await self.inflight.idle()
            await self.cards.drain()

    def _restore_endpoints(self) -> None:
        if self._saved_endpoints is not None:
            Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = self._saved_endpoints
            self._saved_endpoints = None

    async def sync_commands(self) -> None:
        assert self.client is not None
        tree = self.client.tree
        try:
            if self.settings.discord_guild:
                guild = discord.Object(id=int(self.settings.discord_guild.strip()))
                tree.copy_global_to(guild=guild)
                self.synced = await tree.sync(guild=guild)
                log.info("Discord: synced %d commands to server %s", len(self.synced), guild.id)
            else:
                self.synced = await tree.sync()
                log.info("Discord: synced %d global commands (they can take a while to show up)", len(self.synced))
        except discord.HTTPException:
            # The commands registered last time keep working; buttons do not depend on them.
            log.exception("Discord: syncing the application commands failed")

    # ----------------------------------------------------------------- components and modals
    async def route(self, interaction: discord.Interaction[StudyClient]) -> None:
        """Every button and modal of studybot, by custom id; other interactions are not ours."""
        data: Any = interaction.data or {}
        custom_id = data.get("custom_id", "") if isinstance(data, dict) else ""
        if not actions.is_ours(custom_id):
            return
        action = actions.decode(custom_id)
        if interaction.type is discord.InteractionType.component:
            # A modal must be the first response: never defer the button that opens one.
            await self.handle(interaction, Press(action), defer_ephemeral=not isinstance(action, actions.PickTopic),
                              can_defer=not opens_form(action))
        elif interaction.type is discord.InteractionType.modal_submit:
            if isinstance(action, actions.AnswerInWords) or action is None:
                text = submitted(data.get("components", []), ANSWER_INPUT)
                post = action.post_id if isinstance(action, actions.AnswerInWords) else 0  # 0: no such post
                await self.handle(interaction, SubmitWords(post, text or ""))
            else:
                values = form_values(inputs_of(data.get("components", [])))
                await self.handle(interaction, SubmitForm(action, values))

    # ----------------------------------------------------------------- plumbing
    async def handle(self, interaction: discord.Interaction[StudyClient], command: Command,
                     *, defer_ephemeral: bool = True, can_defer: bool = True) -> None:
        """Run `command` and deliver its effects; acknowledge first when it is slow; turn errors into messages."""
        with self.inflight.track():
            await self._handle(interaction, command, defer_ephemeral, can_defer)

    async def _handle(self, interaction: discord.Interaction[StudyClient], command: Command, defer_ephemeral: bool,
                      can_defer: bool) -> None:
        try:
            if self._stopping:
                await self.send(interaction, ephemeral(RESTARTING))
                return
            async def defer() -> None:
                if not interaction.response.is_done():
                    await interaction.response.defer(ephemeral=defer_ephemeral, thinking=True)

            outcome = await acknowledged_in_time(self.dispatcher.run(actor_of(interaction), command, log),
                                                 self.defer_after, defer if can_defer else None)
            await self.deliver(interaction, outcome)
        except Exception as exc:
            if isinstance(exc, discord.NotFound) and exc.code == UNKNOWN_INTERACTION:
                # Too late: Discord has dropped the interaction (and told the member it failed). The work is
                # done and committed; nothing can be sent for it any more.
                age = (discord.utils.utcnow() - interaction.created_at).total_seconds()
                log.warning("Discord interaction %s expired before its reply (%.1f s after it was created)",
                            describe(interaction), age)
                return
            await self.try_send(interaction, self.dispatcher.failure(PLATFORM, exc, describe(interaction), log))

    async def deliver(self, interaction: discord.Interaction[StudyClient], effects: list[Effect]) -> None:
        # A recorded answer's card is refreshed first: the public count goes up even if the feedback fails.
        for effect in sorted(effects, key=lambda e: not isinstance(e, RefreshCard)):
            if isinstance(effect, RefreshCard):
                await self._update_card(interaction, effect.post_id)
            elif isinstance(effect, OpenPrompt):
                if interaction.response.is_done():  # only when it was deferred: a modal can no longer open
                    await self.send(interaction, ephemeral("That took too long; press “Answer in words” again."))
                else:
                    await interaction.response.send_modal(AnswerModal(effect.prompt))
            elif isinstance(effect, OpenForm):
                if interaction.response.is_done():
                    await self.send(interaction, ephemeral("That took too long; try again."))
                else:
                    await interaction.response.send_modal(FormModal(effect.form))
            else:
                message_id = await self.send(interaction, effect.message)
                if message_id is not None and effect.remember is not None:
                    await self.dispatcher.remember(effect.remember, str(message_id))

    async def send(self, interaction: discord.Interaction[StudyClient], message: Message) -> int | None:
        """Reply (or follow up when already acknowledged); returns the new message's id when known."""
        kwargs = render(message).kwargs()
        if not interaction.response.is_done():
            response = await interaction.response.send_message(ephemeral=message.ephemeral, **kwargs)
            return response.message_id
        sent = await interaction.followup.send(ephemeral=message.ephemeral, wait=True, **kwargs)
        return sent.id

    async def try_send(self, interaction: discord.Interaction[StudyClient], message: Message) -> None:
        """Send, logging instead of raising: for error messages, when nothing else can be done."""
        try:
            await self.send(interaction, message)
        except Exception:
            log.exception("Discord: could not tell the member about an error in %s", describe(interaction))

    async def _update_card(self, interaction: discord.Interaction[StudyClient], post_id: int) -> None:
        """Edit the public message showing the post: the clicked one, or the one on record."""
        msg = interaction.message
        if msg is not None and not msg.flags.ephemeral and shows_post(msg, post_id):
            self.cards.submit((msg.channel.id, msg.id), post_id)
            return
        ref = await self.service.message_ref(post_id)
        if ref and ref.isdigit() and interaction.channel_id is not None:
            self.cards.submit((interaction.channel_id, int(ref)), post_id)

    async def _edit_card(self, key: tuple[int, int], post_id: int) -> bool:
        """Show the post's current count on its public message; False when that message is gone for us."""
        channel_id, message_id = key
        card = await self.service.card(post_id)
        client = self.client
        if client is None or client.is_closed():
            return False
        message = client.get_partial_messageable(channel_id).get_partial_message(message_id)
        try:
            await message.edit(**render(card).kwargs(edit=True))
        except (discord.NotFound, discord.Forbidden) as exc:
            log.info("cannot update the card of post %s (message %s): HTTP %s", post_id, message_id, exc.status)
            return False
        return True


def opens_form(action: actions.Action | None) -> bool:
    """Pressing it answers with a modal, which must be the first response (so it is never deferred)."""
    return isinstance(action, actions.AnswerInWords | actions.WriteQuestion | actions.EditSubmission) or (
        isinstance(action, actions.DecideSubmission) and not action.approve)


__all__ = ["AnswerModal", "DiscordPlatform", "StudyClient", "endpoints"]
