"""The composition root: `studybot ...` builds settings, the bank, the database, the service and the
chosen adapters, and wires them together. Nothing else creates long-lived objects."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import os
import re
import sqlite3
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from adapters import ops, registry
from adapters.ops import HEALTH_MAX_AGE
from bot.bank import Bank, load_bank
from bot.clock import ManualClock
from bot.config import Settings, config_file
from bot.errors import ConfigError, StorageError, StudybotError
from bot.judge import grader_for
from bot.preflight import preflight
from bot.service import StudyService
from bot.storage import is_postgresql_url, open_store
from bot.storage.db import describe_failure
from bot.storage.port import display_url
from bot.tools import bank_check, bank_export, bank_import, grade_lines, grade_one

log = logging.getLogger("studybot")


# Tokens that are not settings (each workspace's bot token from the OAuth install flow, kept in the database)
# are recognised by their shape wherever they appear, e.g. in a driver's DEBUG log of a statement's parameters.
SLACK_TOKEN = re.compile(r"\b(?:xox[abeoprs]|xapp)-[0-9A-Za-z-]{6,}")


class _RedactSecrets(logging.Filter):
    """Last line of defence: no token ever reaches a log line, whatever logged it (message, arguments,
    traceback or stack)."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        # Short values are not redacted by substring: they would mangle unrelated text.
        self.secrets = sorted((s for s in secrets if len(s) >= 6), key=len, reverse=True)

    def redact(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "<redacted>")
        return SLACK_TOKEN.sub("<redacted>", text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # bad %-arguments: logging would print them raw in its error report
            text = f"{record.msg!r} % {record.args!r}"
        if any(s in text for s in self.secrets) or record.args or SLACK_TOKEN.search(text):
            record.msg, record.args = self.redact(text), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class _RedactingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Redacts the finished line too, whatever a formatter added to it."""

    def __init__(self, redactor: _RedactSecrets) -> None:
        super().__init__(sys.stderr)
        self.redactor = redactor
        self.addFilter(redactor)

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor.redact(super().format(record))


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info or record.exc_text:
            data["traceback"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, ensure_ascii=False)


def configure_logging(settings: Settings, *, quiet: bool = False) -> None:
    handler = _RedactingHandler(_RedactSecrets(settings.secrets()))
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
    imp = bank_sub.add_parser("import", help="convert questions from another tool into bank topics")
    imp.add_argument("file", type=Path)
    imp.add_argument("--format", help="csv, tsv, anki, apkg, opentdb, red, gift or quizlet (default: detected)")
    imp.add_argument("--topic", help="topic slug for the questions (default: a topic column, else the file name)")
    imp.add_argument("--out", type=Path, help="folder to write <topic>.yaml into (default: only check)")
    imp.add_argument("--force", action="store_true", help="replace a <topic>.yaml that the importer did not write")
    imp.add_argument("--community", help="store the questions for this community (its Discord server or Slack "
                                          "workspace id) in the database instead")
    export_cmd = bank_sub.add_parser("export", help="a community's own questions as bank YAML files")
    export_cmd.add_argument("--community", required=True, help="its Discord server or Slack workspace id")
    export_cmd.add_argument("--out", type=Path, required=True, help="folder for the <topic>.yaml files")
    export_cmd.add_argument("--force", action="store_true", help="replace files that studybot did not write")
    appeals = bank_sub.add_parser("appeals", help="answers accepted through upheld appeals")
    appeals_export = appeals.add_subparsers(dest="appeals_command", required=True).add_parser(
        "export", help="print them as a YAML patch for questions/*.yaml")
    appeals_export.add_argument("--community", help="only this community (its Discord server or Slack workspace id)")
    grade = sub.add_parser("grade", help="grade a free-text answer, printing the verdict as JSON")
    grade.add_argument("question_id", nargs="?")
    grade.add_argument("answer", nargs="?")
    grade.add_argument("--batch", action="store_true", help='read {"question_id", "answer"} JSON lines on stdin')
    config = sub.add_parser("config", help="settings tools")
    config_check = config.add_subparsers(dest="config_command", required=True).add_parser(
        "check", help="print the effective settings, secrets redacted; exit 1 when `run` would fail")
    config_check.add_argument("--platform", help="check for these platforms instead of the configured ones")
    db = sub.add_parser("db", help="database tools (safe while the bot runs)")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    backup = db_sub.add_parser("backup", help="consistent online copy of the database (SQLite backup API)")
    backup.add_argument("path", type=Path, help="the copy's file name, or a folder for a timestamped file")
    backup.add_argument("--force", action="store_true", help="replace an existing regular file at PATH")
    export = db_sub.add_parser("export", help="attempts and leaderboards as CSV files")
    export.add_argument("--format", choices=["csv"], default="csv")
    export.add_argument("--out", type=Path, default=Path("."), help="folder for attempts.csv and leaderboards.csv")
    export.add_argument("--force", action="store_true", help="replace existing CSV files of those names")
    migrate_to = db_sub.add_parser("migrate-to", help="copy the SQLite database into an empty PostgreSQL "
                                   "database and verify the copy (stop the bot first)")
    migrate_to.add_argument("url", help="postgresql://user:password@host:5432/database (an empty database)")
    discord = sub.add_parser("discord", help="Discord tools")
    invite = discord.add_subparsers(dest="discord_command", required=True).add_parser(
        "invite-url", help="print the link that adds the bot to a server, with the permissions it needs")
    invite.add_argument("--app-id", help="application id (default: STUDYBOT_DISCORD_APP_ID, else from the token)")
    health = sub.add_parser("health", help="exit 0 when `studybot run` is alive (Docker/Kubernetes probes)")
    health.add_argument("--max-age", type=float, default=HEALTH_MAX_AGE,
                        help=f"seconds since the last heartbeat still counted healthy (default {HEALTH_MAX_AGE:.0f})")
    return p


async def run_console(settings: Settings, bank: Bank | None = None) -> int:
    from adapters.console.app import ConsoleApp

    clock = ManualClock(datetime.now(UTC))
    db = await open_store(settings.store)
    grader = grader_for(settings)
    try:  # whatever happens, close the database: its connections' threads would keep the process alive
        service = StudyService(db, bank or load_bank(settings.questions), clock,
                               default_timezone=settings.timezone, grader=grader)
        await service.sync_bank()
        return await ConsoleApp(service, clock).run(sys.stdin)
    finally:
        await grader.close()
        await db.close()


def _config_check(settings: Settings, platforms: list[str], file: Path | None) -> int:
    """Every effective setting (secrets only as set / not set), then every problem `run` would stop on
    (the same checks: settings, bank, database, health file); 1 when `run` would fail."""
    lines = [f"config file: {file}"] if file else []
    lines += [f"{name}={value}" for name, value in settings.redacted().items()]
    lines.append("platforms: " + ",".join(p if re.fullmatch(r"[a-z]{1,20}", p) else "<invalid>" for p in platforms))
    for line in lines:
        print(settings.redact(line))
    checked = preflight(settings, platforms, registry.problems)
    if checked.bank is not None:
        print(f"question bank: {len(checked.bank)} questions in {len(checked.bank.topics)} topics")
    problems = [f"error: {p}" for p in checked.problems]
    if file and settings.secrets():
        with contextlib.suppress(OSError):
            if file.stat().st_mode & 0o077:
                problems.append(f"warning: {file} holds secrets and other users can read it: chmod 600 {file}")
    for problem in problems:
        print(settings.redact(problem), file=sys.stderr)
    return 1 if any(p.startswith("error:") for p in problems) else 0


def _db_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.db_command == "migrate-to":
        return _migrate_to(args.url, settings)
    if settings.database_url:
        return _postgresql_db_command(args, settings)
    if args.db_command == "backup":
        report = ops.backup(settings.database, args.path, force=args.force)
        print(f"backed up {settings.database} to {report.target}: {report.size} bytes, schema v"
              f"{report.schema_version}, {report.attempts} attempts, integrity ok")
        return 0
    for path, rows in ops.export_csv(settings.database, args.out, force=args.force):
        print(f"wrote {rows} rows to {path}")
    return 0


def _migrate_to(url: str, settings: Settings) -> int:
    from bot.storage.transfer import migrate_to

    if not is_postgresql_url(url):
        print("studybot: migrate-to needs a postgresql://user:password@host:5432/database URL", file=sys.stderr)
        return 2
    if settings.database_url:
        print("studybot: STUDYBOT_DATABASE is already a PostgreSQL URL: set it to the SQLite file to copy",
              file=sys.stderr)
        return 2
    if not settings.database.is_file():
        print(f"studybot: no SQLite database at {settings.database}: set STUDYBOT_DATABASE to the bot's database "
              "file (the PostgreSQL URL is the argument)", file=sys.stderr)
        return 2
    copied = asyncio.run(migrate_to(settings.database, url, progress=print))
    print(f"copied {sum(copied.rows.values())} rows from {settings.database} to {display_url(url)}")
    print("verified identical: " + "; ".join(copied.verified))
    print(f"next: set STUDYBOT_DATABASE={display_url(url)} (with the user and password) and start the bot")
    return 0


def _postgresql_db_command(args: argparse.Namespace, settings: Settings) -> int:
    where = display_url(settings.database_url)
    if args.db_command == "backup":
        print(f"studybot: for PostgreSQL use pg_dump, which copies the whole database consistently while the bot "
              f"runs: pg_dump --format=custom --file=studybot.dump '{where}' (add the user and password)",
              file=sys.stderr)
        return 2
    for path, rows in ops.export_csv_from(settings.database_url, args.out, force=args.force):
        print(f"wrote {rows} rows to {path}")
    return 0


def _invite_url(args: argparse.Namespace, settings: Settings) -> int:
    app_id = args.app_id or settings.discord_app_id
    if not app_id and settings.discord_token:
        app_id = ops.discord_app_id_from_token(settings.discord_token) or ""
        if app_id:
            print("note: application id read from DISCORD_TOKEN (the bot user id); set STUDYBOT_DISCORD_APP_ID "
                  "if the link opens the wrong application", file=sys.stderr)
    if not app_id:
        print("studybot: no Discord application id: set STUDYBOT_DISCORD_APP_ID (developer portal > your "
              "application > General Information > Application ID), or DISCORD_TOKEN", file=sys.stderr)
        return 1
    if not app_id.isdigit():
        print("studybot: a Discord application id is a number such as 123456789012345678", file=sys.stderr)
        return 1
    print(ops.discord_invite_url(app_id, settings.discord_guild))
    print("permissions: " + ", ".join(ops.DISCORD_PERMISSIONS), file=sys.stderr)
    return 0


def _health(args: argparse.Namespace, settings: Settings) -> int:
    healthy, text = ops.check_health(settings.health_file, args.max_age)
    print(text, file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        # Bytes that are not UTF-8 (a pasted binary, another encoding) become U+FFFD instead of a crash.
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="replace")
    try:
        settings = Settings.load(file=args.config)
    except ConfigError as exc:
        print(f"studybot: {exc}", file=sys.stderr)
        return 1
    try:
        return _command(args, settings)
    except StudybotError as exc:
        print(settings.redact(f"studybot: {exc}"), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception:
        # Through the redacting log handler, not Python's bare traceback printer.
        configure_logging(settings)
        log.exception("studybot stopped on an unexpected error")
        return 1


def _command(args: argparse.Namespace, settings: Settings) -> int:
    command = args.command or "run"
    if command == "health":
        return _health(args, settings)
    if command in ("db", "discord"):
        configure_logging(settings, quiet=True)
        try:
            return _db_command(args, settings) if command == "db" else _invite_url(args, settings)
        except sqlite3.Error as exc:
            raise StorageError(describe_failure(settings.database, exc)) from exc
        except OSError as exc:
            raise StorageError(f"cannot write {exc.filename or 'the output'}: {exc.strerror or exc}") from exc
    if command == "bank" and args.bank_command == "appeals":
        try:
            text, count = ops.accepted_answers_patch(settings.store, args.community)
        except sqlite3.Error as exc:
            raise StorageError(describe_failure(settings.database, exc)) from exc
        print(text, end="")
        print(f"{count} accepted answer(s)", file=sys.stderr)
        return 0
    if command == "bank" and args.bank_command == "export":
        if not settings.database_url and not settings.database.is_file():
            print(f"studybot: no database at {settings.database}: start the bot once first", file=sys.stderr)
            return 1
        return bank_export(settings.store, args.community, args.out, force=args.force, out=sys.stdout)
    if command == "bank" and args.bank_command == "import":
        if args.community and not settings.database_url and not settings.database.is_file():
            print(f"studybot: no database at {settings.database}: start the bot once first", file=sys.stderr)
            return 1
        return bank_import(args.file, fmt=args.format, topic=args.topic, out_dir=args.out, force=args.force,
                           community=args.community, database=settings.store, out=sys.stdout)
    if command == "bank":
        return bank_check(args.directory or settings.questions, strict=args.strict, out=sys.stdout)
    if command == "grade":
        if args.batch:
            return grade_lines(settings.questions, sys.stdin, sys.stdout)
        if not args.question_id or args.answer is None:
            print('usage: studybot grade QUESTION_ID "answer text" | studybot grade --batch', file=sys.stderr)
            return 2
        return grade_one(settings.questions, args.question_id, args.answer, sys.stdout)
    platforms = ["console"] if command == "console" else (
        [p.strip() for p in args.platform.split(",")] if getattr(args, "platform", None) else settings.platforms())
    if command == "config":
        return _config_check(settings, platforms, args.config or config_file(os.environ))
    checked = preflight(settings, platforms, registry.problems)
    if not checked.ok:
        for problem in checked.problems:
            print(settings.redact(f"studybot: {problem}"), file=sys.stderr)
        return 1
    configure_logging(settings, quiet=platforms == ["console"])
    try:
        if platforms == ["console"]:
            return asyncio.run(run_console(settings, checked.bank))
        from adapters.serve import serve

        return asyncio.run(serve(settings, platforms, bank=checked.bank))
    except sqlite3.Error as exc:  # while starting: e.g. another program holds a write lock for too long
        raise StorageError(describe_failure(settings.database, exc)) from exc


if __name__ == "__main__":
    raise SystemExit(main())
