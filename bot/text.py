"""Text hygiene shared by the bank and the message model: LaTeX to Unicode, and no mentions."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from pylatexenc.latex2text import LatexNodes2Text

# Math segments ($...$, $$...$$, \(...\), \[...\]) and bare commands such as \frac or \sigma.
_MATH = re.compile(r"\$\$(.+?)\$\$|\$([^$\n]+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.S)
_COMMAND = re.compile(r"\\[a-zA-Z]+")
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)

# Anything a platform could turn into a ping: @everyone/@here, <@id>, <@&role>, <#chan>, <!here>.
_MENTION = re.compile(r"@(everyone|here|channel)\b|<([@#!])", re.I)
ZWSP = "\u200b"


def valid_text(text: str) -> str:
    """`text` without lone surrogates (JSON escapes and undecodable bytes make them); they cannot be stored
    or sent, so each becomes '?'."""
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")


@lru_cache(maxsize=1)
def _latex() -> LatexNodes2Text:
    return LatexNodes2Text(math_mode="text", strict_latex_spaces=False)


def _to_unicode(fragment: str) -> str:
    return " ".join(_latex().latex_to_text(fragment).split())


def outside_code(text: str, transform: Callable[[str], str]) -> str:
    """Apply `transform` to the prose of `text`, leaving `code` spans and ``` blocks as they are."""
    out: list[str] = []
    last = 0
    for code in _CODE.finditer(text):
        out.append(transform(text[last : code.start()]))
        out.append(code.group(0))
        last = code.end()
    out.append(transform(text[last:]))
    return "".join(out)


def latex_to_unicode(text: str) -> str:
    """Turn LaTeX found in prose into readable Unicode; code spans are left alone."""
    if "\\" not in text and "$" not in text:
        return text
    return outside_code(text, _prose_to_unicode)


def _prose_to_unicode(text: str) -> str:
    text = _MATH.sub(lambda m: _to_unicode(next(g for g in m.groups() if g is not None)), text)
    if _COMMAND.search(text):
        text = _COMMAND.sub(lambda m: _to_unicode(m.group(0) + "{}") or m.group(0), text)
    return text


def has_raw_latex(text: str) -> bool:
    prose = _CODE.sub("", text)
    return bool(_MATH.search(prose)) or bool(re.search(r"\\(frac|sum|sqrt|mathbf|mathrm|cdot|left|right)\b", prose))


def defuse_mentions(text: str) -> str:
    """Make sure no content or user input can ping anyone: '@everyone' stays visible text."""
    return _MENTION.sub(lambda m: m.group(0)[0] + ZWSP + m.group(0)[1:], text)
