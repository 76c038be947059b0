"""The storage ports (bot/ports) implemented in SQL both backends accept: `?` placeholders, ON CONFLICT,
RETURNING, ISO-8601 text for times. What differs between SQLite and PostgreSQL (schema, triggers, locking
reads) is decided by the backend's contract (`Database.single_writer`) or lives in its own package."""

from __future__ import annotations

from bot.storage.port import Database
from bot.storage.sql.answers import Answers
from bot.storage.sql.appeals import Appeals
from bot.storage.sql.boards import Boards
from bot.storage.sql.channels import Channels
from bot.storage.sql.identities import Identities
from bot.storage.sql.posts import Posts
from bot.storage.sql.questions import Questions
from bot.storage.sql.reports import Reports
from bot.storage.sql.schedule import ScheduleRuns
from bot.storage.sql.submissions import Submissions


class SqlStorage:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.single_writer = db.single_writer
        self.identities = Identities(db)
        self.posts = Posts(db)
        self.answers = Answers(db)
        self.appeals = Appeals(db)
        self.boards = Boards(db)
        self.channels = Channels(db)
        self.schedule = ScheduleRuns(db)
        self.questions = Questions(db)
        self.submissions = Submissions(db)
        self.reports = Reports(db)
