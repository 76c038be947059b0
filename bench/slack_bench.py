"""Slack HTTP mode under a burst: N concurrent signed button presses on one question card.

    .venv/bin/python bench/slack_bench.py [--presses 500]

A child process runs the real SlackPlatform (HTTP mode, slack-bolt) with the shipped bank and a fresh
SQLite database, plus the fake Slack Web API it talks to (so the bot's event loop also serves the fake's
calls: a pessimistic setup). This process fires the presses, each from a different member, all at once,
and reports the time to ack (HTTP response) at p50 / p99 / max, how many were acknowledged within 3 s, and
how long the work after the acks (grading, ephemeral feedback, coalesced card updates) took to finish.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "bench-signing-secret"
TEAM = "T1"
CHANNEL = "C1"


# ----------------------------------------------------------------- the bot side (child process)
async def serve() -> None:
    from adapters.slack.adapter import SlackPlatform
    from bot.actions import AnswerChoice
    from bot.bank import load_bank
    from bot.clock import SystemClock
    from bot.config import Settings
    from bot.service import Actor, StudyService
    from bot.storage import open_database
    from tests.fakes.slack_server import FakeSlack

    fake = await FakeSlack().start()
    with tempfile.TemporaryDirectory() as tmp:
        db = await open_database(Path(tmp) / "bench.sqlite3")
        service = StudyService(db, load_bank(ROOT / "questions"), SystemClock(), rng=random.Random(1))
        await service.sync_bank()
        settings = Settings(slack_bot_token=fake.token, slack_signing_secret=SECRET, slack_mode="http", slack_port=0,
                            slack_api_url=fake.api_url)
        platform = SlackPlatform(service, settings, host="127.0.0.1")
        await platform.start()
        card = await service.quiz(Actor("slack", TEAM, CHANNEL, "UHOST", "host"), "statistics-probability")
        assert card.post_id is not None
        ts = await platform.post_message(CHANNEL, card)
        answers = [b.id for b in card.buttons if isinstance(b.action, AnswerChoice)]
        print(json.dumps({"port": platform.port, "ts": ts, "answers": answers}), flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.readline)  # "go"
        started = time.monotonic()
        await loop.run_in_executor(None, sys.stdin.readline)  # "stop": every ack is in
        await platform.drain(120)
        last = max(c.at for c in fake.calls)
        rows = await db.fetchall("SELECT COUNT(*), SUM(correct) FROM attempts WHERE post_id = ?", (card.post_id,))
        print(json.dumps({
            "work_done_s": last - started, "attempts": rows[0][0], "correct": rows[0][1],
            "ephemerals": len(fake.to("chat.postEphemeral")), "updates": len(fake.to("chat.update")),
            "users_info": len(fake.to("users.info")),
            "final_card": (fake.messages[(CHANNEL, ts)]["blocks"] or [{}])[-1],
        }), flush=True)
        await platform.stop()
        await db.close()
    await fake.stop()


# ----------------------------------------------------------------- the load side (this process)
def press_body(action_id: str, user: str, ts: str, response_url: str) -> str:
    payload = {
        "type": "block_actions", "api_app_id": "A0STUDYBOT", "token": "legacy", "trigger_id": f"{time.time()}.1.x",
        "team": {"id": TEAM, "domain": "team"}, "user": {"id": user, "name": user.lower(), "team_id": TEAM},
        "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL, "is_ephemeral": False},
        "channel": {"id": CHANNEL, "name": "general"}, "message": {"type": "message", "ts": ts, "text": "card"},
        "response_url": response_url,
        "actions": [{"action_id": action_id, "block_id": "b", "value": action_id, "type": "button",
                     "text": {"type": "plain_text", "text": "x"}, "action_ts": str(time.time())}],
    }
    return "payload=" + quote(json.dumps(payload))


def signed(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sig}


async def fire(presses: int) -> dict[str, Any]:
    import aiohttp

    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert child.stdin is not None
    assert child.stdout is not None
    line = await asyncio.wait_for(child.stdout.readline(), 60)
    if not line:
        raise SystemExit(f"the bot process failed to start (exit {await child.wait()})")
    ready = json.loads(line)
    url = f"http://127.0.0.1:{ready['port']}/slack/events"
    rng = random.Random(5)
    bodies = [press_body(rng.choice(ready["answers"]), f"U{i:05d}", ready["ts"], f"{url}/unused")
              for i in range(presses)]
    times: list[float] = []
    statuses: list[int] = []

    async def one(session: aiohttp.ClientSession, body: str, start_gate: asyncio.Event) -> None:
        headers = signed(body)
        await start_gate.wait()
        start = time.perf_counter()
        async with session.post(url, data=body.encode(), headers=headers) as resp:
            await resp.read()
            times.append(time.perf_counter() - start)
            statuses.append(resp.status)

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        gate = asyncio.Event()
        tasks = [asyncio.create_task(one(session, body, gate)) for body in bodies]
        await asyncio.sleep(0)
        child.stdin.write(b"go\n")
        await child.stdin.drain()
        wall = time.perf_counter()
        gate.set()
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - wall
    child.stdin.write(b"stop\n")
    await child.stdin.drain()
    after = json.loads(await asyncio.wait_for(child.stdout.readline(), 180))
    await asyncio.wait_for(child.wait(), 60)
    ordered = sorted(times)
    return {
        "presses": presses, "status_200": statuses.count(200), "wall_s": wall,
        "p50_ms": 1000 * statistics.median(ordered), "p99_ms": 1000 * ordered[max(0, int(0.99 * len(ordered)) - 1)],
        "max_ms": 1000 * ordered[-1], "within_3s": sum(t <= 3.0 for t in ordered), **after,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--presses", type=int, default=500)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve())
        return 0
    r = asyncio.run(fire(args.presses))
    print(f"{r['presses']} concurrent signed button presses on one card (HTTP mode, POST /slack/events)")
    print(f"  HTTP 200:          {r['status_200']}/{r['presses']}")
    print(f"  time to ack:       p50 {r['p50_ms']:.0f} ms · p99 {r['p99_ms']:.0f} ms · max {r['max_ms']:.0f} ms")
    print(f"  acked within 3 s:  {r['within_3s']}/{r['presses']}")
    print(f"  all acks in:       {r['wall_s']:.2f} s")
    print(f"  work after acks:   done {r['work_done_s']:.2f} s after the first press; {r['attempts']} attempts "
          f"({r['correct']} correct), {r['ephemerals']} ephemeral replies, {r['updates']} chat.update calls "
          f"(coalesced), {r['users_info']} users.info calls")
    print(f"  final card footer: {r['final_card'].get('elements', [{}])[0].get('text')}")
    return 0 if r["within_3s"] == r["presses"] and r["status_200"] == r["presses"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
