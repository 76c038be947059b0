"""The Dockerfile, .dockerignore and deploy/ manifests. There is no Docker engine in CI, so the image's
build steps are replayed in a clean virtual environment (slow: a real `pip install .` of the repository)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"


# ----------------------------------------------------------------- a small Dockerfile reader
@dataclass(frozen=True)
class Instruction:
    stage: str
    keyword: str
    args: str


def dockerfile() -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped, each tagged with its stage."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or not line:
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    out: list[Instruction] = []
    stage = ""
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = args.split()
            stage = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else parts[0]
        out.append(Instruction(stage, keyword, " ".join(args.split())))
    return out


def env_of(stage: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for i in dockerfile():
        if i.stage == stage and i.keyword == "ENV":
            for pair in i.args.split():
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def run_steps(stage: str) -> list[str]:
    steps = []
    for i in dockerfile():
        if i.stage == stage and i.keyword == "RUN":
            words = i.args.split(" ")
            while words and words[0].startswith("--"):  # --mount=type=cache,... is BuildKit's, not the shell's
                words.pop(0)
            steps.append(" ".join(words))
    return steps


# ----------------------------------------------------------------- .dockerignore as Docker reads it
def _regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        else:
            c = pattern[i]
            out += "[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c)
            i += 1
    return re.compile(out)


def ignore_rules() -> list[tuple[bool, str, re.Pattern[str]]]:
    rules = []
    for raw in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip().strip("/"))
        rules.append((negate, pattern, _regex(pattern)))
    return rules


def ignored(path: str, rules: list[tuple[bool, str, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent folders decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for negate, _, rx in rules:
        if any(rx.fullmatch(c) for c in candidates):
            result = not negate
    return result


def build_context(dest: Path) -> list[str]:
    """Copy what `docker build .` would send, and return the relative paths."""
    rules = ignore_rules()
    sent: list[str] = []
    for folder, dirs, files in os.walk(ROOT):
        rel_dir = os.path.relpath(folder, ROOT)
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirs[:] = [d for d in dirs if not ignored(rel_dir + d, rules)
                   or any(neg and p.startswith(rel_dir + d + "/") for neg, p, _ in rules)]
        for name in files:
            rel = rel_dir + name
            if not ignored(rel, rules):
                sent.append(rel)
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, dest / rel)
    return sorted(sent)


# ----------------------------------------------------------------- static checks
def test_dockerfile_is_multi_stage_slim_and_non_root() -> None:
    steps = dockerfile()
    assert any(i.keyword == "ARG" and i.args == "PYTHON_IMAGE=python:3.11-slim" for i in steps)
    froms = [i.args for i in steps if i.keyword == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE} AS runtime"]
    runtime = [i for i in steps if i.stage == "runtime"]
    users = [i.args for i in runtime if i.keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert "useradd --system --uid 10001" in " ".join(i.args for i in runtime if i.keyword == "RUN")
    env = env_of("runtime")
    assert env["STUDYBOT_DATABASE"] == "/data/studybot.sqlite3"
    assert env["STUDYBOT_HEALTH_FILE"].startswith("/tmp/")
    assert [i.args for i in runtime if i.keyword == "VOLUME"] == ['["/data"]']
    copies = [i.args.split() for i in runtime if i.keyword == "COPY"]
    # The bank is copied to where STUDYBOT_QUESTIONS points; the virtualenv comes from the build stage.
    assert ["questions/", env["STUDYBOT_QUESTIONS"] + "/"] in copies
    assert ["--from=build", env_of("build")["VENV"], env_of("build")["VENV"]] in copies
    assert env["PATH"].startswith(env_of("build")["VENV"] + "/bin:")
    health = [i.args for i in runtime if i.keyword == "HEALTHCHECK"]
    assert len(health) == 1 and health[0].endswith('CMD ["studybot", "health"]')
    entry = [i.args for i in runtime if i.keyword == "ENTRYPOINT"]
    assert [json.loads(e) for e in entry] == [["studybot", "run"]]


def test_dockerignore_sends_the_code_and_bank_but_no_secret() -> None:
    rules = ignore_rules()
    for sent in ("pyproject.toml", "README.md", "bot/service.py", "adapters/app.py", "adapters/discord/adapter.py",
                 "questions/nlp.yaml"):
        assert not ignored(sent, rules), sent
    for kept_out in (".env", "deploy/studybot.env", "data/studybot.sqlite3", "studybot.sqlite3-wal", ".git/config",
                     ".venv/bin/python", "tests/test_service.py", "bot/__pycache__/service.cpython-311.pyc",
                     "backups/studybot-20260101.sqlite3", "Dockerfile", "adapters/secret.env"):
        assert ignored(kept_out, rules), kept_out


# ----------------------------------------------------------------- the image's build, replayed
def _clean_env(**extra: str) -> dict[str, str]:
    drop = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "STUDYBOT_", "DISCORD_", "SLACK_")
    return {**{k: v for k, v in os.environ.items() if not k.startswith(drop)}, **extra}


@pytest.mark.slow
def test_dockerfile_install_steps_in_a_clean_virtualenv(tmp_path: Path) -> None:
    context = tmp_path / "src"
    sent = build_context(context)
    assert "pyproject.toml" in sent and any(p.startswith("questions/") for p in sent)
    assert not any(p.startswith(("tests/", ".venv/", ".git/")) for p in sent)
    # `python` is this interpreter (3.11, as in python:3.11-slim); the venv and the context are temporary.
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n', encoding="utf-8")
    (shim / "python").chmod(0o755)
    venv = tmp_path / "venv"
    env = _clean_env(**{k: v for k, v in env_of("build").items() if k != "VENV"}, VENV=str(venv),
                     PATH=f"{shim}:{os.environ.get('PATH', '/usr/bin:/bin')}")
    steps = run_steps("build")
    assert any("pip\" install ." in s for s in steps)
    log = tmp_path / "build.log"
    for step in steps:
        with log.open("a", encoding="utf-8") as fh:
            proc = subprocess.run(["/bin/sh", "-c", step], check=False, cwd=context, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                  timeout=1500)
        assert proc.returncode == 0, f"RUN {step}\n" + log.read_text(encoding="utf-8")[-4000:]

    # Then the runtime stage: its environment, the bank where it is copied, the working directory /data.
    runtime = env_of("runtime")
    bank = tmp_path / "opt" / "questions"
    shutil.copytree(context / "questions", bank)
    data = tmp_path / "data"
    data.mkdir()
    # The image's environment, with its absolute paths moved under tmp_path.
    run_env = _clean_env(**{**runtime, "PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path),
                            "MPLCONFIGDIR": str(tmp_path / "mpl"), "STUDYBOT_QUESTIONS": str(bank),
                            "STUDYBOT_DATABASE": str(data / "studybot.sqlite3"),
                            "STUDYBOT_HEALTH_FILE": str(tmp_path / "run" / "health")})

    def studybot(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(venv / "bin" / "studybot"), *args], check=False, cwd=data, env=run_env, input=stdin,
                              capture_output=True, text=True, timeout=120)

    helped = studybot("--help")
    assert helped.returncode == 0 and "studybot" in helped.stdout
    for command in ("run", "config", "db", "health", "discord", "bank"):
        assert command in helped.stdout
    checked = studybot("bank", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert re.search(r"\d+ topics, \d+ questions", checked.stdout)
    config = studybot("config", "check")
    assert config.returncode == 0, config.stderr
    assert f"STUDYBOT_QUESTIONS={bank}" in config.stdout
    assert studybot("health").returncode == 1  # nothing running yet
    # The installed package (not this checkout) runs the bot: a short console session writes the database.
    played = studybot("console", stdin="/quiz\n/press 1\n/quit\n")
    assert played.returncode == 0, played.stderr
    assert (data / "studybot.sqlite3").is_file()
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import bot, adapters; print(bot.__file__)"],
                           check=False, cwd=data, env=run_env, capture_output=True, text=True, timeout=60)
    assert where.stdout.strip().startswith(str(venv))
    backup = studybot("db", "backup", str(data / "backups") + "/")
    assert backup.returncode == 0, backup.stderr
    shutil.rmtree(venv)  # a few hundred MB; pytest keeps the last runs' tmp_path (kept when a step fails)


# ----------------------------------------------------------------- deploy/
def test_every_deploy_yaml_parses() -> None:
    files = sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml"))
    assert DEPLOY / "docker-compose.yml" in files
    for file in files:
        docs = list(yaml.safe_load_all(file.read_text(encoding="utf-8")))
        assert docs and all(isinstance(d, dict) for d in docs if d is not None), file


def test_compose_has_one_service_a_volume_and_an_env_file() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    # Without a profile, one service (SQLite); the postgresql profile adds the database and a second replica.
    assert [name for name, svc in compose["services"].items() if not svc.get("profiles")] == ["studybot"]
    service = compose["services"]["studybot"]
    assert service["build"]["context"] == ".." and (DEPLOY / service["build"]["context"] / "Dockerfile").is_file()
    assert service["env_file"] == ["studybot.env"]
    assert (DEPLOY / "studybot.env.example").is_file()
    assert service["volumes"] == ["studybot-data:/data"]
    assert "studybot-data" in compose["volumes"]
    assert service["environment"]["STUDYBOT_DATABASE"].startswith("${STUDYBOT_DATABASE:-/data/")
    assert service["healthcheck"]["test"] == ["CMD", "studybot", "health"]
    assert service["stop_grace_period"] == "30s"
    assert "deploy" not in service or service["deploy"].get("replicas", 1) == 1


def test_compose_postgresql_profile_runs_two_replicas_on_one_database() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    profiled = {name for name, svc in compose["services"].items() if svc.get("profiles") == ["postgresql"]}
    assert profiled == {"postgres", "studybot-replica"}
    replica = compose["services"]["studybot-replica"]
    assert replica["environment"]["STUDYBOT_DATABASE"].startswith("${STUDYBOT_DATABASE:?")  # a URL, never a file
    assert "volumes" not in replica and replica["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert compose["services"]["studybot"]["depends_on"]["postgres"]["required"] is False
    assert "pg_isready" in " ".join(compose["services"]["postgres"]["healthcheck"]["test"])


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubernetes_postgresql_overlay_runs_replicas_without_a_volume() -> None:
    proc = subprocess.run(["kubectl", "kustomize", str(DEPLOY / "kubernetes-postgresql")], check=False,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    docs = {d["kind"]: d for d in yaml.safe_load_all(proc.stdout)}
    assert sorted(docs) == ["ConfigMap", "Deployment", "Secret"]  # no volume claim: no database file
    spec = docs["Deployment"]["spec"]
    assert spec["replicas"] >= 2 and spec["strategy"]["type"] == "RollingUpdate"
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    assert {"secretRef": {"name": "studybot-database"}} in container["envFrom"]
    assert all(e["name"] != "STUDYBOT_DATABASE" for e in container.get("env", []))
    assert [v["name"] for v in pod["volumes"]] == ["tmp"]
    assert all(m["name"] != "data" for m in container["volumeMounts"])


def _k8s() -> dict[str, dict[str, object]]:
    docs: dict[str, dict[str, object]] = {}
    kustomization = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text(encoding="utf-8"))
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((DEPLOY / "kubernetes" / name).read_text(encoding="utf-8")):
            docs[doc["kind"]] = doc
    return docs


def test_kubernetes_one_replica_recreate_pvc_secret_and_probes() -> None:
    docs = _k8s()
    assert {"Deployment", "PersistentVolumeClaim", "Secret", "ConfigMap"} <= set(docs)
    deployment: dict[str, object] = docs["Deployment"]
    spec = deployment["spec"]
    assert isinstance(spec, dict)
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    text = (DEPLOY / "kubernetes" / "deployment.yaml").read_text(encoding="utf-8")
    assert "two schedulers" in text  # the comment says why
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["exec"]["command"] == ["studybot", "health"]
    assert {"secretRef": {"name": docs["Secret"]["metadata"]["name"]}} in container["envFrom"]  # type: ignore[index]
    claim = pod["volumes"][0]["persistentVolumeClaim"]["claimName"]
    assert claim == docs["PersistentVolumeClaim"]["metadata"]["name"]  # type: ignore[index]
    assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    secret = docs["Secret"]
    assert set(secret["stringData"]) >= {"DISCORD_TOKEN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"}  # type: ignore[arg-type]
    assert all(v == "" for v in secret["stringData"].values())  # type: ignore[attr-defined]
    assert pod["terminationGracePeriodSeconds"] >= 30


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_renders_the_manifests() -> None:
    proc = subprocess.run(["kubectl", "kustomize", str(DEPLOY / "kubernetes")], check=False, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(proc.stdout)]
    assert sorted(kinds) == ["ConfigMap", "Deployment", "PersistentVolumeClaim", "Secret"]


def _unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections[current] = []
            continue
        key, _, value = line.partition("=")
        sections[current].append((key.strip(), value.strip()))
    return sections


def test_systemd_unit_is_hardened() -> None:
    unit = _unit(DEPLOY / "systemd" / "studybot.service")
    service = dict(unit["Service"])
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
                       "ProtectHome": "yes", "PrivateDevices": "yes", "RestrictSUIDSGID": "yes",
                       "CapabilityBoundingSet": "", "KillSignal": "SIGTERM", "User": "studybot"}.items():
        assert service.get(key) == value, key
    assert service["ReadWritePaths"] == "/var/lib/studybot"
    env = dict(v.split("=", 1) for k, v in unit["Service"] if k == "Environment")
    assert env["STUDYBOT_DATABASE"].startswith("/var/lib/studybot/")
    assert env["STUDYBOT_HEALTH_FILE"].startswith("/run/studybot/")
    assert service["ExecStart"].endswith("studybot run")
    assert int(service["TimeoutStopSec"]) >= 30


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_finds_nothing_but_the_missing_install() -> None:
    units = [str(p) for p in sorted((DEPLOY / "systemd").glob("studybot*.*")) if p.suffix in (".service", ".timer")]
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], check=False, capture_output=True, text=True,
                          timeout=120)
    complaints = [line for line in (proc.stdout + proc.stderr).splitlines()
                  if line.strip() and "is not executable" not in line]  # /opt/studybot is not installed here
    assert complaints == []


def test_docs_name_the_commands_they_use() -> None:
    setup = (DEPLOY / "discord-setup.md").read_text(encoding="utf-8")
    for needed in ("studybot discord invite-url", "View Channel", "Send Messages", "Embed Links", "Attach Files",
                   "Use Application Commands", "STUDYBOT_DISCORD_APP_ID", "2147535872"):
        assert needed in setup
    section = (DEPLOY.parent / "README.md").read_text(encoding="utf-8")
    for needed in ("docker compose", "systemctl", "kubectl apply -k", "studybot db backup", "studybot config check"):
        assert needed in section
