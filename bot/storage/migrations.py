"""Versioned schema migrations. Never edit a released step: add a new one.

PRAGMA user_version holds the version reached; each step runs in its own transaction.
"""

from __future__ import annotations

V1_CORE = """
CREATE TABLE communities (
    id          INTEGER PRIMARY KEY,
    platform    TEXT NOT NULL,
    external_id TEXT NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    UNIQUE (platform, external_id)
);
CREATE TABLE channels (
    id              INTEGER PRIMARY KEY,
    community_id    INTEGER NOT NULL REFERENCES communities(id),
    external_id     TEXT NOT NULL,
    name            TEXT NOT NULL DEFAULT '',
    enabled         INTEGER NOT NULL DEFAULT 0,
    paused          INTEGER NOT NULL DEFAULT 0,
    post_time       TEXT NOT NULL DEFAULT '09:00',
    timezone        TEXT NOT NULL DEFAULT 'UTC',
    weekdays        TEXT NOT NULL DEFAULT 'mon,tue,wed,thu,fri',
    topics          TEXT NOT NULL DEFAULT '',
    difficulty_mix  TEXT NOT NULL DEFAULT '',
    reveal_minutes  INTEGER,
    digest_channel  TEXT,
    digest_weekday  TEXT,
    digest_time     TEXT,
    configured_by   TEXT,
    UNIQUE (community_id, external_id)
);
CREATE TABLE members (
    id            INTEGER PRIMARY KEY,
    community_id  INTEGER NOT NULL REFERENCES communities(id),
    external_id   TEXT NOT NULL,
    display_name  TEXT NOT NULL DEFAULT '',
    streak        INTEGER NOT NULL DEFAULT 0,
    best_streak   INTEGER NOT NULL DEFAULT 0,
    last_daily_post INTEGER,
    UNIQUE (community_id, external_id)
);
CREATE TABLE questions (
    id            TEXT PRIMARY KEY,
    topic         TEXT NOT NULL,
    difficulty    TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    active        INTEGER NOT NULL DEFAULT 1,
    added_at      TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE TABLE posts (
    id              INTEGER PRIMARY KEY,
    channel_id      INTEGER NOT NULL REFERENCES channels(id),
    question_id     TEXT NOT NULL REFERENCES questions(id),
    question_hash   TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('daily', 'practice')),
    local_date      TEXT NOT NULL,
    posted_at       TEXT NOT NULL,
    reveal_at       TEXT,
    revealed_at     TEXT,
    choice_order    TEXT NOT NULL DEFAULT '[]',
    prev_daily      INTEGER,
    requested_by    INTEGER REFERENCES members(id),
    message_ref     TEXT,
    answered        INTEGER NOT NULL DEFAULT 0,
    correct         INTEGER NOT NULL DEFAULT 0
);
-- A channel gets at most one daily question per local date, whatever races or restarts happen.
CREATE UNIQUE INDEX posts_one_daily ON posts(channel_id, local_date) WHERE kind = 'daily';
CREATE INDEX posts_channel ON posts(channel_id, kind, id);
CREATE TABLE attempts (
    id            INTEGER PRIMARY KEY,
    post_id       INTEGER NOT NULL REFERENCES posts(id),
    member_id     INTEGER NOT NULL REFERENCES members(id),
    community_id  INTEGER NOT NULL REFERENCES communities(id),
    question_id   TEXT NOT NULL,
    topic         TEXT NOT NULL,
    kind          TEXT NOT NULL,
    mode          TEXT NOT NULL CHECK (mode IN ('choice', 'text', 'self')),
    choice        INTEGER,
    answer_text   TEXT,
    score         REAL NOT NULL,
    correct       INTEGER NOT NULL,
    points        INTEGER NOT NULL,
    missed        TEXT NOT NULL DEFAULT '[]',
    created_at    TEXT NOT NULL,
    day           TEXT NOT NULL,
    UNIQUE (post_id, member_id)
);
CREATE INDEX attempts_member ON attempts(member_id, question_id);
CREATE TABLE reviews (
    member_id    INTEGER NOT NULL REFERENCES members(id),
    question_id  TEXT NOT NULL,
    card         TEXT NOT NULL,
    due          TEXT NOT NULL,
    reps         INTEGER NOT NULL DEFAULT 0,
    lapses       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (member_id, question_id)
);
CREATE INDEX reviews_due ON reviews(member_id, due);
"""

# Leaderboards read pre-aggregated totals kept up to date on write by a trigger, so reading any period
# is an indexed top-N instead of a GROUP BY over every attempt.
V2_TOTALS = """
ALTER TABLE attempts ADD COLUMN week TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN month TEXT NOT NULL DEFAULT '';
CREATE TABLE totals (
    community_id  INTEGER NOT NULL,
    period        TEXT NOT NULL,
    period_key    TEXT NOT NULL,
    topic         TEXT NOT NULL,
    member_id     INTEGER NOT NULL,
    points        INTEGER NOT NULL DEFAULT 0,
    correct       INTEGER NOT NULL DEFAULT 0,
    answered      INTEGER NOT NULL DEFAULT 0,
    last_at       TEXT NOT NULL,
    PRIMARY KEY (community_id, period, period_key, topic, member_id)
) WITHOUT ROWID;
CREATE INDEX totals_rank ON totals(community_id, period, period_key, topic, points DESC, correct DESC, last_at);
CREATE TABLE rolling_meta (
    community_id INTEGER NOT NULL,
    topic        TEXT NOT NULL,
    as_of        TEXT NOT NULL,
    PRIMARY KEY (community_id, topic)
);
CREATE TRIGGER attempts_totals AFTER INSERT ON attempts BEGIN
    INSERT INTO totals (community_id, period, period_key, topic, member_id, points, correct, answered, last_at)
    SELECT NEW.community_id, p.period, p.pkey, t.topic, NEW.member_id, NEW.points, NEW.correct, 1, NEW.created_at
    FROM (SELECT 'all' AS period, 'all' AS pkey UNION ALL SELECT 'week', NEW.week
          UNION ALL SELECT 'month', NEW.month UNION ALL SELECT 'day', NEW.day) AS p,
         (SELECT '' AS topic UNION ALL SELECT NEW.topic) AS t
    WHERE true
    ON CONFLICT (community_id, period, period_key, topic, member_id) DO UPDATE SET
        points = points + excluded.points,
        correct = correct + excluded.correct,
        answered = answered + 1,
        last_at = CASE WHEN excluded.points > 0 THEN excluded.last_at ELSE last_at END;
    -- The rolling 30-day board is materialised per day (see storage.leaderboard); keep today's up to date.
    INSERT INTO totals (community_id, period, period_key, topic, member_id, points, correct, answered, last_at)
    SELECT NEW.community_id, '30d', m.as_of, m.topic, NEW.member_id, NEW.points, NEW.correct, 1, NEW.created_at
    FROM rolling_meta AS m
    WHERE m.community_id = NEW.community_id AND m.topic IN ('', NEW.topic)
      AND NEW.day > date(m.as_of, '-30 days') AND NEW.day <= m.as_of
    ON CONFLICT (community_id, period, period_key, topic, member_id) DO UPDATE SET
        points = points + excluded.points,
        correct = correct + excluded.correct,
        answered = answered + 1,
        last_at = CASE WHEN excluded.points > 0 THEN excluded.last_at ELSE last_at END;
    UPDATE posts SET answered = answered + 1, correct = correct + NEW.correct WHERE id = NEW.post_id;
END;
-- Bring databases written by version 1 up to date.
UPDATE attempts SET week = date(day, '-6 days', 'weekday 1'), month = substr(day, 1, 7);
INSERT INTO totals (community_id, period, period_key, topic, member_id, points, correct, answered, last_at)
SELECT community_id, period, pkey, topic_key, member_id, SUM(points), SUM(correct), COUNT(*), MAX(created_at)
FROM (SELECT a.community_id, a.member_id, a.points, a.correct, a.created_at, p.period,
             CASE p.period WHEN 'all' THEN 'all' WHEN 'week' THEN a.week
                           WHEN 'month' THEN a.month ELSE a.day END AS pkey,
             CASE w.which WHEN 0 THEN '' ELSE a.topic END AS topic_key
      FROM attempts AS a
      CROSS JOIN (SELECT 'all' AS period UNION ALL SELECT 'week' UNION ALL SELECT 'month'
                  UNION ALL SELECT 'day') AS p
      CROSS JOIN (SELECT 0 AS which UNION ALL SELECT 1) AS w)
GROUP BY community_id, period, pkey, topic_key, member_id;
UPDATE posts SET answered = (SELECT COUNT(*) FROM attempts WHERE post_id = posts.id),
                 correct = (SELECT COALESCE(SUM(correct), 0) FROM attempts WHERE post_id = posts.id);
"""

# Scheduled work done, one row per channel, kind and local date: the second writer loses.
V3_SCHEDULE = """
CREATE TABLE scheduled_runs (
    channel_id  INTEGER NOT NULL REFERENCES channels(id),
    kind        TEXT NOT NULL,
    local_date  TEXT NOT NULL,
    due_at      TEXT NOT NULL,
    done_at     TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    post_id     INTEGER,
    PRIMARY KEY (channel_id, kind, local_date)
);
ALTER TABLE channels ADD COLUMN enabled_at TEXT;
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
"""

# Honest verdicts and appeals: a written answer's verdict (correct, partial, incorrect, or unsure: the member
# rates themselves), appeals against a verdict, and the answers a community's admins accepted. An upheld
# appeal re-scores its attempt: the trigger moves the difference into every board the attempt counted in.
V4_APPEALS = """
ALTER TABLE attempts ADD COLUMN verdict TEXT;
ALTER TABLE attempts ADD COLUMN self_rating TEXT;
CREATE TABLE appeals (
    id            INTEGER PRIMARY KEY,
    attempt_id    INTEGER NOT NULL UNIQUE REFERENCES attempts(id),
    community_id  INTEGER NOT NULL REFERENCES communities(id),
    status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'upheld', 'rejected')),
    created_at    TEXT NOT NULL,
    decided_by    TEXT,
    decided_at    TEXT
);
CREATE INDEX appeals_open ON appeals(community_id, status, id);
CREATE TABLE accepted_answers (
    community_id  INTEGER NOT NULL REFERENCES communities(id),
    question_id   TEXT NOT NULL,
    normalized    TEXT NOT NULL,
    answer        TEXT NOT NULL,
    added_at      TEXT NOT NULL,
    PRIMARY KEY (community_id, question_id, normalized)
);
CREATE TRIGGER attempts_rescore AFTER UPDATE OF points, correct ON attempts
WHEN NEW.points != OLD.points OR NEW.correct != OLD.correct BEGIN
    UPDATE totals SET points = points + NEW.points - OLD.points, correct = correct + NEW.correct - OLD.correct,
                      last_at = CASE WHEN NEW.points > OLD.points THEN MAX(last_at, NEW.created_at) ELSE last_at END
    WHERE community_id = NEW.community_id AND member_id = NEW.member_id AND topic IN ('', NEW.topic)
      AND ((period = 'all' AND period_key = 'all') OR (period = 'week' AND period_key = NEW.week)
           OR (period = 'month' AND period_key = NEW.month) OR (period = 'day' AND period_key = NEW.day)
           OR (period = '30d' AND NEW.day > date(period_key, '-30 days') AND NEW.day <= period_key));
    UPDATE posts SET correct = correct + NEW.correct - OLD.correct WHERE id = NEW.post_id;
END;
"""

# A community's own questions (imported, or later written in chat), served only to that community. `id` is
# the question id as served and stored on posts ('c<community>-<slug>'); `slug` is its id in the source.
V5_COMMUNITY_QUESTIONS = """
CREATE TABLE community_questions (
    community_id  INTEGER NOT NULL REFERENCES communities(id),
    slug          TEXT NOT NULL,
    id            TEXT NOT NULL UNIQUE,
    topic         TEXT NOT NULL,
    topic_title   TEXT NOT NULL,
    entry         TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'published' CHECK (status IN ('published', 'pending', 'rejected')),
    author        TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (community_id, slug)
);
"""

# Questions written in chat (/studybot question add): a member's submission waits here for an admin's review;
# published ones (an admin's at once, a member's once approved) also become community_questions rows. The
# author learns the decision privately on their next command (`notified`). A channel chooses its question pool:
# the shipped topics, the community's own, or both.
V6_SUBMISSIONS = """
CREATE TABLE submissions (
    id            INTEGER PRIMARY KEY,
    community_id  INTEGER NOT NULL REFERENCES communities(id),
    author        TEXT NOT NULL,
    author_name   TEXT NOT NULL DEFAULT '',
    topic         TEXT NOT NULL,
    topic_title   TEXT NOT NULL,
    entry         TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'published', 'rejected')),
    question_id   TEXT,
    reason        TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    decided_by    TEXT,
    decided_at    TEXT,
    notified      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX submissions_queue ON submissions(community_id, status, id);
CREATE INDEX submissions_author ON submissions(community_id, author, status);
ALTER TABLE channels ADD COLUMN pool TEXT NOT NULL DEFAULT 'both' CHECK (pool IN ('shipped', 'own', 'both'));
"""

# Slack for many workspaces (the OAuth install flow): one row per installed workspace (or Enterprise Grid org,
# team_id ''), holding its bot token, and the install flow's one-time states. `data` is the installation as
# slack-sdk describes it, as JSON, without the bot token (kept in its own column).
V7_SLACK_INSTALLATIONS = """
CREATE TABLE slack_installations (
    enterprise_id          TEXT NOT NULL DEFAULT '',
    team_id                TEXT NOT NULL DEFAULT '',
    is_enterprise_install  INTEGER NOT NULL DEFAULT 0,
    app_id                 TEXT,
    bot_token              TEXT,
    bot_id                 TEXT,
    bot_user_id            TEXT,
    bot_scopes             TEXT NOT NULL DEFAULT '',
    installer              TEXT,
    installed_at           TEXT NOT NULL,
    data                   TEXT NOT NULL,
    PRIMARY KEY (enterprise_id, team_id)
);
CREATE INDEX slack_installations_team ON slack_installations(team_id);
CREATE TABLE slack_oauth_states (
    state       TEXT PRIMARY KEY,
    expires_at  TEXT NOT NULL
);
CREATE INDEX slack_oauth_states_expiry ON slack_oauth_states(expires_at);
"""

MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (1, "core tables", V1_CORE),
    (2, "leaderboard totals kept on write", V2_TOTALS),
    (3, "scheduled runs and the scheduler lease", V3_SCHEDULE),
    (4, "verdicts, self-ratings, appeals and accepted answers", V4_APPEALS),
    (5, "community questions", V5_COMMUNITY_QUESTIONS),
    (6, "questions written in chat, their review queue, and each channel's question pool", V6_SUBMISSIONS),
    (7, "Slack installations and OAuth states (many workspaces)", V7_SLACK_INSTALLATIONS),
)
LATEST_VERSION = MIGRATIONS[-1][0]
