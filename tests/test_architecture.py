"""The core stays platform-agnostic: importing any module of bot/ pulls in no platform library."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

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
