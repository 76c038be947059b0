"""The storage ports: what the core needs from a database, one interface per area, defined by the core.

bot/storage/sql implements them once, in the portable SQL both backends accept; bot/storage/port.py is the
connection-level contract (transactions, `single_writer`) each backend provides. No SQL outside bot/storage.
"""

from __future__ import annotations

from typing import Protocol

from bot.ports.answers import AnswersPort
from bot.ports.appeals import AppealsPort
from bot.ports.boards import BoardsPort
from bot.ports.channels import ChannelsPort
from bot.ports.identities import IdentitiesPort
from bot.ports.posts import PostsPort
from bot.ports.questions import QuestionsPort
from bot.ports.reports import ReportsPort
from bot.ports.schedule import ScheduleRunsPort
from bot.ports.submissions import SubmissionsPort


class Storage(Protocol):
    """Every port, on one database."""

    @property
    def single_writer(self) -> bool: ...

    @property
    def identities(self) -> IdentitiesPort: ...

    @property
    def posts(self) -> PostsPort: ...

    @property
    def answers(self) -> AnswersPort: ...

    @property
    def appeals(self) -> AppealsPort: ...

    @property
    def boards(self) -> BoardsPort: ...

    @property
    def channels(self) -> ChannelsPort: ...

    @property
    def schedule(self) -> ScheduleRunsPort: ...

    @property
    def questions(self) -> QuestionsPort: ...

    @property
    def submissions(self) -> SubmissionsPort: ...

    @property
    def reports(self) -> ReportsPort: ...
