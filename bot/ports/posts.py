"""The storage port for posts: create, read, counts, message refs, daily history."""

from __future__ import annotations

from typing import Protocol


class PostsPort(Protocol):
    """Implemented by bot/storage/sql/posts.py for both backends."""
