# syntax=docker/dockerfile:1
# studybot image: docker build -t studybot .
#   docker run -d --name studybot --env-file studybot.env -v studybot-data:/data --stop-timeout 30 studybot
# The database lives on the /data volume; tokens come from the environment, never from the image.
# tests/test_packaging.py replays the build stage's RUN steps in a clean virtual environment in CI.

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------- build: a self-contained virtualenv
FROM ${PYTHON_IMAGE} AS build
ENV VENV=/opt/studybot/venv
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
ENV PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# .dockerignore lets in only pyproject.toml, README.md, bot/, adapters/ and questions/. The image carries the
# PostgreSQL driver (the postgresql extra) so one image serves SQLite and replicas on PostgreSQL.
COPY . .
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m venv "$VENV" \
    && "$VENV/bin/pip" install .[postgresql] \
    && "$VENV/bin/studybot" --help > /dev/null \
    && STUDYBOT_QUESTIONS=questions "$VENV/bin/studybot" bank check

# ---------------------------------------------------------------- runtime: slim, non-root
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="studybot" \
      org.opencontainers.image.description="A study bot for machine-learning interviews in Discord and Slack" \
      org.opencontainers.image.licenses="MIT"
ENV PATH=/opt/studybot/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/studybot \
    MPLCONFIGDIR=/tmp/matplotlib \
    STUDYBOT_DATABASE=/data/studybot.sqlite3 \
    STUDYBOT_QUESTIONS=/opt/studybot/questions \
    STUDYBOT_HEALTH_FILE=/tmp/studybot/health
RUN groupadd --system --gid 10001 studybot \
    && useradd --system --uid 10001 --gid studybot --create-home --home-dir /home/studybot \
       --shell /usr/sbin/nologin studybot \
    && mkdir -p /data \
    && chown studybot:studybot /data
COPY --from=build /opt/studybot/venv /opt/studybot/venv
COPY questions/ /opt/studybot/questions/
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
# Only Slack's HTTP mode listens (STUDYBOT_SLACK_PORT); Discord and Slack Socket Mode connect out.
EXPOSE 3000
# `studybot run` touches $STUDYBOT_HEALTH_FILE every 15 s once every platform is up; `studybot health`
# fails when it is missing or older than 60 s.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["studybot", "health"]
# SIGTERM: finish interactions in flight, stop the scheduler, close the database (allow 30 s: --stop-timeout).
STOPSIGNAL SIGTERM
ENTRYPOINT ["studybot", "run"]
