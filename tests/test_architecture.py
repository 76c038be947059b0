"""The core stays platform-agnostic: importing any module of bot/ pulls in no platform library."""

from __future__ import annotations

import ast
import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import bot
from tests.conftest import ROOT

FORBIDDEN = ("discord", "slack_bolt", "slack_sdk", "adapters")


def test_bot_imports_no_platform_code() -> None:
    modules = [m.name for m in pkgutil.walk_packages(bot.__path__, "bot.")]
    assert "bot.service" in modules and "bot.storage.db" in modules
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    loaded = json.loads(proc.stdout)
    bad = [m for m in loaded if m.split(".")[0] in FORBIDDEN]
    assert bad == []


def test_detector_would_catch_a_platform_import() -> None:
    # The same check on adapters/ must find what it looks for, so the test above can fail.
    proc = subprocess.run([sys.executable, "-c", "import adapters.app, sys; print('adapters' in sys.modules)"],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    assert proc.stdout.strip() == "True"


# Modules of bot/ that may hold SQL: the storage layer, and the reader of Anki's own collection file.
SQL_ALLOWED = ("bot/storage/", "bot/importers/apkg.py")
SQL_START = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|CREATE|ALTER|DROP|PRAGMA|BEGIN)\b")


def sql_outside_storage(root: Path) -> list[str]:
    """file:line of every string in bot/ that starts like an SQL statement, outside the storage layer."""
    found = []
    for path in sorted((root / "bot").rglob("*.py")):
        name = path.relative_to(root).as_posix()
        if name.startswith(SQL_ALLOWED):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_START.match(node.value):
                found.append(f"{name}:{node.lineno}")
    return found


def test_all_sql_lives_in_the_storage_layer() -> None:
    assert sql_outside_storage(ROOT) == []


def test_the_sql_detector_finds_sql(tmp_path: Path) -> None:
    (tmp_path / "bot" / "usecases").mkdir(parents=True)
    (tmp_path / "bot" / "usecases" / "x.py").write_text('Q = "SELECT id FROM posts"\nT = "Select a topic"\n')
    assert sql_outside_storage(tmp_path) == ["bot/usecases/x.py:1"]
