"""The storage port for posts: create, read, counts, message refs, daily history."""

from __future__ import annotations

from typing import Protocol

from bot.storage.port import Row


class PostsPort(Protocol):
    """Implemented by bot/storage/sql/posts.py for both backends. Times are ISO-8601 text."""

    async def create(self, channel_id: int, question_id: str, question_hash: str, *, kind: str, local_date: str,
                     posted_at: str, reveal_at: str | None, choice_order: str,
                     requested_by: int | None) -> int | None:
        """The new post's id; None for a daily post the channel already has that day."""
        ...

    async def record(self, post_id: int) -> Row | None:
        """The post's row with its channel's community_id."""
        ...

    async def counts(self, post_id: int) -> tuple[int, int] | None:
        """(answered, correct) as stored on the post."""
        ...

    async def daily_id(self, channel_id: int, local_date: str) -> int | None: ...

    async def set_message_ref(self, post_id: int, ref: str) -> None: ...

    async def message_ref(self, post_id: int) -> str | None: ...
