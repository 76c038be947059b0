"""Typed actions: every button and form of studybot, and the one codec that turns them into the short ids
platforms carry (Discord custom_id, Slack action_id, a Telegram callback) and back. Nothing else parses ids.

Ids are stable and self-describing (`sb:a:42:1` is "answer post 42 with the option shown second"), so a
button pressed after a restart, or on a post from an older process, still finds its post. Every id fits the
strictest platform limit (Telegram's 64 bytes; Discord allows 100 characters, Slack 255).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

PREFIX = "sb:"
ID_LIMITS = {"discord": 100, "slack": 255, "telegram": 64}
MAX_ID_BYTES = min(ID_LIMITS.values())
RATINGS = ("again", "hard", "good", "easy")


@dataclass(frozen=True, slots=True)
class AnswerChoice:
    post_id: int
    shown: int  # the position of the option on the card (0 = A)


@dataclass(frozen=True, slots=True)
class AnswerInWords:
    """Pressed: open the text prompt; submitted with text: grade it (the form carries the same id)."""

    post_id: int


@dataclass(frozen=True, slots=True)
class Reveal:
    post_id: int


@dataclass(frozen=True, slots=True)
class More:
    post_id: int


@dataclass(frozen=True, slots=True)
class Rate:
    post_id: int
    rating: str  # one of RATINGS


@dataclass(frozen=True, slots=True)
class Appeal:
    """"I think I was right": the member contests the verdict on their written answer to the post."""

    post_id: int


@dataclass(frozen=True, slots=True)
class DecideAppeal:
    appeal_id: int
    uphold: bool


@dataclass(frozen=True, slots=True)
class ExportMisses:
    """The member's missed questions as an Anki deck."""


@dataclass(frozen=True, slots=True)
class PickTopic:
    slug: str


@dataclass(frozen=True, slots=True)
class Practice:
    """A practice question from the member's reviews due."""


@dataclass(frozen=True, slots=True)
class WriteQuestion:
    """Pressed: open the question form; submitted with its values: publish (an admin) or queue for review."""


@dataclass(frozen=True, slots=True)
class EditSubmission:
    """An admin edits a queued question: pressed, the form filled in with it; submitted, the edits saved."""

    submission_id: int


@dataclass(frozen=True, slots=True)
class DecideSubmission:
    """Approve publishes a queued question; reject, pressed, asks for the reason (a form carrying the same id)
    and, submitted with it, rejects."""

    submission_id: int
    approve: bool


@dataclass(frozen=True, slots=True)
class SkipSubmission:
    """Leave this queued question for later and show the next one."""

    submission_id: int


Action = (AnswerChoice | AnswerInWords | Reveal | More | Rate | Appeal | DecideAppeal | ExportMisses | PickTopic
          | Practice | WriteQuestion | EditSubmission | DecideSubmission | SkipSubmission)

_INT = r"([0-9]{1,18})"
_PATTERNS: tuple[tuple[re.Pattern[str], type], ...] = (
    (re.compile(rf"sb:a:{_INT}:([0-9])"), AnswerChoice),
    (re.compile(rf"sb:w:{_INT}"), AnswerInWords),
    (re.compile(rf"sb:r:{_INT}"), Reveal),
    (re.compile(rf"sb:m:{_INT}"), More),
    (re.compile(rf"sb:s:{_INT}:({'|'.join(RATINGS)})"), Rate),
    (re.compile(rf"sb:p:{_INT}"), Appeal),
    (re.compile(rf"sb:d:{_INT}:([01])"), DecideAppeal),
    (re.compile(r"sb:t:([a-z0-9]+(?:-[a-z0-9]+)*)"), PickTopic),
    (re.compile(r"sb:q"), Practice),
    (re.compile(r"sb:k"), ExportMisses),
    (re.compile(r"sb:n"), WriteQuestion),
    (re.compile(rf"sb:e:{_INT}"), EditSubmission),
    (re.compile(rf"sb:v:{_INT}:([01])"), DecideSubmission),
    (re.compile(rf"sb:x:{_INT}"), SkipSubmission),
)


def encode(action: Action) -> str:
    """The platform id of `action`; ValueError when it would not fit every platform."""
    match action:
        case AnswerChoice(post_id, shown):
            text = f"sb:a:{post_id}:{shown}"
        case AnswerInWords(post_id):
            text = f"sb:w:{post_id}"
        case Reveal(post_id):
            text = f"sb:r:{post_id}"
        case More(post_id):
            text = f"sb:m:{post_id}"
        case Rate(post_id, rating):
            text = f"sb:s:{post_id}:{rating}"
        case Appeal(post_id):
            text = f"sb:p:{post_id}"
        case DecideAppeal(appeal_id, uphold):
            text = f"sb:d:{appeal_id}:{int(uphold)}"
        case PickTopic(slug):
            text = f"sb:t:{slug}"
        case Practice():
            text = "sb:q"
        case ExportMisses():
            text = "sb:k"
        case WriteQuestion():
            text = "sb:n"
        case EditSubmission(submission_id):
            text = f"sb:e:{submission_id}"
        case DecideSubmission(submission_id, approve):
            text = f"sb:v:{submission_id}:{int(approve)}"
        case SkipSubmission(submission_id):
            text = f"sb:x:{submission_id}"
    if len(text.encode()) > MAX_ID_BYTES or decode(text) != action:
        raise ValueError(f"action {action!r} has no valid id within {MAX_ID_BYTES} bytes")
    return text


def decode(text: object) -> Action | None:
    """The action an id stands for, or None when it is not one of ours (or damaged)."""
    if not isinstance(text, str) or not text.startswith(PREFIX) or len(text) > MAX_ID_BYTES:
        return None
    return _decode(text)


@lru_cache(maxsize=8192)  # rendering and routing a burst of clicks decode the same few ids again and again
def _decode(text: str) -> Action | None:
    for pattern, kind in _PATTERNS:
        found = pattern.fullmatch(text)
        if found is None:
            continue
        args = found.groups()
        if kind in (PickTopic, Practice, ExportMisses, WriteQuestion):
            return kind(*args)  # type: ignore[no-any-return,unused-ignore]
        number = int(args[0])
        if kind is AnswerChoice:
            return AnswerChoice(number, int(args[1]))
        if kind is DecideAppeal:
            return DecideAppeal(number, args[1] == "1")
        if kind is DecideSubmission:
            return DecideSubmission(number, args[1] == "1")
        return kind(number, *args[1:])  # type: ignore[no-any-return,unused-ignore]
    return None


def is_ours(text: object) -> bool:
    """The id has studybot's prefix (it may still be damaged: decode tells)."""
    return isinstance(text, str) and text.startswith(PREFIX)
