"""Free-text grading against a question's key points.

Lexical and fast (about a millisecond per answer at worst): text is normalised, stemmed and stripped of
stopwords (negations are kept). Symbols are words: a comparison reads as less/greater with the named side as
subject ("mean < 60 < mode": the mean is less and the mode greater than 60), ^= as xor; stopwords that the
reference writes in capitals as keywords (SQL's FROM, WHERE, HAVING, BY) are content words. A decimal is one
word (5.1), a fraction one word and its parts (6/216); informal short forms read as their words (nets, params,
lr, w/o); a typing slip reads as the entry's own word ("gradeint": one slip in 6+ letters, two in 9+, never in a
direction word). A key point is hit when its statement or one of its `accept` phrasings occurs in the answer
with its words close together and not negated; a word the phrasing says twice needs two places, and a
two-word phrasing said apart in the other order is another relation. When the question compares subjects, a
phrasing that opens with one of them (or an accept phrasing of a key point that does) does not count in a
clause about another. Words the question already uses count for less, so restating the question earns
little. The score is 0.8 x the mean key-point strength plus 0.2 x the share of the answer's own words that
the reference uses.

The decision rule, in order:
1. Sure contradiction -> "not quite" (score capped at 0.2): a key point's `reject` phrasing, in order and
   close together (a direction word in it that qualifies another compared name does not count: "a smaller
   student" is not "a smaller teacher"); the word pairs that set one of the question's wrong choices apart
   from the right one; or, for a closed question whose answer opens with its pick ("Yes.", "Often yes.",
   "Absolute." for "absolute or relative?"), an answer that opens with the other one; or a key point's
   property said of another of the names the key points are about ("least connections cycles through
   servers", DDIM for DDPM: grading_concepts). Names are acronyms, capitalised words the entry never writes
   in lower case, quoted terms and the model answer's list headings; a key point is about the names it
   opens with. A claim (a phrasing of two or more words, hit) is about the name heading its clause
   ("bagging: ..."), else the nearest one before it, else after it, at most 5 words away and not across a
   list comma; it does not count when a key point about that name
   says it too, or the claim's comma-segment names the point's own subject.
2. Doubt -> a key point said with one of its direction words turned round ("raises bias" for "lowers bias",
   overfit for underfit, before for after: grading_lexicon.OPPOSITES; also when the opposite word stands
   nearer to the words it qualifies: "a small dataset, a big learning rate"), or most (70%) of the words of
   a wrong choice that the reference never uses, or a key point's property said both of its own name and of
   another.
   An answer that would pass is then "not sure" (the member sees the model answer and rates themselves,
   0 points); one that would not is "not quite".
3. "Correct" needs a score of at least 0.7, at least half the key points hit and, unless every key point is
   hit, at least MIN_SAID (12) distinct words of the reference that the question does not use: an answer that
   makes half the points in a few words is partly right (partial answers and confident wrong ones that borrow
   the topic's words rarely say that much of the reference).
4. "Partly right" needs a score of at least 0.3, at least one key point hit, and at least 30%
   (MIN_PARTIAL_OVERLAP; 25% in an answer of at most 10 words of its own) of the answer's own words (not
   the question's) found in the reference: buzzword waffle or an answer to another question that brushes
   one key point is "not quite".
5. For imported entries whose key points were derived from the answer's sentences, an on-topic answer short
   of a pass is "not sure" rather than "partly right" or "not quite".
6. A terse answer that would be "not quite" with no contradiction is "not sure" when it says at most
   TERSE_WORDS (10) words of its own, at least 3 of them the reference's and half of them in the reference, and
   makes a key point at least halfway: a few right symbols or keywords are not told "not quite".
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import lru_cache

import snowballstemmer
from rapidfuzz import process
from rapidfuzz.distance import OSA

from bot.bank.model import Question
from bot.grading_concepts import Concepts, about, compile_concepts, mentions
from bot.grading_lexicon import NEGATED_WORDS, OPPOSITES, SAME, SHARED_STEMS, SHORT_FORMS

MAX_ANSWER_CHARS = 4000  # callers refuse longer answers; grade() never looks past this many characters
PASS_SCORE = 0.7
PARTIAL_SCORE = 0.3
MIN_SAID = 12  # distinct reference words (not the question's) a "correct" answer says, unless it hits every point
HIT_STRENGTH = 0.75
MIN_PARTIAL_OVERLAP = 0.3  # share of a partly right answer's own words that the reference uses
SHORT_PARTIAL_OVERLAP = 0.25  # the same for an answer of at most TERSE_WORDS words of its own
REJECT_CAP = 0.2
QUESTION_WORD_WEIGHT = 0.4
ANSWER_OVERLAP_WEIGHT = 0.2

NEGATIONS = frozenset({"not", "no", "never", "without", "cannot", "nor", "neither", "none"})
STOPWORDS = frozenset(
    (
        "a about again all am an and any are as at be because been being between both but by can could did do "
        "does doing during each for from further had has have having he her here hers herself him himself his "
        "how i if in into is it its itself just me my myself of on once or our ours ourselves out own she "
        "should so some such that the their theirs them themselves then there these they this those through "
        "to too until very was we were what when where which while who whom why will with would you your "
        "yours yourself yourselves also use used using uses make makes made get gets one way ways thing "
        "things e g eg ie etc s t really basically"
    ).split()
)
_WORD = re.compile(r"\d+(?:[./]\d+)+|[a-z0-9\u03b1-\u03c9\u00b2\u00b3]+")  # 5.1 and 11/216 are one word each
_CONTRACTION = re.compile(r"n['’]t\b")
_BREAK = re.compile(r"[.;!?](?!\d)|\n")  # not inside a decimal such as 0.5
_CONTRAST = re.compile(
    r"\b(?:while|whereas|but|however|unlike|although|though|instead|versus|vs|in contrast|"
    r"compared (?:to|with)|on the other hand|rather than|as opposed to)\b")
_FRONTED = ("unlike", "compared", "in contrast", "as opposed", "rather than", "versus", "vs")
CLAUSE_GAP = 100
WINDOW_SLACK = 3  # extra words allowed between a phrasing's words
REVERSED_GAP = 3  # a two-word phrasing said in the other order this far apart is not said
REJECT_GAP = 4  # at most this many words from one word of a reject phrasing to the next
WRONG_OPTION_MATCH = 0.25  # share of a wrong option's word pairs an answer repeats before it counts as saying it
WRONG_WORDS_MATCH = 0.7  # share of a wrong option's own words (none of the reference's) that casts doubt
# A terse answer (at most TERSE_WORDS words of its own, TERSE_SAID of them the reference's, TERSE_OVERLAP of
# them in the reference, a key point at least TERSE_POINT said) is "not sure" rather than "not quite".
TERSE_WORDS, TERSE_SAID, TERSE_OVERLAP, TERSE_POINT = 10, 3, 0.5, 0.5
THIN_OVERLAP = 0.2  # with derived key points, an answer sharing this much with the reference is not off-topic


@lru_cache(maxsize=1)
def _stemmer() -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return str(_stemmer().stemWord(word))


@lru_cache(maxsize=1)
def _polarity() -> dict[str, frozenset[str]]:
    """For each stem of a direction word (more/less, before/after, overfit/underfit...), the stems of its
    opposites (grading_lexicon)."""
    groups = {name: {_stem(w) for w in words} - SHARED_STEMS for name, words in SAME.items()}
    out: dict[str, set[str]] = {}
    for a, b in OPPOSITES:
        for one, other in ((a, b), (b, a)):
            for stem in groups[one]:
                out.setdefault(stem, set()).update(groups[other] - groups[one])
    return {k: frozenset(v) for k, v in out.items()}


_ARROW = re.compile(r"<=>|<->|<-|->|=>|[\u2190-\u21ff]")
_XOR = re.compile(r"\^=|\s\^\s|\bxor\b|\u2295")
_COMPARE = "<=|>=|<<|>>|<|>|\u2264|\u2265|\u226a|\u226b"
_OPERAND = r"[a-z0-9_\u03b1-\u03c9][\w.\u03b1-\u03c9]*(?<!\.)"
_CHAIN = re.compile(rf"{_OPERAND}(?:\s*(?:{_COMPARE})\s*{_OPERAND})+")
_NUMBER = re.compile(r"[\d.]+")


def _comparison(chain: str) -> str:
    """"mean < 60 < mode" -> "mean less 60; mode greater 60": one claim per comparison, its subject the named
    side (a number is never the subject), so "mode greater than 60" reads as said."""
    parts = re.split(rf"\s*({_COMPARE})\s*", chain)
    claims = []
    for i in range(1, len(parts), 2):
        left, op, right = parts[i - 1], parts[i], parts[i + 1]
        word = "less" if op in ("<", "<=", "<<", "\u2264", "\u226a") else "greater"
        if _NUMBER.fullmatch(left) and not _NUMBER.fullmatch(right):
            left, right, word = right, left, "greater" if word == "less" else "less"
        claims.append(f"{left} {word} than {right}")
    return "; ".join(claims)


def symbols(text: str) -> str:
    """Symbols read as words: comparisons (<, >=, \u2264) as less/greater, XOR (^=, \u2295) as xor; arrows are
    separators. `text` is lower case."""
    if not any(c in text for c in "<>^\u2190\u2192\u21d2\u2264\u2265\u226a\u226b\u2295"):
        return text
    text = _XOR.sub(" xor ", _ARROW.sub(" , ", text))
    return _CHAIN.sub(lambda m: _comparison(m.group(0)), text)


def tokens(text: str, keep: frozenset[str] = frozenset()) -> list[str]:
    """Stems of the content words of `text`, in order; negations kept as 'not' ("nonzero" reads "not zero").
    `keep`: stopwords that are content words for this question (SQL's FROM, WHERE, HAVING, BY)."""
    text = symbols(unicodedata.normalize("NFKC", text).lower())
    text = _CONTRACTION.sub(" not", _CANNOT.sub(lambda m: _CANNOT_AS[m.group(0)[:2]], text))
    text = _NOT_ONLY.sub(" ", _SHORT.sub(lambda m: f" {SHORT_FORMS[m.group(1)]} ", text))
    text = _SLASH.sub(" ", text.replace("-", " "))
    out: list[str] = []
    for word in _WORD.findall(text):
        if word in NEGATIONS:
            out.append("not")
        elif word in NEGATED_WORDS:
            out.extend(("not", _stem(NEGATED_WORDS[word])))
        elif "/" in word:  # a fraction, and its numerator and denominator ("6/216" says 216 outcomes)
            out.extend((word, *word.split("/")))
        elif word not in STOPWORDS or word in keep:
            out.append(_stem(_SENSE.get(word, word)))
    return out


# Words whose stem is shared with words of another sense: "different" stems like "difference" and "differ",
# which carry no direction; read it as its synonym "distinct", which does (same/different).
_SENSE = {"different": "distinct", "differently": "distinct"}


_SHORT = re.compile(r"(?<![\w/])(" + "|".join(re.escape(w) for w in sorted(SHORT_FORMS, key=len, reverse=True))
                    + r")(?![\w/])")
_NOT_ONLY = re.compile(r"\bnot (?:only|just|merely|simply)\b")  # "not only X but Y" says X
_SLASH = re.compile(r"(?<!\d)/|/(?!\d)")  # "w/o", "and/or" split; a fraction stays whole
_CANNOT = re.compile(r"\b(?:can|won)['\u2019]t\b")
_CANNOT_AS = {"ca": "cannot", "wo": "will not"}
_KEYWORD = re.compile(r"\b[A-Z]{2,}\b")
_NOT_KEYWORDS = frozenset({"and", "or", "not", "no", "i", "a", "it", "is", "as"})


def keywords(reference: str) -> frozenset[str]:
    """Stopwords the reference writes as keywords in capitals (SQL's FROM, WHERE, GROUP BY, HAVING): for this
    question they are content words, in the answer too, whatever its case."""
    return frozenset(w.lower() for w in _KEYWORD.findall(reference)) & STOPWORDS - _NOT_KEYWORDS


@dataclass(frozen=True, slots=True)
class _Phrase:
    stems: tuple[str, ...]
    negated: bool  # the phrasing itself says "not ..."
    # For "A does X, B does Y" points: the subjects (A) a phrasing about X belongs to, and every subject
    # the question compares; a match in a clause about another subject does not count.
    subjects: frozenset[str] = frozenset()
    rivals: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class _Point:
    text: str
    phrases: tuple[_Phrase, ...]
    rejects: tuple[_Phrase, ...]


@dataclass(frozen=True, slots=True)
class _Compiled:
    points: tuple[_Point, ...]
    question_stems: frozenset[str]
    reference_stems: frozenset[str]
    correct_option: frozenset[tuple[str, str]]
    wrong_options: tuple[tuple[str, frozenset[tuple[str, str]]], ...]
    wrong_words: tuple[tuple[str, frozenset[str]], ...] = ()  # each wrong option's words the reference lacks
    # A closed question's answer opens with its pick: yes/no, or one side of "A or B". (pick, the other side)
    pick: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())
    keep: frozenset[str] = frozenset()  # stopwords that are keywords here (tokens)
    concepts: Concepts = field(default_factory=Concepts)  # the names the key points are about (grading_concepts)
    point_names: tuple[frozenset[int], ...] = ()  # per key point, the names it mentions
    point_words: tuple[frozenset[str], ...] = ()  # per key point, the stems of its statement and phrasings
    vocabulary: frozenset[str] = frozenset()  # every word of the entry (typos in an answer are read as these)
    name_stems: frozenset[str] = frozenset()  # the one-word names the key points are about


_YES = frozenset({"yes", "yeah", "yep", "yup"})
_NO = frozenset({"no", "nope", "nah"})
_OPENING = re.compile(r"^[^.;:!?\n]*")
_EITHER = re.compile(r"\b([a-z][\w-]*) or ([a-z][\w-]*)\b")


def _opening(text: str) -> list[str]:
    """The first words of an answer, up to its first full stop (yes/no kept as words)."""
    head = unicodedata.normalize("NFKC", text[:200]).lower()
    sentence = _OPENING.match(head)
    first_sentence = " ".join((sentence.group(0) if sentence else "").split()[:6])
    return re.findall(r"[a-z0-9]+", head)[:1] + tokens(first_sentence)


def _pick(question: Question) -> tuple[frozenset[str], frozenset[str]]:
    """What a closed question's own answer picks first ("Yes.", "Absolute."), and the alternative it rules out."""
    first = _opening(question.answer)
    if not first:
        return frozenset(), frozenset()
    if first[0] in _YES | _NO:
        return (_YES, _NO) if first[0] in _YES else (_NO, _YES)
    hedged = set(first[1:4]) & (_YES | _NO) if len(first) <= 4 else set()  # "Often yes.", "Usually, no."
    if len(hedged) == 1:
        return (_YES, _NO) if hedged <= _YES else (_NO, _YES)
    if len(first) > 4:  # "Absolute." opens with the pick; a longer first sentence explains rather than picks
        return frozenset(), frozenset()
    for a, b in _EITHER.findall(question.question.lower()):
        sa, sb = tokens(a), tokens(b)
        if len(sa) == len(sb) == 1 and sa != sb and not {sa[0], sb[0]} & {"not"}:
            said = set(first[1:])
            if (sa[0] in said) != (sb[0] in said):
                return (frozenset(sa), frozenset(sb)) if sa[0] in said else (frozenset(sb), frozenset(sa))
    return frozenset(), frozenset()


def _phrase(text: str, keep: frozenset[str] = frozenset()) -> _Phrase | None:
    stems = tokens(text, keep)
    negated = "not" in stems
    content = tuple(s for s in stems if s != "not")
    return _Phrase(content, negated) if content else None


@lru_cache(maxsize=4096)
def _subjects(question_stems: frozenset[str], key_points: tuple[str, ...]) -> tuple[list[set[str]], frozenset[str]]:
    """The things a comparison question is about, as the key points' clauses name them.

    A question stem counts when it names the subject of some clauses but not of most (generic words such as
    "model" or "difference" appear everywhere or nowhere)."""
    point_clauses = [set(tokens(part)) for text in key_points for c in clauses(text)
                     for part in _split_on_subjects(c, question_stems)]
    counts = {stem: sum(stem in c for c in point_clauses) for stem in question_stems if stem != "not"}
    named = frozenset(stem for stem, n in counts.items() if 0 < n <= len(point_clauses) / 2)
    return point_clauses, named if len(named) >= 2 else frozenset()


def _bind(phrase: _Phrase, point_clauses: list[set[str]], named: frozenset[str], point_subject: str = "") -> _Phrase:
    if not named:
        return phrase
    if set(phrase.stems) & named:
        # A phrasing that opens with its subject ("a bi-encoder embeds ... separately") does not count when
        # the answer says it of another subject.
        own = frozenset({phrase.stems[0]} & named)
        return phrase if not own else _Phrase(phrase.stems, phrase.negated, own, named)
    owners = {stem for clause in point_clauses if set(phrase.stems) & clause for stem in clause & named}
    if not owners:  # words of its own ("together" for "jointly"): the subject its key point opens with
        owners = {point_subject} & named if point_subject else set()
    if not owners or owners == named:
        return phrase
    return _Phrase(phrase.stems, phrase.negated, frozenset(owners), named)


@lru_cache(maxsize=1024)
def _compile(question: Question) -> _Compiled:
    reference = " ".join([question.answer, *(k.point for k in question.key_points),
                          *(a for k in question.key_points for a in k.accept)])
    keep = keywords(reference)
    q_stems = frozenset(tokens(question.question, keep))
    point_clauses, named = _subjects(q_stems, tuple(k.point for k in question.key_points))
    points = []
    for kp in question.key_points:
        opening = tokens(kp.point, keep)[:1]
        phrases = tuple(_bind(p, point_clauses, named, opening[0] if opening else "")
                        for p in (_phrase(t, keep) for t in (kp.point, *kp.accept)) if p)
        rejects = tuple(p for p in (_phrase(t, keep) for t in kp.reject) if p)
        points.append(_Point(kp.point, phrases, rejects))
    correct: frozenset[tuple[str, str]] = frozenset()
    wrong: list[tuple[str, frozenset[tuple[str, str]]]] = []
    if question.choices:
        # Only the word pairs that tell an option apart from the correct one carry evidence.
        right = _Answer(question.choices.correct, q_stems, keep).pairs
        options = [(w, _Answer(w, q_stems, keep).pairs) for w in question.choices.wrong]
        correct = frozenset(right.difference(*(p for _, p in options)))
        wrong = [(w, frozenset(p - right)) for w, p in options]
    reference_stems = frozenset(tokens(reference, keep))
    right_words = reference_stems | set(tokens(question.choices.correct if question.choices else "", keep))
    wrong_words = tuple((w, frozenset(tokens(w, keep)) - right_words - q_stems - {"not"})
                        for w in (question.choices.wrong if question.choices else ()))
    concepts = compile_concepts(
        question.answer, [question.question, *(k.point for k in question.key_points),
                          *(question.choices.options if question.choices else ())],
        [tokens(k.point, keep) for k in question.key_points], lambda text: tokens(text, keep))
    point_names = tuple(concepts.owners[i] | {m[2] for m in mentions(dict(enumerate(tokens(k.point, keep))),
                                                                        concepts.terms)}
                        for i, k in enumerate(question.key_points)) if concepts else ()
    point_words = tuple(frozenset(s for p in point.phrases for s in p.stems) for point in points)
    vocabulary = reference_stems | q_stems | {s for p in points for r in p.rejects for s in r.stems} | set(
        tokens(" ".join(question.choices.options), keep) if question.choices else ())
    return _Compiled(tuple(points), q_stems, reference_stems - q_stems, correct, tuple(wrong), wrong_words,
                     _pick(question), keep, concepts, point_names, point_words,
                     frozenset(w for w in vocabulary if len(w) >= TYPO_MIN_LENGTH[0] - 1),
                     frozenset(t[0] for t in concepts.terms if len(t) == 1))


@dataclass(frozen=True)
class Verdict:
    score: float
    hit: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    misconceptions: list[str] = field(default_factory=list)
    note: str = ""  # one line for the member: the judge's feedback, or why the offline grader answered
    grader: str = "offline"
    unsure: bool = False  # the evidence is too thin to say: the member rates themselves

    @property
    def label(self) -> str:
        """correct, partial, incorrect, or unsure (the bot shows the answer and asks for a self-rating)."""
        if self.unsure:
            return "unsure"
        if self.score >= PASS_SCORE:
            return "correct"
        return "partial" if self.score >= PARTIAL_SCORE else "incorrect"

    @property
    def correct(self) -> bool:
        return self.score >= PASS_SCORE

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"score": round(self.score, 3), "verdict": self.label, "hit": self.hit,
                                  "missed": self.missed, "misconceptions": self.misconceptions,
                                  "grader": self.grader}
        if self.note:
            out["note"] = self.note
        return out


def clauses(text: str) -> list[str]:
    """Split an answer where one claim ends and another begins, so that "unlike L2, L1 is sparse" binds
    "sparse" to L1 only: sentences, and contrast words (while, whereas, but, unlike...)."""
    text = _CONTRAST.sub(lambda m: "\n" + m.group(0), symbols(unicodedata.normalize("NFKC", text).lower()))
    parts: list[str] = []
    for raw in _BREAK.split(text):
        part = raw.strip()
        if part.startswith(_FRONTED) and "," in part:
            parts.extend(part.split(",", 1))  # "unlike X, Y ...": X and Y are separate claims
        elif part:
            parts.append(part)
    return parts


_LINK = re.compile(r"(?:,|\band\b|\bor\b|\bso\b)\s+(?:the |a |an )?(?=[\w-])")


def _split_on_subjects(clause: str, subjects: frozenset[str]) -> list[str]:
    """Also split "A is X, and B is Y" where B is something the question asks about, so X stays with A."""
    if not subjects:
        return [clause]
    parts, last = [], 0
    for m in _LINK.finditer(clause):
        following = tokens(clause[m.end():m.end() + 40])
        if following and following[0] in subjects:
            parts.append(clause[last:m.start()])
            last = m.end()
    parts.append(clause[last:])
    return parts


TYPO_MIN_LENGTH = (6, 9)  # a word this long may be one (two) typing slips away from the entry's own word


def _spelled(stem: str, vocabulary: Collection[str]) -> str:
    """The entry's own word that a misspelt word stands for ("gradeint", "overfiting"): one slip (a letter
    added, dropped, changed, or two swapped) in a word of 6 letters or more, two in one of 9 or more, with
    the same first letter. Direction words, numbers and words the entry uses are never changed."""
    if len(stem) < TYPO_MIN_LENGTH[0] or not stem.isalpha() or stem in vocabulary or stem in _polarity():
        return stem
    slips = 1 if len(stem) < TYPO_MIN_LENGTH[1] else 2
    found = process.extractOne(stem, vocabulary, scorer=OSA.distance, score_cutoff=slips)
    if found is None or found[0][0] != stem[0] or found[0] in _polarity():
        return stem
    return str(found[0])


class _Answer:
    """The member's answer as stems by position; clauses are far apart so no window spans two."""

    def __init__(self, text: str, subjects: frozenset[str] = frozenset(), keep: frozenset[str] = frozenset(),
                 vocabulary: frozenset[str] = frozenset()) -> None:
        self.at: dict[int, str] = {}
        self.positions: dict[str, list[int]] = {}
        self.commas: set[int] = set()  # positions that follow a comma within their clause
        self.colons: set[int] = set()  # positions that follow a colon
        pos = 0
        for clause in (part for c in clauses(text) for part in _split_on_subjects(c, subjects)):
            for n, segment in enumerate(clause.split(",")):
                if n:
                    self.commas.add(pos)
                head, colon, _ = segment.partition(":")
                if colon:
                    self.colons.add(pos + len(tokens(head, keep)))
                for said in tokens(segment, keep):
                    stem = _spelled(said, vocabulary) if vocabulary else said
                    self.at[pos] = stem
                    self.positions.setdefault(stem, []).append(pos)
                    pos += 1
            pos += CLAUSE_GAP
        self.stems = list(self.at.values())
        # Negated words are marked, so "does not grow" never repeats a claim that something grows.
        self.pairs = _pairs({p: ("!" + stem if self.negated_at(p) else stem) for p, stem in self.at.items()})

    def clause_range(self, pos: int) -> range:
        start = pos
        while start - 1 in self.at:
            start -= 1
        end = pos
        while end + 1 in self.at:
            end += 1
        return range(start, end + 1)

    def segment_range(self, pos: int) -> range:
        """The positions of the clause around `pos` between two commas."""
        clause = self.clause_range(pos)
        start = max((p for p in self.commas if clause.start < p <= pos), default=clause.start)
        end = min((p for p in self.commas if pos < p < clause.stop), default=clause.stop)
        return range(start, end)

    def clause_stems(self, pos: int) -> set[str]:
        return {self.at[i] for i in self.clause_range(pos)}

    def negated_at(self, pos: int) -> bool:
        return any(self.at.get(j) == "not" for j in range(pos - 2, pos))

    def occurrences(self, stem: str, phrase_negated: bool) -> list[int]:
        """Where `stem` occurs with the same polarity as the phrasing ("not X" only matches a negated X)."""
        found = self.positions.get(stem, [])
        return [p for p in found if self.negated_at(p) == phrase_negated]


def _pairs(positions: dict[int, str]) -> set[tuple[str, str]]:
    """Ordered word pairs at most three apart within a clause: who does what, not just which words."""
    return {(a, positions[j]) for i, a in positions.items() for j in range(i + 1, i + 4) if j in positions}


def _option_match(answer: _Answer, option: frozenset[tuple[str, str]]) -> float:
    return len(answer.pairs & option) / len(option) if option else 0.0


def _coverage(answer: _Answer, phrase: _Phrase, question_stems: frozenset[str]) -> tuple[float, float]:
    """How fully the answer says the phrasing in one place, and how fully it says it with one of the
    phrasing's direction words turned round ("lowers bias" read as "raises bias"): such a place is no match."""
    weights = [QUESTION_WORD_WEIGHT if s in question_stems else 1.0 for s in phrase.stems]
    occ = [answer.occurrences(s, phrase.negated) for s in phrase.stems]
    anchors = sorted({p for positions in occ for p in positions})
    if not anchors:
        return 0.0, 0.0
    span = len(phrase.stems) + WINDOW_SLACK
    polarity = _polarity()
    best = turned = 0.0
    for start in anchors:
        if phrase.rivals:
            clause = answer.clause_stems(start)
            if clause & phrase.rivals and not clause & phrase.subjects:
                continue  # said about the other thing the question compares
        matched = _distinct([i for i, positions in enumerate(occ) if any(start <= p < start + span for p in positions)],
                            phrase, occ, range(start, start + span))
        if len(matched) == 2 and _far_reversed(phrase, occ, range(start, start + span)):
            matched = matched[:1]
        got = sum(weights[i] for i in matched) / sum(weights)
        if all(phrase.stems[i] in question_stems for i in matched):
            got *= 0.5  # only words the question already gives away
        window = {answer.at[p] for p in range(start - WINDOW_SLACK, start + span) if p in answer.at}
        said = {i: [p for p in occ[i] if start <= p < start + span] for i in matched}
        flipped = [i for i, stem in enumerate(phrase.stems)  # "generator and discriminator" says both sides
                   if i not in matched and (polarity.get(stem, frozenset()) - set(phrase.stems)) & window
                   and not _own_nearer(answer, phrase, i, said, range(start - WINDOW_SLACK, start + span))]
        closer = _turned_closer(answer, phrase, said, range(start - WINDOW_SLACK, start + span + WINDOW_SLACK))
        if closer:
            matched = [i for i in matched if i not in closer]
            got = sum(weights[i] for i in matched) / sum(weights)
            flipped += closer
        if flipped:
            turned = max(turned, got + sum(weights[i] for i in flipped) / sum(weights))
            continue
        best = max(best, got)
    return best, turned


def _distance(a: list[int], b: list[int]) -> int:
    return min((abs(p - q) for p in a for q in b), default=1 << 30)


def _own_nearer(answer: _Answer, phrase: _Phrase, i: int, said: dict[int, list[int]], around: range) -> bool:
    """The phrasing's direction word i is said just before the window, nearer to the words it qualifies than
    the opposite one in the window ("a small dataset, with a big learning rate": small qualifies dataset)."""
    others = [p for ps in said.values() for p in ps]
    own = [p for p in answer.occurrences(phrase.stems[i], phrase.negated) if p in around]
    opposites = _polarity().get(phrase.stems[i], frozenset()) - set(phrase.stems)
    rival = [q for q in around if answer.at.get(q) in opposites]
    return bool(own and others) and _distance(own, others) <= _distance(rival, others)


def _turned_closer(answer: _Answer, phrase: _Phrase, said: dict[int, list[int]], around: range) -> list[int]:
    """Direction words of the phrasing that the answer says (`said`: phrase word -> its positions), but with
    an opposite one nearer to the words they qualify: "on a small dataset, with a big learning rate" does not
    say "small learning rate". `around`: the positions to look at for the opposite."""
    polarity = _polarity()
    out: list[int] = []
    for i, positions in said.items():
        opposites = polarity.get(phrase.stems[i], frozenset()) - set(phrase.stems)  # "min-max" says both
        others = [p for j, ps in said.items() if j != i and j not in out for p in ps]
        if not opposites or not others:
            continue
        rival = [q for q in around if answer.at.get(q) in opposites and answer.negated_at(q) == phrase.negated]
        if _distance(rival, others) < _distance(positions, others):
            out.append(i)
    return out


def _far_reversed(phrase: _Phrase, occ: list[list[int]], window: range) -> bool:
    """A two-word phrasing whose words the answer says in the other order and apart ("the same value, the
    network still learns" does not say "learns the same"): another relation between them, not this one."""
    if len(phrase.stems) != 2 or phrase.stems[0] == phrase.stems[1]:
        return False
    first = [p for p in occ[0] if p in window]
    second = [p for p in occ[1] if p in window]
    return bool(first and second) and max(second) + REVERSED_GAP <= min(first)


def _distinct(matched: list[int], phrase: _Phrase, occ: list[list[int]], window: range) -> list[int]:
    """A word the phrasing says twice ("6 + 6") is matched twice only by two places in the answer."""
    kept: list[int] = []
    for i in matched:
        same = [j for j in kept if phrase.stems[j] == phrase.stems[i]]
        if len(same) < sum(p in window for p in occ[i]):
            kept.append(i)
    return kept


def _claims(answer: _Answer, phrase: _Phrase, question_stems: frozenset[str]) -> list[tuple[int, int]]:
    """Where the answer says the phrasing fully enough to hit it, in two or more words: (first, last)
    position of each place."""
    weights = [QUESTION_WORD_WEIGHT if s in question_stems else 1.0 for s in phrase.stems]
    occ = [answer.occurrences(s, phrase.negated) for s in phrase.stems]
    span = len(phrase.stems) + WINDOW_SLACK
    out = []
    for start in sorted({p for positions in occ for p in positions}):
        matched = {i: [p for p in positions if start <= p < start + span] for i, positions in enumerate(occ)}
        said = [i for i, ps in matched.items() if ps]
        got = sum(weights[i] for i in said) / sum(weights)
        if all(phrase.stems[i] in question_stems for i in said):
            got *= 0.5
        where = {p for ps in matched.values() for p in ps}
        if got >= HIT_STRENGTH and len(where) >= 2:
            out.append((min(where), max(where)))
    return out


def _same_name(terms: tuple[tuple[str, ...], ...], a: int, b: int) -> bool:
    """One name inside the other ("round robin" in "weighted round robin")."""
    short, long = sorted((terms[a], terms[b]), key=len)
    return any(long[i:i + len(short)] == short for i in range(len(long) - len(short) + 1))


def _swaps(compiled: _Compiled, answer: _Answer) -> tuple[list[str], list[str]]:
    """Key points whose property the answer attaches to another of the names the key points are about
    ("least connections cycles through servers"): sure when no clause attaches it to the point's own name,
    doubt when another one does."""
    concepts = compiled.concepts
    found = mentions(answer.at, concepts.terms) if concepts else []
    sure: list[str] = []
    doubt: list[str] = []
    if not found:
        return sure, doubt
    for point, owners, named in zip(compiled.points, concepts.owners, compiled.point_names, strict=True):
        if not owners:
            continue
        own, rival = False, None
        for phrase in point.phrases:
            if len(phrase.stems) < 2 or any(len(s) < 2 for s in phrase.stems) or mentions(
                    dict(enumerate(phrase.stems)), concepts.terms):
                continue  # one word or a symbol says little; a phrasing that names its subject binds itself
            for first, last in _claims(answer, phrase, compiled.question_stems):
                clause = answer.clause_range(first)
                segment = answer.segment_range(first)
                if any(m[0] in segment and any(_same_name(concepts.terms, m[2], o) for o in named) for m in found):
                    own = True
                    continue
                name = about(found, first, last, clause, commas=answer.commas, colons=answer.colons)
                if name is None or any(name in n and set(phrase.stems) <= w
                                       for n, w in zip(compiled.point_names, compiled.point_words, strict=True)):
                    continue  # a key point about that name says it too
                rival = name
        if rival is not None:
            (doubt if own else sure).append(f"You said this of {concepts.labels[rival]}: {point.text}")
    return sure, doubt


def _ordered(answer: _Answer, phrase: _Phrase, names: frozenset[str] = frozenset()) -> bool:
    """A reject phrasing: every word, in order, within a tight window (not across a comma or a colon), not
    negated. A direction word of the phrasing that is followed by another of the names the entry compares
    qualifies that name instead ("a big teacher and a smaller student" says neither "the teacher is smaller"
    nor "a smaller teacher")."""
    others = names - set(phrase.stems)
    polarity = _polarity()
    for start in answer.occurrences(phrase.stems[0], phrase.negated):
        where = [start]
        for stem in phrase.stems[1:]:
            nxt = [p for p in answer.occurrences(stem, phrase.negated) if where[-1] < p <= where[-1] + REJECT_GAP
                   and not any(b in answer.commas or b in answer.colons for b in range(where[-1] + 1, p + 1))]
            if not nxt:
                break
            where.append(nxt[0])
        if len(where) < len(phrase.stems):
            continue
        if not any(polarity.get(answer.at[p]) and answer.at.get(p + 1) in others and p + 1 not in where
                   for p in where):
            return True
    return False


def _weight(words: set[str] | frozenset[str], question_stems: frozenset[str]) -> float:
    return sum(QUESTION_WORD_WEIGHT if w in question_stems else 1.0 for w in words)


@dataclass(frozen=True, slots=True)
class _Evidence:
    hit: list[str]
    missed: list[str]
    rejected: list[str]  # key points whose reject phrasing the answer says
    point_scores: list[float]
    overlap: float
    option: str | None  # the wrong option the answer says, if any
    option_words: tuple[float, str]  # the largest share of a wrong option's own words the answer repeats
    reversed: list[str]  # key points the answer says with a direction word turned round
    swapped: tuple[list[str], list[str]] = ([], [])  # properties said of another name: sure, doubtful
    said_words: int = 0  # distinct words of the reference (not of the question) the answer uses
    own_words: int = 0  # the answer's words that the question does not use


def _evidence(compiled: _Compiled, text: str) -> _Evidence | None:
    answer = _Answer(text, compiled.question_stems, compiled.keep, compiled.vocabulary)
    if not answer.stems or not compiled.points:
        return None
    hit: list[str] = []
    missed: list[str] = []
    rejected: list[str] = []
    reversed_points: list[str] = []
    point_scores: list[float] = []
    for point in compiled.points:
        if any(_ordered(answer, r, compiled.name_stems) for r in point.rejects):
            rejected.append(point.text)
            missed.append(point.text)
            point_scores.append(0.0)
            continue
        found = [_coverage(answer, p, compiled.question_stems) for p in point.phrases]
        strength = max((f[0] for f in found), default=0.0)
        point_scores.append(min(1.0, max(0.0, (strength - 0.3) / (HIT_STRENGTH - 0.3))))
        (hit if strength >= HIT_STRENGTH else missed).append(point.text)
        if strength < HIT_STRENGTH and max((f[1] for f in found), default=0.0) >= HIT_STRENGTH:
            reversed_points.append(point.text)
    own = [s for s in answer.stems if s != "not" and s not in compiled.question_stems]
    overlap = sum(s in compiled.reference_stems for s in own) / max(len(own), 4) if own else 0.0
    said_words = len(set(own) & compiled.reference_stems)
    # The wrong multiple-choice options are ready-made confident wrong answers: an answer that says what one
    # of them says, more than what the correct option says, does not pass.
    right = _option_match(answer, compiled.correct_option)
    option = None
    for wrong_option, pairs in compiled.wrong_options:
        similarity = _option_match(answer, pairs)
        if len(answer.pairs & pairs) >= 2 and similarity >= WRONG_OPTION_MATCH and similarity > right + 0.1:
            option = wrong_option
            break
    said = set(answer.stems)
    option_words = max(((_weight(said & own_words, compiled.question_stems)
                         / _weight(own_words, compiled.question_stems), option)
                        for option, own_words in compiled.wrong_words if own_words), default=(0.0, ""))
    return _Evidence(hit, missed, rejected, point_scores, overlap, option, option_words, reversed_points,
                     _swaps(compiled, answer), said_words, len(own))


def grade(question: Question, text: str) -> Verdict:
    """The verdict on a typed answer; the rule is in the module docstring."""
    text = text[:MAX_ANSWER_CHARS]  # bounded work whatever a caller passes
    compiled = _compile(question)
    ev = _evidence(compiled, text)
    if ev is None:
        return Verdict(0.0, [], [p.text for p in compiled.points])
    hit, missed, overlap = ev.hit, ev.missed, ev.overlap
    score = (1 - ANSWER_OVERLAP_WEIGHT) * sum(ev.point_scores) / len(ev.point_scores) + ANSWER_OVERLAP_WEIGHT * overlap
    if len(hit) < math.ceil(len(compiled.points) / 2):
        score = min(score, PASS_SCORE - 0.01)  # "correct" means most key points made, not one made well
    if ev.said_words < MIN_SAID and len(hit) < len(compiled.points):
        score = min(score, PASS_SCORE - 0.01)  # half the points in a few words: partly right
    needed = MIN_PARTIAL_OVERLAP if ev.own_words > TERSE_WORDS else SHORT_PARTIAL_OVERLAP
    if not hit or (score < PASS_SCORE and overlap < needed):
        score = min(score, PARTIAL_SCORE - 0.01)  # a key point made, and not amid unrelated talk
    # Contradictions. Sure ones (a reject phrasing, a wrong option's word pairs) fail the answer. Softer ones
    # (a key point said with a direction word turned round, most of a wrong option's own words) make an
    # answer that would pass "not sure", and one that would be partly right "not quite".
    wrong = list(ev.rejected)
    pick, other = compiled.pick
    if other:
        opening = _opening(text)
        said = {opening[0]} if pick & (_YES | _NO) else set(opening[1:])
        if said & other and not said & pick:
            wrong.append(f"You picked the other option; the answer is {question.answer.split('.')[0].strip()}")
    if ev.option:
        wrong.append(f"Sounds like a common wrong answer: {ev.option}")
    wrong += ev.swapped[0]
    doubt = list(ev.reversed) + ev.swapped[1]
    if ev.option_words[0] >= WRONG_WORDS_MATCH:
        doubt.append(f"Sounds like a common wrong answer: {ev.option_words[1]}")
    unsure = False
    if wrong:
        score = min(score, REJECT_CAP)
    elif doubt:
        unsure = score >= PASS_SCORE
        score = min(score, PASS_SCORE - 0.01 if unsure else REJECT_CAP)
        wrong = doubt
    score = round(min(score, 1.0), 4)
    # Key points an importer derived from the answer's sentences are thin evidence: short of a clear pass,
    # an answer on the subject is "not sure" (the member rates themselves) rather than "not quite".
    # A terse answer in the reference's own words, with nothing that contradicts it, is never "not quite":
    # a few symbols or keywords can be right ("mean < 60 < mode"), so the member rates themselves.
    terse = (not wrong and score < PARTIAL_SCORE and ev.own_words <= TERSE_WORDS and ev.said_words >= TERSE_SAID
             and overlap >= TERSE_OVERLAP and max(ev.point_scores) >= TERSE_POINT)
    thin = terse or (all(k.derived for k in question.key_points) and not wrong and score < PASS_SCORE
            and (score >= PARTIAL_SCORE or overlap >= THIN_OVERLAP))
    return Verdict(score, hit, [m for m in missed if m not in wrong] + [m for m in missed if m in wrong], wrong,
                   unsure=thin or unsure)
