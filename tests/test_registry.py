"""The platform registry: the composition root names no platform itself."""

from __future__ import annotations

from adapters import registry
from bot.config import Settings
from tests.conftest import FIXTURE_BANK, ROOT


def test_every_registered_platform_has_a_package_and_is_known_to_the_checks() -> None:
    assert set(registry.PLATFORMS) == {"discord", "slack"}
    for name in registry.PLATFORMS:
        assert (ROOT / "adapters" / name / "adapter.py").is_file()
    settings = Settings(questions=FIXTURE_BANK)
    assert any("DISCORD_TOKEN" in p for p in registry.problems(settings, ["discord"]))
    unknown = registry.problems(settings, ["teams"])
    assert unknown == ["unknown platform 'teams' (use console, discord, slack)"]


def test_serve_and_the_cli_do_not_name_platforms() -> None:
    for module in ("serve.py", "app.py"):
        text = (ROOT / "adapters" / module).read_text()
        assert "DiscordPlatform" not in text and "SlackPlatform" not in text, module
