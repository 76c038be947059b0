"""A real PostgreSQL server for the tests: initdb into a temp dir, a free port on 127.0.0.1, stopped at exit.

The machines run as root and PostgreSQL refuses root, so the server runs as the `postgres` system user on a
data directory that user owns. fsync and synchronous_commit are off: a test server, never a deployment.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

USER = "studybot"


def bin_dir() -> Path:
    """Debian keeps the server binaries off PATH, under /usr/lib/postgresql/<version>/bin."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(os.path.realpath(on_path)).parent
    raise RuntimeError("PostgreSQL is not installed: apt-get install -y postgresql (make test does this)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@dataclass
class Server:
    root: Path
    port: int
    _names: itertools.count[int]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database on this server; returns its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)

    def psql(self, sql: str, database: str = "postgres") -> str:
        done = subprocess.run(["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                               "-p", str(self.port), "-U", USER, "-d", database, "-c", sql],
                              capture_output=True, text=True, check=True, timeout=60)
        return done.stdout.strip()

    def stop(self) -> None:
        subprocess.run(_as_server_user([str(bin_dir() / "pg_ctl"), "-D", str(self.root / "db"), "-m", "immediate",
                                        "stop"]), capture_output=True, check=False, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def start() -> Server:
    binaries = bin_dir()
    root = Path(tempfile.mkdtemp(prefix="studybot-pg-"))
    os.chmod(root, 0o755)
    data = root / "db"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
        shutil.chown(root, "postgres", "postgres")
    subprocess.run(_as_server_user([str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", USER,
                                    "-E", "UTF8", "--no-sync"]), capture_output=True, check=True, timeout=120)
    port = free_port()
    options = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
               "-c full_page_writes=off -c max_connections=200")
    subprocess.run(_as_server_user([str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l",
                                    str(root / "log"), "-w", "start"]), capture_output=True, check=True, timeout=120)
    return Server(root, port, itertools.count(1))
