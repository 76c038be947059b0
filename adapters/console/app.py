"""The console adapter: the whole bot in a terminal, one simulated channel, a hand-moved clock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shlex
import sys
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from bot.bank.model import DIFFICULTIES
from bot.clock import ManualClock
from bot.dispatch import (
    AddQuestion,
    Appeals,
    Command,
    Daily,
    Digest,
    Dispatcher,
    Leaderboard,
    OpenForm,
    OpenPrompt,
    Pause,
    Press,
    Quiz,
    RefreshCard,
    Reply,
    Review,
    SetPool,
    Setup,
    Stats,
    Status,
    SubmitForm,
    SubmitWords,
    wording,
)
from bot.errors import UserError, new_reference
from bot.messages import Attachment, Button, Form, FormField, Message
from bot.schedule import KIND_TITLES, Scheduler
from bot.service import Actor, ChannelSettings, StudyService, TextPrompt

log = logging.getLogger(__name__)
COMMUNITY = "console"
CHANNEL = "general"
# ASCII digits only, and short: a number of 400 digits (or in another script) is a typo, not a duration.
_DURATION = re.compile(r"([0-9]{1,9}(?:\.[0-9]{1,9})?)\s*([wdhms])")
_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_BUTTON = re.compile(r"[0-9]{1,4}")
MAX_ADVANCE = timedelta(days=90)
MAX_LINE_CHARS = 4000  # longer lines are refused (and read no further), whatever is pasted
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC_LINE = re.compile(r"^_(.+)_$", re.MULTILINE)  # a whole line in italics: a verdict's note


def _plain(text: str) -> str:
    return _ITALIC_LINE.sub(r"\1", _BOLD.sub(r"\1", text))


def parse_duration(text: str) -> timedelta:
    parts = _DURATION.findall(text.strip().lower())
    if not parts or _DURATION.sub("", text.strip().lower()).strip():
        raise UserError("Durations look like 30m, 2h, 1d or 1d12h.")
    seconds = sum(float(n) * _SECONDS[u] for n, u in parts)
    if seconds > MAX_ADVANCE.total_seconds():
        # Every day in between is simulated (posts, reveals, digests): a typo like 7000d would hang the console.
        raise UserError(f"You can advance at most {MAX_ADVANCE.days} days at a time.")
    return timedelta(seconds=seconds)


class _LineReader:
    """Lines of stdin read on a daemon thread, so the event loop stays free: Ctrl-C stops the console at
    once (a blocking read in the loop would swallow it), and the thread never holds the process open."""

    TOO_LONG = "\x00"  # stands for a line longer than MAX_LINE_CHARS (a real line ends with a newline)

    def __init__(self, stdin: TextIO) -> None:
        self._queue: asyncio.Queue[str] = asyncio.Queue(maxsize=16)
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=self._read, args=(stdin,), name="console-stdin", daemon=True).start()

    def _read(self, stdin: TextIO) -> None:
        try:
            while True:
                line = stdin.readline(MAX_LINE_CHARS + 1)
                if len(line) > MAX_LINE_CHARS and not line.endswith("\n"):
                    while line and not line.endswith("\n"):  # skip the rest without keeping it
                        line = stdin.readline(65536)
                    line = self.TOO_LONG if line else ""
                self._put(line)
                if not line:
                    return
        except (OSError, ValueError):  # stdin closed or unreadable: the same as end of input
            self._put("")

    def _put(self, line: str) -> None:
        # Blocks this thread (not the loop) while the console is behind; stops if the loop has closed.
        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(self._queue.put(line), self._loop).result()

    async def next(self) -> str | None:
        """The next line, TOO_LONG for one that was too long, None at the end of input."""
        return await self._queue.get() or None


@dataclass
class _FormState:
    """A form being filled in, field by field (a field of `lines` item by item)."""

    form: Form
    index: int = 0
    values: dict[str, str] = field(default_factory=dict)
    items: list[str] = field(default_factory=list)

    @property
    def field(self) -> FormField:
        return self.form.fields[self.index]


@dataclass
class _Seen:
    """What one member can see: public messages and their own ephemeral ones."""

    buttons: tuple[Button, ...] = ()
    seq: int = 0  # when those buttons were shown
    open_post: int | None = None
    open_seq: int = 0  # when that question card was shown
    prompt: TextPrompt | None = None
    form: _FormState | None = None


class ConsolePublisher:
    supports_images = False

    def __init__(self, console: ConsoleApp) -> None:
        self.console = console

    async def publish(self, channel: ChannelSettings, message: Message, *, to: str | None = None) -> str | None:
        self.console.show(message, public=True, header=True)
        return None


class ConsoleApp:
    def __init__(self, service: StudyService, clock: ManualClock, out: TextIO = sys.stdout,
                 user: str = "you") -> None:
        self.service = service
        self.clock = clock
        self.out = out
        self.user = user
        self.admin = True  # /as acts as an admin, /member as a member without admin rights
        self.scheduler = Scheduler(service, {"console": ConsolePublisher(self)})
        self.dispatcher = Dispatcher(service)
        self._public = _Seen()
        self._private: dict[str, _Seen] = {}
        self._seq = 0
        self._channel_zone: ZoneInfo = ZoneInfo("UTC")
        self.commands: dict[str, Callable[[list[str]], Awaitable[None]]] = {
            "/as": self._as, "/quiz": self._quiz, "/daily": self._daily, "/leaderboard": self._leaderboard,
            "/stats": self._stats, "/studybot": self._studybot, "/press": self._press, "/advance": self._advance,
            "/help": self._help, "/member": self._member,
        }

    # ----------------------------------------------------------------- plumbing
    @property
    def actor(self) -> Actor:
        return Actor("console", COMMUNITY, CHANNEL, self.user, self.user, is_admin=self.admin,
                     community_name="Console", channel_name=CHANNEL)

    def _mine(self) -> _Seen:
        return self._private.setdefault(self.user, _Seen())

    def write(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def show(self, message: Message, *, public: bool, header: bool = False) -> None:
        lines: list[str] = []
        when = self.clock.now().astimezone(self._zone)
        if header and message.kind:
            lines.append(f"=== {message.kind} · {when:%a %d %b %Y %H:%M} ===")
        elif message.ephemeral:
            lines.append(f"(private to {self.user})")
        if message.title:
            lines.append(f"── {message.title} ──")
        if message.body:
            lines.append(_plain(message.body))
        for f in message.fields:
            lines.append(_plain(f.name) + ":")
            lines.append("  " + _plain(f.value).replace("\n", "\n  "))
        if message.image is not None:
            lines.append(f"[chart] {message.image.alt}")
        if message.file is not None:
            lines.append(f"[file saved: {self._save(message.file)}]")
        if message.buttons:
            lines.append("  ".join(f"[{i}] {b.label}" for i, b in enumerate(message.buttons, 1)))
        if message.footer:
            lines.append(message.footer)
        self.write("\n".join(lines))
        seen = self._public if public else self._mine()
        self._seq += 1
        if message.buttons:
            seen.buttons, seen.seq = message.buttons, self._seq
        if message.post_id is not None and message.answerable:
            seen.open_post, seen.open_seq = message.post_id, self._seq

    def _save(self, file: Attachment) -> str:
        """Write a file the bot sends into the current folder under a new name (never over another file)."""
        stem, dot, suffix = file.filename.rpartition(".")
        for n in range(1, 1000):
            name = file.filename if n == 1 else f"{stem}-{n}{dot}{suffix}"
            try:
                with open(name, "xb") as fh:
                    fh.write(file.data)
            except FileExistsError:
                continue
            except OSError as exc:
                return f"could not save {name}: {exc.strerror or exc}"
            return str(Path(name).resolve())
        return "could not save it: too many files of that name here"

    @property
    def _zone(self) -> ZoneInfo:
        return self._channel_zone

    async def start(self) -> None:
        """Configure the simulated channel with the default schedule on first use."""
        channel = await self.service.channel_id(self.actor)
        settings = await self.service.channel_settings(channel)
        self._channel_zone = settings.zone
        if not settings.enabled:
            await self.service.setup(self.actor, time="09:00", days="weekdays",
                                     timezone=self.service.default_timezone)
            await self.service.set_digest(self.actor, day="mon", time="09:00")
            settings = await self.service.channel_settings(channel)
            self._channel_zone = settings.zone
        await self.scheduler.acquire_lease()
        await self._run_due()

    async def run(self, stdin: TextIO) -> int:
        await self.start()
        interactive = stdin.isatty()
        self.write(f"studybot console: you are '{self.user}' in #{CHANNEL}. Type /help for commands.")
        lines = _LineReader(stdin)
        while True:
            if interactive:
                self.out.write("> ")
                self.out.flush()
            line = await lines.next()
            if line is None:
                return 0
            if line == _LineReader.TOO_LONG:
                self._refuse_long_line()
                continue
            line = line.strip()
            if not line:
                continue
            if line in ("/quit", "/exit"):
                return 0
            await self.handle(line)

    async def handle(self, line: str) -> None:
        if len(line) > MAX_LINE_CHARS:
            self._refuse_long_line()
            return
        try:
            form = self._mine().form
            if form is not None and (not line.startswith("/") or line.lower() == "/cancel"):
                await self._fill(form, line)
            elif line.startswith("/"):
                try:
                    words = shlex.split(line)
                except ValueError:
                    words = line.split()
                command = self.commands.get(words[0].lower())
                if command is None:
                    raise UserError(f"Unknown command {words[0]}. Type /help.")
                await command(words[1:])
            else:
                await self._answer_words(line)
        except UserError as exc:
            self.write(f"(private to {self.user}) ⚠ {exc}")
        except Exception as exc:
            reference = new_reference()
            log.error("console command failed (reference %s): %s", reference, type(exc).__name__)
            log.debug("console command failed (reference %s)", reference, exc_info=True)
            self.write(f"(private to {self.user}) ⚠ Something went wrong (reference {reference}); "
                       "nothing you were told was lost. Try again.")

    def _refuse_long_line(self) -> None:
        self.write(f"(private to {self.user}) ⚠ That line is too long; keep it under {MAX_LINE_CHARS} characters.")

    async def _run(self, command: Command) -> None:
        """One command through the core's pipeline; its effects printed as the member would see them."""
        for effect in await self.dispatcher.run(self.actor, command, log):
            if isinstance(effect, Reply):
                self.show(effect.message, public=not effect.message.ephemeral)
            elif isinstance(effect, OpenPrompt):
                self._mine().prompt = effect.prompt
                self.write(f"(private to {self.user}) Type your answer to “{effect.prompt.question}” as a plain "
                           "line.")
            elif isinstance(effect, OpenForm):
                self._open_form(effect.form)
            elif isinstance(effect, RefreshCard) and effect.card.footer:
                self.write(f"(public post updated: {effect.card.footer})")

    # ----------------------------------------------------------------- forms, field by field
    def _open_form(self, form: Form) -> None:
        state = self._mine().form = _FormState(form)
        intro = f" {_plain(form.intro)}" if form.intro else ""
        self.write(f"(private to {self.user}) ── {form.title} ──{intro} Answer each field on its own line; "
                   "/cancel stops.")
        self._ask(state)

    def _ask(self, state: _FormState) -> None:
        f, total = state.field, len(state.form.fields)
        head = f"[{state.index + 1}/{total}] {f.label}"
        if f.lines:
            head += f", {len(state.items) + 1} of up to {f.lines} (at most {f.line_length} characters; '-' when done)"
        else:
            head += f" (at most {f.max_length} characters{'' if f.required else '; - leaves it empty'})"
        if f.hint:
            head += f". {f.hint}"
        if f.value and not state.items:
            head += f"\n  now: {f.value.replace(chr(10), ' | ')}  ('=' keeps it)"
        self.write(f"(private to {self.user}) {head}")

    async def _fill(self, state: _FormState, line: str) -> None:
        mine = self._mine()
        if line.lower() == "/cancel":
            mine.form = None
            self.write(f"(private to {self.user}) Cancelled: nothing was sent.")
            return
        f = state.field
        keep = line == "=" and bool(f.value) and not state.items
        if f.lines and not keep:
            if line != "-":
                if len(line) > f.line_length:
                    raise UserError(f"That is {len(line)} characters; keep it to {f.line_length}. Type it again.")
                state.items.append(line)
                if len(state.items) < f.lines:
                    self._ask(state)
                    return
            state.values[f.key] = "\n".join(state.items)
        elif keep:
            state.values[f.key] = f.value
        elif line == "-" and not f.required:
            state.values[f.key] = ""
        elif len(line) > f.max_length:
            raise UserError(f"That is {len(line)} characters; keep it to {f.max_length}. Type it again.")
        else:
            state.values[f.key] = line
        state.index, state.items = state.index + 1, []
        if state.index < len(state.form.fields):
            self._ask(state)
            return
        mine.form = None
        await self._run(SubmitForm(state.form.action, state.values))

    async def _run_due(self) -> None:
        await self.scheduler.run_due()

    # ----------------------------------------------------------------- commands
    async def _as(self, args: list[str]) -> None:
        if not args:
            raise UserError("Usage: /as NAME")
        self.user, self.admin = " ".join(args), True
        self.write(f"(you are now {self.user})")

    async def _member(self, args: list[str]) -> None:
        if not args:
            raise UserError("Usage: /member NAME")
        self.user, self.admin = " ".join(args), False
        self.write(f"(you are now {self.user}, a member without admin rights)")

    async def _quiz(self, args: list[str]) -> None:
        difficulty = None
        if args and args[-1].lower() in DIFFICULTIES:
            difficulty = args.pop().lower()
        await self._run(Quiz(" ".join(args) or None, difficulty))

    async def _daily(self, args: list[str]) -> None:
        await self._run(Daily())

    async def _leaderboard(self, args: list[str]) -> None:
        await self._run(Leaderboard(args[0] if args else "week", " ".join(args[1:]) or None))

    async def _stats(self, args: list[str]) -> None:
        name = " ".join(args) or None
        await self._run(Stats(name, name))

    async def _studybot(self, args: list[str]) -> None:
        sub = args[0].lower() if args else "help"
        rest = args[1:]
        if sub == "setup":
            await self._run(Setup(time=rest[0] if rest else "09:00", timezone=rest[1] if len(rest) > 1 else None,
                                  days=rest[2] if len(rest) > 2 else "weekdays",
                                  topics=rest[3] if len(rest) > 3 else ""))
            settings = await self.service.channel_settings(await self.service.channel_id(self.actor))
            self._channel_zone = settings.zone
        elif sub == "digest":
            await self._run(Digest(day=rest[0] if rest else "mon", time=rest[1] if len(rest) > 1 else "09:00"))
        elif sub in ("pause", "resume"):
            await self._run(Pause(sub == "pause"))
        elif sub == "status":
            await self._run(Status())
        elif sub == "appeals":
            await self._run(Appeals())
        elif sub == "question" and rest and rest[0].lower() == "add":
            await self._run(AddQuestion())
        elif sub == "review":
            await self._run(Review())
        elif sub == "pool":
            await self._run(SetPool(rest[0] if rest else ""))
        elif sub == "stats":
            await self._stats(rest)
        else:
            await self._help([])

    async def _help(self, args: list[str]) -> None:
        self.write(wording("console").help)
        self.write("Topics: " + ", ".join(self.service.bank.topics))

    async def _press(self, args: list[str]) -> None:
        if not args or not _BUTTON.fullmatch(args[0]):
            raise UserError("Usage: /press N (buttons print as [N] label)")
        mine, public = self._mine(), self._public
        # The newest message this member can see that has buttons: their own or the channel's.
        buttons = mine.buttons if mine.seq > public.seq else public.buttons
        if not buttons:
            raise UserError("There is nothing to press yet.")
        n = int(args[0])
        if not 1 <= n <= len(buttons):
            raise UserError(f"Choose a button from 1 to {len(buttons)}.")
        button = buttons[n - 1]
        self.write(f"({self.user} pressed {button.label})")
        await self._run(Press(button.action))

    async def _answer_words(self, text: str) -> None:
        mine, public = self._mine(), self._public
        # The question the member was asked for in words, else the newest question card they can see (their
        # own or the channel's): words typed under a new /quiz must not answer an older private /daily card.
        newest = mine if mine.open_post is not None and mine.open_seq > public.open_seq else public
        post = mine.prompt.post_id if mine.prompt else (newest.open_post or mine.open_post)
        if post is None:
            raise UserError("There is no open question. Try /quiz or /daily.")
        mine.prompt = None
        await self._run(SubmitWords(post, text))

    async def _advance(self, args: list[str]) -> None:
        if not args:
            raise UserError("Usage: /advance DURATION (e.g. 30m, 2h, 1d, 7d)")
        target = self.clock.now() + parse_duration("".join(args))
        while True:
            wake = await self.scheduler.next_wakeup()
            if wake is None or wake > target:
                break
            self.clock.set(wake)
            await self._run_due()
        self.clock.set(target)
        await self._run_due()
        self.write(f"(clock: {self.clock.now().astimezone(self._zone):%a %d %b %Y %H:%M %Z})")


__all__ = ["KIND_TITLES", "ConsoleApp", "parse_duration"]
