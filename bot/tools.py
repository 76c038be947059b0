"""Command-line tools of the core: bank check and the grader (no platform involved)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO, TypeVar

from bot import importers
from bot.bank import Bank, bank_figures, load_bank, strict_issues
from bot.community import load_entries as load_community_entries
from bot.community import store as store_community_questions
from bot.errors import BankError, StorageError, UserError
from bot.grading import MAX_ANSWER_CHARS, grade
from bot.storage.port import Database, open_store


def bank_check(directory: Path, *, strict: bool, out: TextIO) -> int:
    """Print counts (and with --strict the editorial figures); 1 when anything is wrong."""
    try:
        bank = load_bank(directory)
    except BankError as exc:
        out.write(f"{exc}\n")
        return 1
    figures = bank_figures(bank)
    out.write(f"{len(bank.topics)} topics, {len(bank)} questions in {directory}\n")
    out.write(figures.render() + "\n")
    if strict:
        issues = strict_issues(bank)
        if issues:
            out.write(f"strict check failed with {len(issues)} problem(s):\n")
            out.writelines(f"  {issue}\n" for issue in issues)
            return 1
        out.write("strict check passed\n")
    return 0


MAX_BATCH_LINE = 64 * 1024  # characters of one JSON input line


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _verdict(bank: Bank, qid: object, answer: str) -> dict[str, object]:
    """One JSON result: the verdict, or an error that says what to fix."""
    question = bank.get(qid) if isinstance(qid, str) else None
    if question is None:
        return {"question_id": qid if isinstance(qid, str | int) else None,
                "error": f"unknown question id {_shown(qid)}"}
    if len(answer) > MAX_ANSWER_CHARS:
        return {"question_id": qid, "error": f"answer is {len(answer)} characters; at most {MAX_ANSWER_CHARS}"}
    return {"question_id": qid, **grade(question, answer).as_dict()}


def bank_import(path: Path, *, fmt: str | None, topic: str | None, out_dir: Path | None, force: bool,
                out: TextIO, community: str | None = None, database: Path | str | None = None) -> int:
    """`bank import`: convert and check; with `out_dir`, write the topics; with `community`, store them as
    that community's questions in the database. 1 (nothing written) on any problem."""
    try:
        result = importers.read_file(path, fmt, topic)
    except importers.ImportProblem as exc:
        where = f"{path}:{exc.line}" if exc.line else str(path)
        out.write(f"{where}: {exc}; nothing was imported\n")
        return 1
    except BankError as exc:
        out.write(f"{exc}\nnothing was imported\n")
        return 1
    out.write(result.summary() + "\n")
    if community is not None and database is not None:
        try:
            now = datetime.now(UTC).isoformat(timespec="milliseconds")
            new, updated = _with_store(database, lambda db: store_community_questions(db, community, result.topics,
                                                                                       now))
        except (UserError, StorageError, sqlite3.Error) as exc:
            out.write(f"{exc}; nothing was imported\n")
            return 1
        out.write(f"stored for community {community}: {new} new, {updated} updated (served to it from now on)\n")
        return 0
    if out_dir is None:
        out.write("checked only: give --out DIR to write the topic files, or --community ID\n")
        return 0
    return _write_topics(result, out_dir, force, out)


def bank_export(database: Path | str, community: str, out_dir: Path, *, force: bool, out: TextIO) -> int:
    """`bank export --community ID`: a community's questions as bank YAML, one file per topic."""
    try:
        topics = _with_store(database, lambda db: load_community_entries(db, community))
    except (UserError, StorageError, sqlite3.Error) as exc:
        out.write(f"{exc}\n")
        return 1
    result = importers.ImportResult(f"community {community}", "database",
                                    {slug: entries for slug, (_, entries) in topics.items()})
    if not result.topics:
        out.write(f"community {community} has no questions of its own yet\n")
        return 0
    return _write_topics(result, out_dir, force, out)


T = TypeVar("T")


def _with_store(location: Path | str, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work` on the bot's database (the SQLite file or PostgreSQL), opened for this command only."""
    async def run() -> T:
        db = await open_store(location)
        try:
            return await work(db)
        finally:
            await db.close()
    return asyncio.run(run())


def _write_topics(result: importers.ImportResult, out_dir: Path, force: bool, out: TextIO) -> int:
    try:
        written = importers.write(result, out_dir, force=force)
    except importers.ImportProblem as exc:
        out.write(f"{exc}; nothing was written\n")
        return 1
    for target, added, updated in written:
        out.write(f"wrote {target}: {added} new, {updated} updated\n")
    return 0


def grade_lines(directory: Path, lines: Iterable[str], out: TextIO) -> int:
    """`grade --batch`: one JSON verdict per JSON input line, in order; bad lines get an error line."""
    bank = load_bank(directory)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if len(line) > MAX_BATCH_LINE:
            out.write(json.dumps({"line": number, "error": f"line is longer than {MAX_BATCH_LINE} characters"}) + "\n")
            continue
        try:
            item = json.loads(line)
            qid, answer = item["question_id"], item["answer"]
            if not isinstance(answer, str):
                raise TypeError("answer must be a string")
        except (ValueError, KeyError, TypeError, IndexError, RecursionError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else _shown(str(exc))
            out.write(json.dumps({"line": number, "error": f"bad input line: {reason}; expected "
                                  '{"question_id": "...", "answer": "..."}'}) + "\n")
            continue
        out.write(json.dumps(_verdict(bank, qid, answer), ensure_ascii=False) + "\n")
        out.flush()
    return 0


def grade_one(directory: Path, question_id: str, answer: str, out: TextIO) -> int:
    result = _verdict(load_bank(directory), question_id, answer)
    out.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    return 1 if "error" in result else 0
