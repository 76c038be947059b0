"""Text formats with one question a row: CSV/TSV with a header, Anki's text export, Quizlet's export."""

from __future__ import annotations

import csv
import io

from bot.importers.model import Imported, ImportProblem, html_to_text

CSV_COLUMNS = {"question", "answer", "correct", "wrong1", "wrong2", "wrong3", "wrong4", "topic", "difficulty",
               "explanation", "key_points"}
ANKI_SEPARATORS = {"tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " ", "colon": ":"}


def read_csv(text: str, delimiter: str) -> list[Imported]:
    """A header row with `question` and `answer`; optional correct, wrong1..wrong4, topic, difficulty,
    explanation, key_points (separated by ';')."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    try:
        header = [h.strip().lower() for h in next(reader, [])]
    except csv.Error as exc:
        raise ImportProblem(f"not valid CSV: {exc}", line=1) from None
    if not header:
        raise ImportProblem("the file is empty (a header row with question and answer is needed)", line=1)
    unknown = sorted(set(header) - CSV_COLUMNS - {""})
    if unknown or not {"question", "answer"} <= set(header):
        raise ImportProblem("the header row needs the columns question and answer (optional: correct, "
                            "wrong1..wrong4, topic, difficulty, explanation, key_points)"
                            + (f"; unknown columns: {', '.join(c[:30] for c in unknown)}" if unknown else ""),
                            line=1)
    items: list[Imported] = []
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader, None)
        except csv.Error as exc:
            raise ImportProblem(f"not valid CSV: {exc} (a quote opened and not closed?)", line=line) from None
        if row is None:
            return items
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            raise ImportProblem(f"{len(row)} cells but the header has {len(header)} columns", line=line)
        cells = dict(zip(header, (c.strip() for c in row), strict=False))
        items.append(Imported(
            question=cells.get("question", ""), answer=cells.get("answer", ""), line=line,
            correct=cells.get("correct") or None,
            wrong=[cells[f"wrong{n}"] for n in range(1, 5) if cells.get(f"wrong{n}")],
            key_points=[p.strip() for p in cells.get("key_points", "").split(";") if p.strip()],
            topic=cells.get("topic") or None, difficulty=cells.get("difficulty") or None,
            explanation=cells.get("explanation", "")))


def read_pairs(text: str) -> list[Imported]:
    """Anki's text export (`#separator:`, `#html:` headers; front, back, ...) or Quizlet's export
    (term TAB definition): one question a line, the first field asked, the second the answer."""
    separator, is_html = "\t", False
    items = []
    for number, raw in enumerate(text.splitlines(), 1):
        if raw.startswith("#"):
            key, _, value = raw[1:].partition(":")
            if key.strip().lower() == "separator":
                name = value.strip().lower()
                separator = ANKI_SEPARATORS.get(name, value.strip()[:1] or "\t")
            elif key.strip().lower() == "html":
                is_html = value.strip().lower() == "true"
            continue
        if not raw.strip():
            continue
        fields = next(csv.reader([raw], delimiter=separator)) if '"' in raw else raw.split(separator)
        if len(fields) < 2:
            raise ImportProblem("a line needs a question and an answer separated by "
                                f"{'a tab' if separator == chr(9) else repr(separator)}", line=number)
        front, back = (html_to_text(f) if is_html else f.strip() for f in fields[:2])
        items.append(Imported(question=front, answer=back, line=number))
    return items
