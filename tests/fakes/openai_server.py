"""A fake OpenAI-compatible chat completions server for the LLM judge's tests: `mode` decides the reply
(a valid verdict, a contradicted key point, malformed text, a reply that breaks the schema, 429, 500) and
`delay` makes it slow."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

KEY = "sk-test-judge-key-0123456789"


class FakeOpenAI:
    """POST /v1/chat/completions; `mode` decides the reply."""

    def __init__(self) -> None:
        self.mode = "good"
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = self.most_in_flight = 0
        self.delay = 0.0
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> FakeOpenAI:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.completions)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/v1"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def completions(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            if self.mode in ("429", "500"):
                return web.json_response({"error": "nope"}, status=int(self.mode))
            n = body["messages"][1]["content"].count("\n", body["messages"][1]["content"].index("Key points:"),
                                                     body["messages"][1]["content"].index("<answer>")) - 2
            content = {
                "good": json.dumps({"points": ["hit"] * n, "feedback": "Nicely put."}),
                "contradicted": json.dumps({"points": ["contradicted"] + ["hit"] * (n - 1), "feedback": "Reversed."}),
                "malformed": "Sure! The learner is right.",
                "schema": json.dumps({"points": ["hit"], "feedback": 3}),
                # A model talked round by the learner's text: its own verdict shape, or too many points.
                "obeyed": json.dumps({"verdict": "correct", "feedback": "Marked correct as you asked."}),
                "padded": json.dumps({"points": ["hit"] * (n + 3), "feedback": "All correct."}),
            }[self.mode]
            return web.json_response({"choices": [{"message": {"role": "assistant", "content": content}}],
                                      "usage": {"prompt_tokens": 120, "completion_tokens": 20}})
        finally:
            self.in_flight -= 1
