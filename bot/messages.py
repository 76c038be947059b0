"""The neutral message model every adapter renders.

Body text uses a small markdown subset that both platforms can express: **bold**, *italic*, `code`,
```fenced code```, and lines starting with "- " as bullets. Content and user input are passed through
`defuse_mentions` when a message is built, so no adapter can turn them into a ping.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

from bot.actions import Action, AnswerChoice, AnswerInWords, decode, encode
from bot.text import defuse_mentions


class Visibility(enum.Enum):
    PUBLIC = "public"
    EPHEMERAL = "ephemeral"  # only the member who acted sees it


class Style(enum.Enum):
    PRIMARY = "primary"
    SECONDARY = "secondary"
    SUCCESS = "success"
    DANGER = "danger"


@dataclass(frozen=True, slots=True)
class Button:
    """`id` is the encoded action (see bot.actions): stable and self-describing, so buttons work after a
    restart. Build buttons with `Button.of(action, ...)`; read what one does with `.action`."""

    id: str
    label: str
    style: Style = Style.SECONDARY

    def __post_init__(self) -> None:
        object.__setattr__(self, "label", defuse_mentions(self.label))

    @classmethod
    def of(cls, action: Action, label: str, style: Style = Style.SECONDARY) -> Button:
        return cls(encode(action), label, style)

    @property
    def action(self) -> Action | None:
        return decode(self.id)


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    value: str
    inline: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", defuse_mentions(self.name))
        object.__setattr__(self, "value", defuse_mentions(self.value))


@dataclass(frozen=True, slots=True)
class Image:
    filename: str
    data: bytes
    alt: str  # the text shown where a platform takes no images


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    data: bytes
    description: str


@dataclass(frozen=True, slots=True)
class Message:
    body: str = ""
    title: str | None = None
    fields: tuple[Field, ...] = ()
    buttons: tuple[Button, ...] = ()
    visibility: Visibility = Visibility.PUBLIC
    footer: str | None = None
    kind: str | None = None  # e.g. "Daily question", "Reveal", "Weekly digest": a header adapters may show
    image: Image | None = None
    file: Attachment | None = None  # a file for the member to download (at most one of image and file)
    post_id: int | None = None  # the post this message shows, when it shows one
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "body", defuse_mentions(self.body))
        if self.title is not None:
            object.__setattr__(self, "title", defuse_mentions(self.title))
        if self.footer is not None:
            object.__setattr__(self, "footer", defuse_mentions(self.footer))

    @property
    def answerable(self) -> bool:
        """A question card: it has buttons that answer its post."""
        return any(isinstance(b.action, AnswerChoice | AnswerInWords) for b in self.buttons)

    @property
    def ephemeral(self) -> bool:
        return self.visibility is Visibility.EPHEMERAL

    def private(self) -> Message:
        return replace(self, visibility=Visibility.EPHEMERAL)

    def plain_text(self) -> str:
        """A fallback rendering with every part as text (notifications, console, logs)."""
        parts = [f"[{self.kind}]"] if self.kind else []
        if self.title:
            parts.append(self.title)
        if self.body:
            parts.append(self.body)
        parts.extend(f"{f.name}: {f.value}" for f in self.fields)
        if self.image:
            parts.append(self.image.alt)
        if self.footer:
            parts.append(self.footer)
        return "\n".join(parts)


@dataclass(frozen=True, slots=True)
class FormField:
    """One input of a form. `max_length` bounds the whole value; a field with `lines` takes one item per line
    (at most `lines` of them, each at most `line_length`): a multi-line input on Discord and Slack, one prompt
    per item in the console. Adapters enforce what their platform can and the core checks everything again."""

    key: str  # the value's name in the submission: lowercase letters only
    label: str
    max_length: int
    required: bool = True
    multiline: bool = False
    placeholder: str = ""
    hint: str = ""  # one short line under the label
    value: str = ""  # prefilled (editing)
    lines: int = 0  # > 0: one item per line, at most this many
    line_length: int = 0

    def __post_init__(self) -> None:
        for name in ("label", "placeholder", "hint"):
            object.__setattr__(self, name, defuse_mentions(getattr(self, name)))


@dataclass(frozen=True, slots=True)
class Form:
    """A form to fill in (a Discord or Slack modal, prompts in the console). `id` is the encoded action the
    submission carries back with the values by field key, so a form submitted after a restart still works."""

    id: str
    title: str
    fields: tuple[FormField, ...]
    intro: str = ""  # shown above the fields where the platform can (Slack, console)
    submit: str = "Submit"

    def __post_init__(self) -> None:
        object.__setattr__(self, "title", defuse_mentions(self.title))
        object.__setattr__(self, "intro", defuse_mentions(self.intro))

    @classmethod
    def of(cls, action: Action, title: str, fields: tuple[FormField, ...], *, intro: str = "",
           submit: str = "Submit") -> Form:
        return cls(encode(action), title, fields, intro, submit)

    @property
    def action(self) -> Action | None:
        return decode(self.id)


def ephemeral(body: str, title: str | None = None) -> Message:
    return Message(body=body, title=title, visibility=Visibility.EPHEMERAL)


def chunk_text(text: str, limit: int) -> list[str]:
    """Split at line breaks (then spaces) so each chunk fits `limit` characters."""
    chunks: list[str] = []
    current = ""
    for raw_line in text.split("\n"):
        line = raw_line
        while len(line) > limit:
            cut = line.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:cut])
            line = line[cut:].lstrip()
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current:
        chunks.append(current)
    return chunks
