"""The composition root: `studybot ...` builds settings, the bank, the database, the service and the
chosen adapters, and wires them together. Nothing else creates long-lived objects."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bot.bank import load_bank
from bot.clock import ManualClock
from bot.config import Settings
from bot.errors import BankError, ConfigError
from bot.service import StudyService
from bot.storage import open_database
from bot.tools import bank_check, grade_lines, grade_one

log = logging.getLogger("studybot")


class _RedactSecrets(logging.Filter):
    """Last line of defence: no token ever reaches a log line, whatever logged it."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        # Short values are not redacted by substring: they would mangle unrelated text.
        self.secrets = [s for s in secrets if len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            text = record.getMessage()
            if any(s in text for s in self.secrets):
                for s in self.secrets:
                    text = text.replace(s, "<redacted>")
                record.msg, record.args = text, None
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def configure_logging(settings: Settings, *, quiet: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RedactSecrets(settings.secrets()))
    if settings.log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    level = settings.log_level.upper()
    # The console is a chat in the terminal: only warnings interrupt it unless asked for more.
    root.setLevel("WARNING" if quiet and level == "INFO" else level)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="studybot", description="A study bot for machine-learning interviews.")
    p.add_argument("--config", type=Path, help="YAML settings file (same names as the environment)")
    sub = p.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run the bot (console when no platform token is set)")
    run.add_argument("--platform", help="console, discord, slack, or discord,slack")
    sub.add_parser("console", help="play the whole bot in this terminal (no tokens needed)")
    bank = sub.add_parser("bank", help="question bank tools")
    bank_sub = bank.add_subparsers(dest="bank_command", required=True)
    check = bank_sub.add_parser("check", help="validate the bank and print its figures")
    check.add_argument("directory", nargs="?", type=Path)
    check.add_argument("--strict", action="store_true", help="editorial checks too (lengths, LaTeX, choices...)")
    grade = sub.add_parser("grade", help="grade a free-text answer, printing the verdict as JSON")
    grade.add_argument("question_id", nargs="?")
    grade.add_argument("answer", nargs="?")
    grade.add_argument("--batch", action="store_true", help='read {"question_id", "answer"} JSON lines on stdin')
    config = sub.add_parser("config", help="settings tools")
    config.add_subparsers(dest="config_command", required=True).add_parser(
        "check", help="print the effective settings, secrets redacted")
    return p


async def _open_service(settings: Settings, clock: ManualClock) -> StudyService:
    bank = load_bank(settings.questions)
    db = await open_database(settings.database)
    service = StudyService(db, bank, clock, default_timezone=settings.timezone)
    await service.sync_bank()
    return service


async def run_console(settings: Settings) -> int:
    from adapters.console.app import ConsoleApp

    clock = ManualClock(datetime.now(UTC))
    service = await _open_service(settings, clock)
    try:
        return await ConsoleApp(service, clock).run(sys.stdin)
    finally:
        await service.db.close()


def _config_check(settings: Settings, platforms: list[str]) -> int:
    for name, value in settings.redacted().items():
        print(f"{name}={value}")
    print(f"platforms: {','.join(platforms)}")
    problems = settings.problems(platforms)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.load(file=args.config)
    except ConfigError as exc:
        print(f"studybot: {exc}", file=sys.stderr)
        return 1
    command = args.command or "run"
    if command == "bank":
        return bank_check(args.directory or settings.questions, strict=args.strict, out=sys.stdout)
    if command == "grade":
        try:
            if args.batch:
                return grade_lines(settings.questions, sys.stdin, sys.stdout)
            if not args.question_id or args.answer is None:
                print('usage: studybot grade QUESTION_ID "answer text" | studybot grade --batch', file=sys.stderr)
                return 2
            return grade_one(settings.questions, args.question_id, args.answer, sys.stdout)
        except BankError as exc:
            print(f"studybot: {exc}", file=sys.stderr)
            return 1
    platforms = ["console"] if command == "console" else (
        [p.strip() for p in args.platform.split(",")] if getattr(args, "platform", None) else settings.platforms())
    if command == "config":
        return _config_check(settings, platforms)
    problems = settings.problems(platforms)
    if problems:
        for problem in problems:
            print(f"studybot: {problem}", file=sys.stderr)
        return 1
    configure_logging(settings, quiet=platforms == ["console"])
    try:
        if platforms == ["console"]:
            return asyncio.run(run_console(settings))
        from adapters.serve import serve

        return asyncio.run(serve(settings, platforms))
    except (BankError, ConfigError) as exc:
        print(f"studybot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
