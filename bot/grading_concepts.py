"""Named concepts of a bank entry, and which of them a clause of an answer is about.

A comparison or a list ("round robin ... least connections ...", "DDPM ... DDIM ...", "FCN ... CNN ...")
attaches each property to one named concept. A fluent wrong answer swaps them: "least connections cycles
through the servers". This module finds the names and, in an answer, the concept a clause is about; the
grader (bot/grading.py) checks it against the concept the key point attaches the property to.

Names are what the entry writes as names: acronyms and capitalised words in mid-sentence (DDPM, FCN,
Jaccard, BM25), double-quoted terms ("top", "bottom") and list headings of the model answer ("- Round robin:",
"Least connections (optionally weighted):"). A key point is about the names it opens with (its subject: the
first name among its first words, with the names coordinated with it, "Round robin and weighted round
robin"); only such subjects are compared, so a name used in passing (Markov, ReLU) binds nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

# Acronyms anywhere (DDPM, BM25, ReLU, L1); capitalised words only in mid-sentence (Jaccard, not "Round").
_ACRONYM = re.compile(r"\b[A-Za-z]*[A-Z][a-z]*[A-Z0-9][A-Za-z0-9]*\b")
_CAPITAL = re.compile(r"(?<=[a-z0-9,)] )[A-Z][a-z]{2,}\b")
_QUOTED = re.compile(r"[\"\u201c]([A-Za-z][A-Za-z0-9 -]{0,30})[\"\u201d]")
_HEADING = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])?\s*([A-Za-z][A-Za-z0-9 -]{0,40}?)\s*(?::|\()", re.M)
MAX_HEADING_WORDS = 4
SUBJECT_START = 2  # a key point's subject is named among its first words
SUBJECT_GAP = 1  # at most one other word between coordinated names ("top or deep layers")
CLAIM_GAP = 5  # at most this many words between a claim and the name it is about


@dataclass(frozen=True, slots=True)
class Concepts:
    """The names the key points are about: each as its stems; per key point, the indexes of its subject."""

    terms: tuple[tuple[str, ...], ...] = ()
    owners: tuple[frozenset[int], ...] = ()
    labels: tuple[str, ...] = ()  # each name as the entry writes it

    def __bool__(self) -> bool:
        return len({o for o in self.owners if o}) >= 2  # two key points about different names: a comparison


def names(answer: str, others: Iterable[str]) -> list[str]:
    """Name-like terms written in the entry: acronyms, capitalised words in mid-sentence, quoted terms (all
    texts), and the model answer's list headings."""
    found: list[str] = []
    texts = (answer, *others)
    lower = set(re.findall(r"\b[a-z][a-z-]*\b", " ".join(texts)))
    for text in texts:
        found += _ACRONYM.findall(text) + _QUOTED.findall(text)
        found += [w for w in _CAPITAL.findall(text) if w.lower() not in lower]  # Jaccard, not Networks
    found += [h for h in _HEADING.findall(answer) if len(h.split()) <= MAX_HEADING_WORDS]
    return found


_VOWEL = re.compile(r"[aeiouy]")


def base(stem: str) -> str:
    """An acronym's plural as the acronym: "rnns" is "rnn", "fcns" is "fcn" (the stemmer keeps them)."""
    return stem[:-1] if len(stem) > 2 and stem.endswith("s") and not _VOWEL.search(stem[:-1]) else stem


def mentions(stems: Mapping[int, str], terms: tuple[tuple[str, ...], ...]) -> list[tuple[int, int, int]]:
    """(start, end, term index) of each name said at these positions, longest name first where two overlap
    ("weighted round robin" over "round robin")."""
    out: list[tuple[int, int, int]] = []
    taken: set[int] = set()
    said = {p: base(s) for p, s in stems.items()}
    for index in sorted(range(len(terms)), key=lambda i: -len(terms[i])):
        term = terms[index]
        for start, stem in said.items():
            if stem == term[0] and start not in taken and all(said.get(start + k) == s for k, s in enumerate(term)):
                span = range(start, start + len(term))
                if not taken.intersection(span):
                    taken.update(span)
                    out.append((start, start + len(term) - 1, index))
    return sorted(out)


def subject(point: list[str], terms: tuple[tuple[str, ...], ...]) -> frozenset[int]:
    """The names a key point opens with: the first, if among its first SUBJECT_START words, and the names
    coordinated with it."""
    found = mentions(dict(enumerate(point)), terms)
    if not found or found[0][0] >= SUBJECT_START:
        return frozenset()
    owners = {found[0][2]}
    end = found[0][1]
    for start, stop, index in found[1:]:
        if start - end - 1 > SUBJECT_GAP:
            break
        owners.add(index)
        end = stop
    return frozenset(owners)


def compile_concepts(answer: str, others: Iterable[str], points: list[list[str]],
                     tokens: Callable[[str], list[str]]) -> Concepts:
    """The entry's compared names and each key point's subject; empty unless two key points are about
    different names."""
    written: dict[tuple[str, ...], str] = {}
    for name in names(answer, others):
        stems = tuple(base(s) for s in tokens(name))
        if stems and "not" not in stems:
            written.setdefault(stems, name.strip())
    terms = tuple(sorted(written))
    owners = tuple(subject(p, terms) for p in points)
    terms = tuple(terms[i] for i in sorted(set().union(*owners)))  # only the names some key point is about
    concepts = Concepts(terms, tuple(subject(p, terms) for p in points), tuple(written[t] for t in terms))
    return concepts if concepts else Concepts()


def about(found: list[tuple[int, int, int]], first: int, last: int, clause: range, *,
          commas: Collection[int] = (), colons: Collection[int] = ()) -> int | None:
    """The name a claim said at positions first..last is about: the name that heads its clause ("bagging:
    ..."), else the nearest named before it in its clause, else the nearest after it; none if that is more
    than CLAIM_GAP words away, or a comma that does not follow the name directly stands between them (items
    of a list: "Gaussian mixtures, HMMs, missing data")."""
    heading = [m for m in found if m[0] == clause.start and m[1] + 1 in colons and m[1] < first]
    if heading:
        return heading[0][2]
    before = [m for m in found if m[1] < first and m[0] in clause]
    if before:
        _, end, name = before[-1]
        between = [p for p in commas if end < p <= first]
        ok = first - end - 1 <= CLAIM_GAP and (not between or between == [end + 1])
        return name if ok else None
    after = [m for m in found if m[0] > last and m[0] in clause]
    if after:
        start, _, name = after[0]
        ok = start - last - 1 <= CLAIM_GAP and not any(last < p <= start for p in commas)
        return name if ok else None
    return None
