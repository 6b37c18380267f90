"""The parts of a production rehearsal, started for real by the tests (no mocks): a
dedicated `prefect server start` (SQLite or PostgreSQL) with its own PREFECT_HOME, a
throw-away PostgreSQL cluster (initdb/pg_ctl in a temp folder), `roadmap serve` and
`prefect worker start` as subprocesses, and helpers to read the Prefect REST API.

The commands are those of docs/operations.md (OPERATOR_COMMANDS), run as written, with
the test's port and folders substituted."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the .venv of the tests: roadmap, prefect

# Every command docs/operations.md tells an operator to type (tests/test_operations_doc.py
# checks the document against this list); the rehearsal runs each of them.
OPERATOR_COMMANDS = {
    "setup": "make setup",
    "copy_config": "cp -r config /etc/roadmap",
    "server": "prefect server start --host 127.0.0.1 --port 4200",
    "serve": "roadmap serve --config /etc/roadmap",
    "runs": "roadmap runs --config /etc/roadmap",
    "flow_run_ls": "prefect flow-run ls",
    "deployment_ls": "prefect deployment ls",
    "pool": "prefect work-pool create roadmap --type process",
    "deploy": "prefect --no-prompt deploy --prefect-file prefect.yaml --name nightly",
    "worker": "prefect worker start --pool roadmap",
}
# the environment of step 3 of the document: every variable it exports, the rehearsal sets
OPERATOR_ENVIRONMENT = (
    "PREFECT_HOME",
    "PREFECT_API_URL",
    "ROADMAP_CONFIG",
    "ROADMAP_PSEUDONYM_KEY",
    "ROADMAP_SMTP_HOST",
    "ROADMAP_SMTP_PORT",
    "ROADMAP_ALERT_FROM",
    "ROADMAP_ALERT_TO",
)
PORT_IN_DOCS = "4200"
CONFIG_IN_DOCS = "/etc/roadmap"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(name: str, *, port: int, config: Path, extra: list[str] = ()) -> list[str]:
    """An operator command of the document, with this rehearsal's port and config folder."""
    text = OPERATOR_COMMANDS[name].replace(PORT_IN_DOCS, str(port)).replace(CONFIG_IN_DOCS, str(config))
    argv = shlex.split(text) + list(extra)
    if argv[0] in ("prefect", "roadmap"):
        argv[0] = str(BIN / argv[0])
    return argv


def clean_environment(**extra: str) -> dict[str, str]:
    """The machine's environment without any PREFECT_ or ROADMAP_ setting of the test
    session, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ROADMAP_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update({"DO_NOT_TRACK": "1", "GX_ANALYTICS_ENABLED": "False", "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"})
    env.update(extra)
    return env


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = Path(stat).read_text()
            fields = text[text.rindex(")") + 2 :].split()
            children.setdefault(int(fields[1]), []).append(int(stat.split("/")[2]))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def stop_tree(proc: subprocess.Popen, sig: int = signal.SIGTERM, wait: float = 60) -> None:
    """Stop a process and everything it started; SIGKILL what is left after `wait`."""
    if proc.poll() is None:
        tree = descendants(proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            pass
        for pid in [proc.pid, *tree]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


class Process:
    """A long-running command with its output in a log file."""

    def __init__(self, argv: list[str], env: dict, log: Path, cwd: Path | None = None):
        self.argv, self.log = argv, log
        self._out = open(log, "ab")
        self.proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, wait: float = 60) -> int | None:
        stop_tree(self.proc, sig, wait)
        self._out.close()
        return self.proc.returncode

    def kill_hard(self) -> None:
        """SIGKILL the process and everything it started, all at once (a power cut)."""
        tree = [self.proc.pid, *descendants(self.proc.pid)]
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


class PrefectServer:
    """`prefect server start` on 127.0.0.1 with its own PREFECT_HOME (SQLite there, or
    the database URL given)."""

    def __init__(self, root: Path, database: dict[str, str] | None = None):
        self.root = root
        self.home = root / "prefect-home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.database = database or {}  # PREFECT_SERVER_DATABASE_* settings (SQLite in PREFECT_HOME without)
        self.process: Process | None = None

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of every command of the rehearsal (client or server)."""
        return clean_environment(PREFECT_HOME=str(self.home), PREFECT_API_URL=self.url, **extra)

    def start(self, timeout: float = 180) -> PrefectServer:
        extra = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false"}
        extra.update(self.database)
        argv = command("server", port=self.port, config=Path("/nonexistent"))
        self.process = Process(argv, self.env(**extra), self.root / "prefect-server.log")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.proc.poll() is not None:
                raise RuntimeError(f"prefect server exited:\n{self.process.output()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=5).status_code == 200:
                    return self
            time.sleep(1)
        raise RuntimeError(f"prefect server did not answer within {timeout} s:\n{self.process.output()[-3000:]}")

    def stop(self) -> None:
        if self.process:
            self.process.stop(signal.SIGTERM, wait=30)

    # ---------------------------------------------------------------- REST API reads

    def post(self, path: str, body: dict | None = None):
        response = httpx.post(f"{self.url}{path}", json=body or {}, timeout=30)
        response.raise_for_status()
        return response.json()

    def get(self, path: str):
        response = httpx.get(f"{self.url}{path}", timeout=30)
        response.raise_for_status()
        return response.json()

    def deployment(self, name: str = "roadmap-nightly/nightly") -> dict | None:
        response = httpx.get(f"{self.url}/deployments/name/{name}", timeout=30)
        return response.json() if response.status_code == 200 else None

    def flow_runs(self, deployment_id: str | None = None) -> list[dict]:
        body: dict = {"sort": "EXPECTED_START_TIME_ASC", "limit": 200}
        if deployment_id:
            body["deployments"] = {"id": {"any_": [deployment_id]}}
        return self.post("/flow_runs/filter", body)

    def flow_run(self, flow_run_id: str) -> dict:
        return self.get(f"/flow_runs/{flow_run_id}")

    def concurrency_limits(self) -> list[dict]:
        return self.post("/v2/concurrency_limits/filter", {"limit": 200})

    def wait_for_run(self, predicate, timeout: float, what: str, watch: list[Process] = ()) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for run in self.flow_runs():
                if predicate(run):
                    return run
            for p in watch:
                if p.proc.poll() is not None:
                    raise AssertionError(
                        f"{p.argv[:3]} exited ({p.proc.returncode}) while waiting for {what}:\n{p.output()[-4000:]}"
                    )
            time.sleep(2)
        states = [
            (r["name"], r["state_name"], r.get("auto_scheduled"), r["expected_start_time"])
            for r in self.flow_runs()
            if r["state_type"] != "SCHEDULED"
        ]
        logs = "\n".join(p.output()[-4000:] for p in watch)
        raise AssertionError(f"no {what} within {timeout} s; runs: {states}\n{logs}")


def state(run: dict) -> str:
    return run["state_type"]


class PostgresCluster:
    """A throw-away PostgreSQL cluster (Debian's postgresql package): initdb and pg_ctl in a
    temp folder, listening on 127.0.0.1 only, owned by a non-root user when the tests
    run as root (initdb refuses root)."""

    def __init__(self):
        # its own folder under the system temp dir, which every user can reach (pytest's
        # are private to root)
        self.root = Path(tempfile.mkdtemp(prefix="roadmap-pg-"))
        self.data = self.root / "pgdata"
        self.port = free_port()
        self.bindir = self.find_bindir()
        # every character a URL would need escaped: Prefect gets it as its own setting
        self.password = "p@ss:w/rd#?%&1"
        self.user = None
        if os.geteuid() == 0:
            self.user = pwd.getpwnam("postgres")

    @staticmethod
    def find_bindir() -> Path | None:
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
        if candidates:
            return Path(candidates[0]).parent
        initdb = shutil.which("initdb")
        return Path(initdb).resolve().parent if initdb else None

    def _run(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        def demote():
            if self.user:
                os.setgid(self.user.pw_gid)
                os.setuid(self.user.pw_uid)

        env = clean_environment(LC_ALL="C.UTF-8", LANG="C.UTF-8")
        return subprocess.run(argv, preexec_fn=demote, env=env, capture_output=True, text=True, timeout=120, **kwargs)

    def start(self) -> PostgresCluster:
        if self.user:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self.user:
            os.chown(pwfile, self.user.pw_uid, self.user.pw_gid)
        done = self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--no-instructions",
            ]
        )
        pwfile.unlink()
        assert done.returncode == 0, done.stderr + done.stdout
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
        done = self._run(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.root / "postgres.log"),
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        assert done.returncode == 0, (
            done.stderr + done.stdout + (self.root / "postgres.log").read_text(errors="replace")
        )
        done = self._run(
            [str(self.bindir / "createdb"), "-h", str(self.root), "-p", str(self.port), "-U", "postgres", "prefect"]
        )
        assert done.returncode == 0, done.stderr
        return self

    @property
    def prefect_settings(self) -> dict[str, str]:
        """The Prefect server's database, the way docker-compose.yml gives it: one setting
        per part, the password on its own (never inside a URL)."""
        return {
            "PREFECT_SERVER_DATABASE_DRIVER": "postgresql+asyncpg",
            "PREFECT_SERVER_DATABASE_HOST": "127.0.0.1",
            "PREFECT_SERVER_DATABASE_PORT": str(self.port),
            "PREFECT_SERVER_DATABASE_USER": "postgres",
            "PREFECT_SERVER_DATABASE_NAME": "prefect",
            "PREFECT_SERVER_DATABASE_PASSWORD": self.password,
        }

    def stop(self) -> None:
        if self.data.exists():
            self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(self.root, ignore_errors=True)


def lock_holder(warehouse: Path) -> dict:
    path = warehouse.with_name(warehouse.name + ".lock")
    try:
        text = path.read_text().strip()
        return json.loads(text) if text else {}
    except (OSError, ValueError):
        return {}


def run_command(
    argv: list[str], env: dict, cwd: Path | None = None, timeout: float = 180
) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
