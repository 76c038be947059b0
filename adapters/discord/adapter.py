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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from adapters.discord import commands
from adapters.discord.publisher import DiscordPublisher
from adapters.discord.render import (
    MODAL_DESCRIPTION,
    MODAL_LABEL,
    MODAL_TEXT,
    MODAL_TITLE,
    PLACEHOLDER,
    clip,
    render,
    safe_text,
)
from adapters.runtime import CardRefresher, InFlight
from bot import actions
from bot.config import Settings
from bot.dispatch import (
    Command,
    Daily,
    Digest,
    Dispatcher,
    Effect,
    Leaderboard,
    OpenPrompt,
    Pause,
    Press,
    Quiz,
    RefreshCard,
    Setup,
    Stats,
    Status,
    SubmitWords,
    wording,
)
from bot.errors import ConfigError, new_reference
from bot.messages import Message, ephemeral
from bot.schedule import Publisher
from bot.service import Actor, StudyService, TextPrompt

log = logging.getLogger(__name__)

PLATFORM = "discord"
ANSWER_INPUT = "answer"
# Discord wants the first response within 3 s of the interaction. A reply normally takes milliseconds; when
# the service has not answered after this long (a burst of clicks), acknowledge first and follow up. It is
# well under 3 s because under load the event loop itself lags (bench/discord_bench.py).
DEFER_AFTER = 1.0
# Keep-alive connections to the REST API, pooled: a burst of replies reuses them instead of opening (TLS)
# connections by the hundred (discord.py's default is no limit).
HTTP_CONNECTIONS = 100
GUILD_READY_TIMEOUT = 2.0  # discord.py's default wait for the servers' data before on_ready
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
API_VERSION_PATH = "/api/v10"
RESTARTING = "studybot is restarting; try again in a minute."
UNKNOWN_INTERACTION = 10062  # Discord's error code for an interaction answered too late (or twice)


def endpoints(settings: Settings) -> tuple[str | None, yarl.URL | None]:
    """The REST base and gateway URL from the settings (None: discord.py's default)."""
    api = settings.discord_api_base.strip().rstrip("/") or None
    gateway = settings.discord_gateway_url.strip() or None
    if api is not None:
        parts = urlsplit(api)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError("STUDYBOT_DISCORD_API_BASE must be an http(s) URL")
        if parts.path in ("", "/"):
            api += API_VERSION_PATH
    if settings.discord_guild and not settings.discord_guild.strip().isdigit():
        raise ConfigError("STUDYBOT_DISCORD_GUILD must be a server id (a number)")
    url = None
    if gateway is not None:
        url = yarl.URL(gateway)
        if url.scheme not in ("ws", "wss") or not url.host:
            raise ConfigError("STUDYBOT_DISCORD_GATEWAY_URL must be a ws(s) URL")
    return api, url


class StudyTree(app_commands.CommandTree["StudyClient"]):
    async def on_error(self, interaction: discord.Interaction[StudyClient],
                       error: app_commands.AppCommandError) -> None:
        """Option conversions and checks that failed before a callback ran (callbacks handle their own)."""
        if isinstance(error, app_commands.TransformerError):
            log.info("Discord command %s: option not usable: %s", _describe(interaction), error)
            text = "I could not use that option value; pick it from the list Discord offers."
        elif isinstance(error, app_commands.CheckFailure):
            log.info("Discord command %s: check failed: %s", _describe(interaction), error)
            text = "You can't use this command here."
        else:
            ref = new_reference()
            log.error("Discord command %s failed (ref %s)", _describe(interaction), ref, exc_info=error)
            text = wording(PLATFORM).sorry.format(ref=ref)
        await interaction.client.platform.try_send(interaction, ephemeral(text))


class StudyClient(discord.Client):
    """Default intents only: slash commands and components need no privileged intent."""

    def __init__(self, platform: DiscordPlatform, *, guild_ready_timeout: float, connections: int) -> None:
        super().__init__(intents=discord.Intents.default(), allowed_mentions=discord.AllowedMentions.none(),
                         max_messages=None, chunk_guilds_at_startup=False, guild_ready_timeout=guild_ready_timeout,
                         connector=aiohttp.TCPConnector(limit=connections) if connections else None)
        self.platform = platform
        self.tree = StudyTree(self, allowed_contexts=app_commands.AppCommandContext(guild=True),
                              allowed_installs=app_commands.AppInstallationType(guild=True))
        commands.register(self.tree, platform)

    async def setup_hook(self) -> None:
        await self.platform.sync_commands()

    async def on_ready(self) -> None:
        log.info("Discord: connected as %s to %d server(s)", self.user, len(self.guilds))

    async def on_interaction(self, interaction: discord.Interaction[StudyClient]) -> None:
        await self.platform.route(interaction)


class AnswerModal(discord.ui.Modal):
    """The free-text answer form. Its custom id is the post's `sb:w:<post>`: the submit is routed like a
    button, so it is not kept in discord.py's store either."""

    def __init__(self, prompt: TextPrompt) -> None:
        super().__init__(title=clip("Answer in words", MODAL_TITLE),
                         custom_id=actions.encode(actions.AnswerInWords(prompt.post_id)), timeout=None)
        self.add_item(discord.ui.TextDisplay(f"**{clip(safe_text(prompt.question), 1000)}**"))
        self.add_item(discord.ui.Label(
            text=clip("Your answer", MODAL_LABEL),
            description=clip("Graded against the key points. Only your first answer counts.", MODAL_DESCRIPTION),
            component=discord.ui.TextInput(custom_id=ANSWER_INPUT, style=discord.TextStyle.paragraph,
                                           min_length=1, max_length=MODAL_TEXT, required=True,
                                           placeholder=clip("A few sentences in your own words", PLACEHOLDER))))

    def is_finished(self) -> bool:
        return True


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
        self.publisher: Publisher = (DiscordPublisher(lambda: self.client) if publish_retry_delays is None
                                     else DiscordPublisher(lambda: self.client, publish_retry_delays))
        # Edits of one message coalesce: a burst of clicks costs a few edits, not one per click.
        self.cards: CardRefresher[tuple[int, int], int] = CardRefresher(self._edit_card, name="Discord card")
        self.inflight = InFlight()
        self.dispatcher = Dispatcher(service)
        self.synced: list[app_commands.AppCommand] = []
        self._runner: asyncio.Task[None] | None = None
        self._stopping = False
        self._saved_endpoints: tuple[str, yarl.URL] | None = None

    # ----------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        if not self.settings.discord_token:
            raise ConfigError("platform discord needs DISCORD_TOKEN")
        api, gateway = endpoints(self.settings)
        self._saved_endpoints = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
        if api:
            Route.BASE = api
            log.info("Discord REST base: %s", api)
        if gateway:
            DiscordWebSocket.DEFAULT_GATEWAY = gateway
            log.info("Discord gateway: %s", gateway)
        self._stopping = False
        self.client = client = StudyClient(self, guild_ready_timeout=self.guild_ready_timeout,
                                           connections=self.connections)
        try:
            await client.login(self.settings.discord_token)  # also syncs the commands (setup_hook)
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

    # ----------------------------------------------------------------- commands
    async def quiz(self, interaction: discord.Interaction[StudyClient], topic: str | None, difficulty: str | None,
                   private: bool) -> None:
        await self.handle(interaction, Quiz(topic, difficulty, private), defer_ephemeral=private)

    async def daily(self, interaction: discord.Interaction[StudyClient]) -> None:
        await self.handle(interaction, Daily())

    async def leaderboard(self, interaction: discord.Interaction[StudyClient], period: str,
                          topic: str | None) -> None:
        await self.handle(interaction, Leaderboard(period, topic), defer_ephemeral=False)

    async def stats(self, interaction: discord.Interaction[StudyClient],
                    member: discord.User | discord.Member | None) -> None:
        await self.handle(interaction, Stats() if member is None else Stats(str(member.id), member.display_name))

    async def setup(self, interaction: discord.Interaction[StudyClient], channel: discord.TextChannel, *, time: str,
                    timezone: str, days: str, topics: str) -> None:
        await self.handle(interaction, Setup(str(channel.id), time, timezone, days, topics))

    async def digest(self, interaction: discord.Interaction[StudyClient], channel: discord.TextChannel, day: str,
                     time: str) -> None:
        await self.handle(interaction, Digest(str(channel.id), day, time))

    async def pause(self, interaction: discord.Interaction[StudyClient], paused: bool) -> None:
        await self.handle(interaction, Pause(paused))

    async def status(self, interaction: discord.Interaction[StudyClient]) -> None:
        await self.handle(interaction, Status())

    def topic_choices(self, current: str) -> list[app_commands.Choice[str]]:
        try:
            found = self.service.bank.search_topics(current, limit=commands.MAX_CHOICES)
        except Exception:
            log.exception("topic autocomplete failed for %r", current)
            return []
        return [app_commands.Choice(name=clip(t.title, 100), value=t.slug) for t in found]

    def topic_list_choices(self, current: str) -> list[app_commands.Choice[str]]:
        """Autocomplete the last item of a comma-separated topic list."""
        done, _, last = current.rpartition(",")
        prefix = ",".join(p.strip() for p in done.split(",") if p.strip())
        chosen = set(prefix.split(",")) if prefix else set()
        out = []
        for choice in self.topic_choices(last):
            value = f"{prefix},{choice.value}" if prefix else str(choice.value)
            if choice.value in chosen or len(value) > 100:
                continue
            out.append(app_commands.Choice(name=clip(value.replace(",", ", "), 100), value=value))
        return out

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
                              can_defer=not isinstance(action, actions.AnswerInWords))
        elif interaction.type is discord.InteractionType.modal_submit:
            text = _submitted(data.get("components", []), ANSWER_INPUT)
            post = action.post_id if isinstance(action, actions.AnswerInWords) else 0  # 0: no such post
            await self.handle(interaction, SubmitWords(post, text or ""))

    # ----------------------------------------------------------------- plumbing
    def actor(self, interaction: discord.Interaction[StudyClient]) -> Actor:
        user = interaction.user
        guild_id = interaction.guild_id
        perms = interaction.permissions
        guild = interaction.guild
        channel = interaction.channel
        return Actor(
            platform=PLATFORM,
            community=str(guild_id) if guild_id else f"dm-{user.id}",
            channel=str(interaction.channel_id or f"dm-{user.id}"),
            user=str(user.id),
            name=user.display_name,
            is_admin=bool(guild_id) and (perms.manage_guild or perms.administrator),
            community_name=(guild.name if guild is not None else "") or "",
            channel_name=getattr(channel, "name", None) or "",
        )

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
            job = asyncio.ensure_future(self.dispatcher.run(self.actor(interaction), command, log))
            try:
                done, _ = await asyncio.wait({job}, timeout=self.defer_after)
                if not done and can_defer and not interaction.response.is_done():
                    await interaction.response.defer(ephemeral=defer_ephemeral, thinking=True)
                outcome = await job
            finally:
                if not job.done():  # the acknowledgement failed: let the work finish, it was committed to
                    job.add_done_callback(_consume)
            await self.deliver(interaction, outcome)
        except Exception as exc:
            if isinstance(exc, discord.NotFound) and exc.code == UNKNOWN_INTERACTION:
                # Too late: Discord has dropped the interaction (and told the member it failed). The work is
                # done and committed; nothing can be sent for it any more.
                age = (discord.utils.utcnow() - interaction.created_at).total_seconds()
                log.warning("Discord interaction %s expired before its reply (%.1f s after it was created)",
                            _describe(interaction), age)
                return
            await self.try_send(interaction, self.dispatcher.failure(PLATFORM, exc, _describe(interaction), log))

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
            else:
                message = effect.message
                message_id = await self.send(interaction, message)
                if message_id is not None and not message.ephemeral and message.post_id is not None \
                        and message.answerable:
                    await self.dispatcher.remember(message.post_id, str(message_id))

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
            log.exception("Discord: could not tell the member about an error in %s", _describe(interaction))

    async def _update_card(self, interaction: discord.Interaction[StudyClient], post_id: int) -> None:
        """Edit the public message showing the post: the clicked one, or the one on record."""
        msg = interaction.message
        if msg is not None and not msg.flags.ephemeral and _shows_post(msg, post_id):
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


def _consume(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("Discord: work of an interaction failed after its acknowledgement failed",
                  exc_info=task.exception())


def _submitted(components: Any, custom_id: str) -> str | None:
    """The value of the modal input `custom_id` (inside action rows or labels)."""
    for component in components if isinstance(components, list) else []:
        if not isinstance(component, dict):
            continue
        if component.get("custom_id") == custom_id and "value" in component:
            return str(component["value"])
        nested = component.get("components") or ([component["component"]] if "component" in component else [])
        found = _submitted(nested, custom_id)
        if found is not None:
            return found
    return None


def _shows_post(message: discord.Message, post_id: int) -> bool:
    """The message is the card of `post_id`: one of its buttons answers that post."""
    for row in message.components:
        for child in getattr(row, "children", ()):
            action = actions.decode(getattr(child, "custom_id", None))
            if isinstance(action, actions.AnswerChoice | actions.AnswerInWords) and action.post_id == post_id:
                return True
    return False


def _describe(interaction: discord.Interaction[Any]) -> str:
    data: Any = interaction.data or {}
    what = data.get("custom_id") or data.get("name") or "?"
    where = f"{interaction.guild_id}/{interaction.channel_id}"
    return f"{interaction.type.name} {what!r} by {interaction.user.id} in {where}"
