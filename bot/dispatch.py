"""The interaction pipeline: adapters turn platform events into typed commands, the dispatcher runs them
against the study service and returns effects for the adapter to render. Error mapping lives here once: a
member's mistake becomes a private, friendly line in the platform's words; anything else is logged with a
reference the member can quote.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from bot.actions import Action, PickTopic, Practice
from bot.bank.model import Bank
from bot.errors import PermissionDenied, UnknownTopic, UserError, new_reference
from bot.messages import Button, Form, Message, Style, ephemeral
from bot.schedule import next_post_after
from bot.service import Actor, AnswerResult, StudyService, TextPrompt


# ----------------------------------------------------------------- commands
@dataclass(frozen=True, slots=True)
class Quiz:
    topic: str | None = None
    difficulty: str | None = None
    private: bool = False


@dataclass(frozen=True, slots=True)
class Daily:
    pass


@dataclass(frozen=True, slots=True)
class Leaderboard:
    period: str = "week"
    topic: str | None = None


@dataclass(frozen=True, slots=True)
class Stats:
    member: str | None = None  # the platform's user id; None: the actor
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Setup:
    channel: str | None = None
    time: str = "09:00"
    timezone: str | None = None
    days: str = "weekdays"
    topics: str = ""
    difficulties: str = ""
    reveal_minutes: int | None = None


@dataclass(frozen=True, slots=True)
class Digest:
    channel: str | None = None
    day: str = "mon"
    time: str = "09:00"


@dataclass(frozen=True, slots=True)
class Pause:
    paused: bool
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class Status:
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class Appeals:
    """The admins' queue of appealed verdicts."""


@dataclass(frozen=True, slots=True)
class AddQuestion:
    """Open the form to write a question (an admin's is published at once, a member's is reviewed)."""


@dataclass(frozen=True, slots=True)
class Review:
    """The admins' queue of questions written by members, one at a time."""


@dataclass(frozen=True, slots=True)
class SetPool:
    """Where a channel's daily question and /quiz come from: shipped, own or both."""

    pool: str
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class Help:
    prefix: str = ""  # e.g. "There is no /studybot foo. "


@dataclass(frozen=True, slots=True)
class TopicPicker:
    pass


@dataclass(frozen=True, slots=True)
class Press:
    action: Action | None  # None: an id of ours that no longer decodes (damaged or from a newer version)


@dataclass(frozen=True, slots=True)
class SubmitWords:
    post_id: int
    text: str


@dataclass(frozen=True, slots=True)
class SubmitForm:
    """A filled-in form: `action` is what its id decodes to (None: damaged), `values` by field key."""

    action: Action | None
    values: Mapping[str, str] = field(default_factory=dict)


Command = (Quiz | Daily | Leaderboard | Stats | Setup | Digest | Pause | Status | Appeals | Help | TopicPicker
           | Press | SubmitWords | AddQuestion | Review | SetPool | SubmitForm)
# Commands after which the member is told what happened to their questions (never the hot path of buttons).
_TELLS = (Quiz, Daily, Leaderboard, Stats, Setup, Digest, Pause, Status, Appeals, Help, TopicPicker, Review, SetPool,
          SubmitForm)


# ----------------------------------------------------------------- effects
@dataclass(frozen=True, slots=True)
class Reply:
    """Send `message` (public or private by its visibility). `remember` is the post of a question card
    posted publicly: the adapter reports where it showed it through `Dispatcher.remember(post, reference)`,
    so the card's count can be refreshed later."""

    message: Message

    @property
    def remember(self) -> int | None:
        message = self.message
        return message.post_id if message.answerable and not message.ephemeral else None


@dataclass(frozen=True, slots=True)
class OpenPrompt:
    """Ask for an answer in words (a modal, or a prompt in the terminal)."""

    prompt: TextPrompt


@dataclass(frozen=True, slots=True)
class RefreshCard:
    """An answer was recorded: the public card of the post shows a new count."""

    post_id: int
    card: Message


@dataclass(frozen=True, slots=True)
class OpenForm:
    """Ask for several values at once (a modal on Discord and Slack, field by field in the console); the
    submission comes back as SubmitForm with the form's action."""

    form: Form


Effect = Reply | OpenPrompt | OpenForm | RefreshCard


# ----------------------------------------------------------------- wording
@dataclass(frozen=True, slots=True)
class Wording:
    """How one platform names things in the messages the core writes."""

    admins: str  # who may run admin commands
    help: str
    warn: str = ""  # the prefix of a member's mistake
    refuse: str = ""  # the prefix of a permission refusal
    sorry: str = "Something went wrong (ref {ref})."
    suggest_buttons: bool = True  # an unknown topic comes with buttons for the closest ones


WORDING: dict[str, Wording] = {
    "discord": Wording(
        admins="server admins",
        help="**/quiz [topic] [difficulty]**: a practice question (no topic: your most overdue review)\n"
             "**/daily**: today's question in this channel\n"
             "**/leaderboard [week|month|all|30d] [topic]**\n"
             "**/stats [member]**: points, accuracy, streaks, mastery, reviews due\n"
             "**/question add** (or **/studybot question add**): write a question; a member's goes to the admins' "
             "review\n"
             "**/studybot setup | digest | pause | resume | status | appeals | review | pool**: server admins only",
        sorry="Something went wrong (ref {ref}). Please try again; if it keeps happening, tell a server admin."),
    "slack": Wording(
        admins="workspace admins and owners",
        help="**/quiz [topic] [easy|medium|hard]**: a practice question (alone: pick a topic)\n"
             "**/leaderboard [week|month|all|30d] [topic]**\n"
             "**/studybot stats [@member]**: points, accuracy, streaks, mastery, reviews due\n"
             "**/studybot daily**: today's question in this channel\n"
             "**/studybot setup [#channel] [HH:MM] [timezone] [weekdays|daily|mon,wed,fri] [topics] [easy,medium] "
             "[reveal=MIN]**\n"
             "**/studybot question add**: write a question; a member's goes to the admins' review\n"
             "**/studybot digest [#channel] [day] [HH:MM]** · **pause** · **resume** · **status** · **appeals** · "
             "**review** · **pool shipped|own|both [#channel]**: workspace admins only\n"
             "Your progress and reviews due are on studybot's Home tab.",
        warn="⚠️ ", refuse="⛔ "),
    "console": Wording(
        admins="admins",
        help="Commands:\n"
             "  /quiz [topic] [difficulty]     a practice question (no topic: your most overdue review)\n"
             "  /daily                         today's question in this channel\n"
             "  /leaderboard [week|month|all|30d] [topic]\n"
             "  /stats [name]                  points, accuracy, streaks, mastery, reviews due\n"
             "  /studybot setup [HH:MM] [timezone] [days] [topics] | digest [day] [HH:MM] | pause | resume | status"
             " | appeals\n"
             "  /studybot question add         write a question (a form, field by field; /cancel stops it)\n"
             "  /studybot review | pool shipped|own|both   the review queue; this channel's question pool\n"
             "  /as NAME                       act as that member (an admin)\n"
             "  /member NAME                   act as that member without admin rights\n"
             "  /press N                       press button N of the last message you can see\n"
             "  /advance DURATION              move the clock (e.g. 30m, 2h, 1d, 7d), running what falls due\n"
             "  /help, /quit\n"
             "A plain line answers the open question in words.",
        warn="⚠ ", refuse="⚠ ", suggest_buttons=False,
        sorry="Something went wrong (reference {ref}); nothing you were told was lost. Try again."),
}


def wording(platform: str) -> Wording:
    return WORDING.get(platform, WORDING["discord"])


# ----------------------------------------------------------------- the dispatcher
class Dispatcher:
    def __init__(self, service: StudyService) -> None:
        self.service = service

    async def run(self, actor: Actor, command: Command, log: logging.Logger | None = None) -> list[Effect]:
        """Run `command` for `actor`; errors become private replies (never exceptions)."""
        try:
            effects = await self._run(actor, command)
        except UnknownTopic as exc:  # with buttons for the closest topics this community has
            return [Reply(await self.topic_help(actor, exc, wording(actor.platform)))]
        except Exception as exc:
            return [Reply(self.failure(actor.platform, exc, type(command).__name__, log))]
        if isinstance(command, _TELLS) and not any(isinstance(e, OpenPrompt | OpenForm) for e in effects):
            effects += await self.notices(actor, log)
        return effects

    async def notices(self, actor: Actor, log: logging.Logger | None = None) -> list[Effect]:
        """The decisions on the member's written questions they have not heard yet (private replies)."""
        try:
            return [Reply(m) for m in await self.service.notices(actor)]
        except Exception:
            (log or logging.getLogger(__name__)).exception("%s: telling %s about their questions failed",
                                                           actor.platform, actor.user)
            return []

    def failure(self, platform: str, exc: Exception, what: str, log: logging.Logger | None = None) -> Message:
        """The private reply for an error: the member's mistake in the platform's words, or a reference to
        the logged traceback."""
        words = wording(platform)
        if isinstance(exc, PermissionDenied):
            return ephemeral(f"{words.refuse}Only {words.admins} can use {exc.what}.")
        if isinstance(exc, UserError):
            return ephemeral(f"{words.warn}{exc}")
        ref = new_reference()
        (log or logging.getLogger(__name__)).error("%s: %s failed (ref %s)", platform, what, ref, exc_info=exc)
        return ephemeral(words.sorry.format(ref=ref))

    async def _run(self, actor: Actor, command: Command) -> list[Effect]:
        service = self.service
        match command:
            case Quiz(topic, difficulty, private):
                return _effects(await service.quiz(actor, topic, difficulty, private))
            case Daily():
                settings = await service.channel_settings(await service.channel_id(actor))
                return _effects(await service.daily(actor, next_post_after(settings, service.clock.now())))
            case Leaderboard(period, topic):
                return _effects(await service.leaderboard(actor, period, topic))
            case Stats(member, name):
                return _effects(await (service.stats(actor) if member is None
                                       else service.stats(actor, member, name or member)))
            case Setup(channel, time, timezone, days, topics, difficulties, reveal):
                return _effects(await service.setup(actor, channel=channel, time=time, timezone=timezone, days=days,
                                                    topics=topics, difficulties=difficulties,
                                                    reveal_minutes=reveal))
            case Digest(channel, day, time):
                return _effects(await service.set_digest(actor, channel=channel, day=day, time=time))
            case Pause(paused, channel):
                return _effects(await service.set_paused(actor, paused, channel))
            case Status(channel):
                return _effects(await service.status(actor, channel))
            case Appeals():
                return _effects(await service.open_appeals(actor))
            case Help(prefix):
                return [Reply(self.help(actor.platform, prefix, await service.actor_bank(actor)))]
            case TopicPicker():
                return [Reply(await self.topic_picker(actor))]
            case Press(action):
                return _effects(await service.press(actor, action))
            case SubmitWords(post_id, text):
                return _effects(await service.answer_text(actor, post_id, text))
            case AddQuestion():
                return _effects(await service.question_form(actor))
            case Review():
                return _effects(await service.review(actor))
            case SetPool(pool, channel):
                return _effects(await service.set_pool(actor, pool, channel))
            case SubmitForm(action, values):
                return _effects(await service.submit_form(actor, action, values))
        raise TypeError(f"not a command: {command!r}")

    async def remember(self, post_id: int, reference: str) -> None:
        """Where the platform shows a post's public card, so its count can be refreshed later."""
        await self.service.set_message_ref(post_id, reference)

    # ----------------------------------------------------------------- canned messages
    def help(self, platform: str, prefix: str = "", bank: Bank | None = None) -> Message:
        topics = ", ".join((bank or self.service.bank).topics)
        return ephemeral(f"{prefix}{wording(platform).help}\nTopics: {topics}", title="studybot help")

    async def topic_picker(self, actor: Actor) -> Message:
        buttons = (Button.of(Practice(), "My reviews", Style.PRIMARY), *await self.service.topic_buttons(actor))
        return replace(ephemeral("Pick a topic for a practice question, or press *My reviews* for the ones "
                                 "due.", title="Practice"), buttons=buttons[:50])

    async def topic_help(self, actor: Actor, exc: UnknownTopic, words: Wording) -> Message:
        if not words.suggest_buttons:
            return ephemeral(f"{words.warn}{exc}")
        bank = await self.service.actor_bank(actor)
        found = tuple(Button.of(PickTopic(slug), bank.topics[slug].title, Style.SECONDARY)
                      for slug in exc.suggestions if slug in bank.topics)
        buttons = found or await self.service.topic_buttons(actor)
        body = f"{words.warn}{exc}\n" + ("Closest topics:" if found else "The topics are:")
        return replace(ephemeral(body), buttons=buttons)


def _effects(outcome: Message | TextPrompt | Form | AnswerResult) -> list[Effect]:
    if isinstance(outcome, TextPrompt):
        return [OpenPrompt(outcome)]
    if isinstance(outcome, Form):
        return [OpenForm(outcome)]
    if isinstance(outcome, AnswerResult):
        refresh: list[Effect] = []
        if outcome.recorded and outcome.card is not None and outcome.card.post_id is not None:
            refresh.append(RefreshCard(outcome.card.post_id, outcome.card))
        return [Reply(outcome.feedback), *refresh]
    return [Reply(outcome)]

