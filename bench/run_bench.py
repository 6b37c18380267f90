"""Benchmark of nights of every shape, each beside a plain-DuckDB floor on the same files.

    .venv/bin/python bench/run_bench.py                        # every shape, full size (long)
    .venv/bin/python bench/run_bench.py --shape tiny --shape statewide
    .venv/bin/python bench/run_bench.py --scale 0.01           # everything small: a smoke run

Shapes (a night is one `roadmap nightly`):
  statewide     Michigan (~900 districts), 5 school years, statewide extracts, first run
  national      13,000 districts x 3 school years with heavy warnings (staffing counts a
                tenth of the real ones in 30 % of the districts each year, year-over-year
                swings): most districts are alerted
  per-district  one file per district and family (districts' own uploads,
                <family>_<SY>_<code>.csv): ~900 x 5 files and the directory, first run
  nothing-new   a second night on the statewide landing folder and warehouse
  corrected     then a third with one 1-row corrected staffing file of one district
  tiny          a handful of small files into an empty warehouse

The bench starts its own Prefect server (`prefect server start` on 127.0.0.1, its own
PREFECT_HOME) and an SMTP sink (aiosmtpd on 127.0.0.1) that receives the alert e-mails,
and stops both at the end, also on error. Each night runs `roadmap nightly` (the
installed console script, as a user runs it, annual review included) in its own process:
its wall time end to end, its peak memory (the process's maximum resident set), and the
seconds of each stage from the run's Prefect task runs ("other" is the rest: start-up,
imports, preparing the work copy, checks across files, composing the alerts). The floor
(bench/floor.py + bench/floor.sql) then reads the same landing files in its own process.
Landing data is generated before each night and not timed.

It prints one table and the targets of the README beside the figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

SHAPES = ("statewide", "national", "per-district", "nothing-new", "corrected", "tiny")
NEEDS_STATEWIDE = ("nothing-new", "corrected")
MICHIGAN = 896  # districts of the generator's default state
NATIONAL = 13_000
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


# ----------------------------------------------------------------------------- helpers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _script(name: str) -> str:
    """A console script of this environment (.venv/bin/<name>), else from PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"bench: `{name}` is not installed: run `make setup` first")
    return found


@dataclass
class Measured:
    seconds: float
    peak_mb: float
    returncode: int


_terminated = False  # set by SIGTERM: the bench stops at its next checkpoint whatever caught the exit


def _on_sigterm(signum, frame) -> None:
    """`kill` ends the bench like Ctrl-C. The exit is raised here and again at every
    checkpoint: raised while Python runs a finaliser (`__del__`, a weakref callback) it is
    only printed, and the bench would otherwise carry on and exit 0."""
    global _terminated
    _terminated = True
    raise SystemExit(143)


def _checkpoint() -> None:
    if _terminated:
        raise SystemExit(143)


def run_measured(cmd: list[str], *, env: dict, cwd: Path, stdout: Path, timeout: float) -> Measured:
    """Run `cmd` to its end: wall seconds, peak resident memory of the process, exit code.
    Output goes to `stdout` (stderr too).

    The peak is the process's own high-water mark (VmHWM in /proc, read as it runs):
    wait4's ru_maxrss also counts the image the child had before exec, a copy of this
    process, so every night would seem to need at least what the bench itself holds."""
    peak_kb = 0
    with stdout.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            while True:
                peak_kb = max(peak_kb, _high_water_kb(proc.pid))
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                _checkpoint()
                if time.perf_counter() - started > timeout:
                    os.killpg(proc.pid, signal.SIGKILL)
                    _, status, usage = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.01)
        except BaseException:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
                os.wait4(proc.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            raise
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Measured(seconds, (peak_kb or usage.ru_maxrss) / 1024, proc.returncode)


def _high_water_kb(pid: int) -> int:
    """The process's peak resident set so far (kB), 0 where /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ----------------------------------------------------------------- Prefect and SMTP


def _stop_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM when the bench dies, even by SIGKILL, so a server the
    bench started never outlives it."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class PrefectServer:
    """`prefect server start` on 127.0.0.1 with its own PREFECT_HOME; stopped on exit."""

    def __init__(self, home: Path, log: Path):
        self.home = home
        self.log = log
        self.port = _free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.proc: subprocess.Popen | None = None
        self.start_seconds = 0.0

    def env(self) -> dict[str, str]:
        return {
            "PREFECT_HOME": str(self.home),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "false",
        }

    def __enter__(self) -> PrefectServer:
        self.home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env()}
        started = time.perf_counter()
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [_script("prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_stop_with_parent if sys.platform.startswith("linux") else None,
            )
        try:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"prefect server exited with {self.proc.returncode}:\n{_tail(self.log)}")
                try:
                    with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as r:
                        if r.status == 200:
                            break
                except (urllib.error.URLError, OSError):
                    pass
                if time.perf_counter() - started > 180:
                    raise RuntimeError(f"prefect server did not answer within 180 s:\n{_tail(self.log)}")
                _checkpoint()
                time.sleep(0.5)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.perf_counter() - started
        return self

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        except ProcessLookupError:
            pass

    def __exit__(self, *exc) -> None:
        self.stop()

    def _post(self, path: str, body: dict) -> list[dict]:
        request = urllib.request.Request(
            f"{self.api_url}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as r:
            return json.loads(r.read())

    def latest_flow_run(self) -> dict | None:
        runs = self._post("/flow_runs/filter", {"sort": "START_TIME_DESC", "limit": 1})
        return runs[0] if runs else None

    def stage_seconds(self, flow_run_id: str, settle: float = 120.0) -> dict[str, float]:
        """Seconds per task (stage) of one flow run, summed over its task runs. Task-run
        states reach the server as events: wait until every one is final and none is new."""
        deadline = time.perf_counter() + settle
        previous = -1
        while True:
            runs: list[dict] = []
            while True:
                page = self._post(
                    "/task_runs/filter",
                    {
                        "flow_runs": {"id": {"any_": [flow_run_id]}},
                        "sort": "EXPECTED_START_TIME_ASC",
                        "limit": 200,
                        "offset": len(runs),
                    },
                )
                runs += page
                if len(page) < 200:
                    break
            done = all((r.get("state_type") or "") in TERMINAL for r in runs)
            if (done and len(runs) == previous) or time.perf_counter() > deadline:
                break
            previous = len(runs) if done else -1
            _checkpoint()
            time.sleep(1.0)
        seconds: dict[str, float] = {}
        for r in runs:
            stage = (r.get("task_key") or r.get("name") or "task").rsplit("-", 1)[0]
            seconds[stage] = seconds.get(stage, 0.0) + float(r.get("total_run_time") or 0.0)
        return seconds


class SmtpSink:
    """An SMTP server on 127.0.0.1 that accepts every message and counts it."""

    def __init__(self):
        self.port = _free_port()
        self.messages = 0
        self.recipients = 0
        self._lock = threading.Lock()
        self._controller = None

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        with self._lock:
            self.messages += 1
            self.recipients += len(envelope.rcpt_tos)
        return "250 Message accepted for delivery"

    def __enter__(self) -> SmtpSink:
        from aiosmtpd.controller import Controller

        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._controller is not None:
            self._controller.stop()

    def count(self) -> int:
        with self._lock:
            return self.messages


# -------------------------------------------------------------------------- shapes


@dataclass
class Night:
    shape: str
    title: str
    landing: Path
    warehouse: Path
    rows: int = 0  # data rows in the files new this night
    files: int = 0  # files new this night
    landing_files: int = 0
    seconds: float | None = None
    peak_mb: float | None = None
    stages: dict[str, float] = field(default_factory=dict)
    alerts: int = 0
    floor: dict | None = None
    failed: str | None = None
    note: str = ""


def _scaled(n: int, scale: float) -> int:
    return max(3, round(n * scale))


def _michigan(scale: float) -> int | None:
    return None if scale == 1 else _scaled(MICHIGAN, scale)


def _count(landing: Path) -> int:
    return sum(1 for p in landing.iterdir() if p.is_file() and not p.name.startswith("."))


def prepare(shape: str, work: Path, args, statewide: Night | None) -> Night:
    """Write the landing files of a night (not timed)."""
    from roadmap_demo_data.generate import generate_landing

    if shape in NEEDS_STATEWIDE:
        assert statewide is not None
        night = Night(shape, "", statewide.landing, statewide.warehouse)
        if shape == "nothing-new":
            night.title = "nothing new (second night on the statewide warehouse)"
        else:
            night.title = "one corrected file (1 row, on the statewide warehouse)"
            name, rows = _corrected_file(statewide.landing)
            night.rows, night.files, night.note = rows, 1, name
        night.landing_files = _count(night.landing)
        return night

    landing = work / shape / "landing"
    warehouse = work / shape / "warehouse" / "roadmap.duckdb"
    if shape == "statewide":
        m = generate_landing(landing, districts=_michigan(args.scale), years=5, seed=args.seed, defects=args.defects)
        title = f"statewide, {m.districts} districts x 5 years"
    elif shape == "national":
        m = generate_landing(
            landing,
            districts=_scaled(NATIONAL, args.scale),
            years=3,
            seed=args.seed,
            heavy_warnings=args.heavy_warnings,
        )
        title = f"national, {m.districts} districts x 3 years, heavy warnings"
    elif shape == "per-district":
        m = generate_landing(
            landing,
            districts=_michigan(args.scale),
            years=1,
            seed=args.seed,
            per_district_files=True,
            resubmissions=False,
        )
        title = f"one file per district and family, {m.districts} districts x 1 year"
    elif shape == "tiny":
        m = generate_landing(landing, districts=20, years=1, seed=args.seed)
        title = "tiny first run, 20 districts x 1 year"
    else:  # pragma: no cover
        raise ValueError(shape)
    night = Night(shape, title, landing, warehouse, rows=sum(m.rows.values()), files=len(m.files))
    night.landing_files = night.files
    if m.defects:
        night.note = f"{len(m.errors())} blocking errors, {len(m.warnings())} warnings generated"
    return night


def _corrected_file(landing: Path) -> tuple[str, int]:
    """One district's staffing of the latest year sent again, one row, one count changed."""
    import csv

    latest = sorted(landing.glob("staffing_????-??.csv"))[-1]
    with latest.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader)]
        row = dict(zip(header, next(reader), strict=False))
    row["teacher_count"] = str(int(row["teacher_count"]) + 1)
    school_year = latest.stem.split("_", 1)[1]
    path = landing / f"staffing_{school_year}_{row['district_code']}.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerow([row[h] for h in header])
    newest = max(p.stat().st_mtime for p in landing.iterdir() if p.is_file())
    os.utime(path, (newest + 60, newest + 60))
    return path.name, 1


def run_night(night: Night, server: PrefectServer, sink: SmtpSink, env: dict, args) -> None:
    cwd = night.warehouse.parent.parent  # the annual review goes to <cwd>/data/reports
    cwd.mkdir(parents=True, exist_ok=True)
    log = cwd / f"nightly-{night.shape}.log"
    before = sink.count()
    measured = run_measured(
        [_script("roadmap"), "nightly", "--landing", str(night.landing), "--warehouse", str(night.warehouse)],
        env=env,
        cwd=cwd,
        stdout=log,
        timeout=args.timeout,
    )
    night.seconds, night.peak_mb = measured.seconds, measured.peak_mb
    if measured.returncode != 0:
        night.failed = f"roadmap nightly exited with {measured.returncode} (see {log})"
        print(f"  {night.shape}: {night.failed}\n{_tail(log, 15)}", file=sys.stderr)
    run = server.latest_flow_run()
    if run is not None:
        night.stages = server.stage_seconds(run["id"])
    night.alerts = sink.count() - before


def run_floor(night: Night, work: Path, env: dict, args) -> None:
    out = work / night.shape / f"floor-{night.shape}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    measured = run_measured(
        [sys.executable, str(BENCH / "floor.py"), str(night.landing), str(work / night.shape / "floor.duckdb")],
        env=env,
        cwd=work,
        stdout=out,
        timeout=args.timeout,
    )
    if measured.returncode != 0:
        night.floor = {"failed": f"exit {measured.returncode}: {_tail(out, 5)}"}
        print(f"  {night.shape}: the floor failed:\n{_tail(out, 15)}", file=sys.stderr)
        return
    figures = json.loads(out.read_text().strip().splitlines()[-1])
    night.floor = {**figures, "seconds": measured.seconds, "peak_mb": measured.peak_mb}


# -------------------------------------------------------------------------- report


STAGE_ORDER = ("discover", "validate", "load", "transform", "publish", "report", "alert")


def _stages(night: Night) -> str:
    if night.seconds is None:
        return ""
    parts = [(s, night.stages[s]) for s in STAGE_ORDER if s in night.stages]
    parts += [(s, v) for s, v in sorted(night.stages.items()) if s not in STAGE_ORDER]
    other = night.seconds - sum(v for _, v in parts)
    parts.append(("other", other))
    return ", ".join(f"{s} {v:.1f}" for s, v in parts)


def table(nights: list[Night]) -> str:
    head = (
        "shape",
        "rows",
        "files",
        "pipeline s",
        "stages (s)",
        "floor s",
        "x floor",
        "pipeline peak MB",
        "floor peak MB",
        "e-mails",
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n in nights:
        floor = n.floor or {}
        fs = floor.get("seconds")
        ratio = f"{n.seconds / fs:.1f}" if n.seconds and fs and not n.failed else ""
        cells = (
            n.title,
            f"{n.rows:,}",
            f"{n.files:,}" + (f" of {n.landing_files:,}" if n.landing_files != n.files else ""),
            ("failed" if n.failed else f"{n.seconds:.1f}") if n.seconds is not None else "",
            _stages(n),
            f"{fs:.1f}" if fs else ("failed" if floor.get("failed") else ""),
            ratio,
            f"{n.peak_mb:,.0f}" if n.peak_mb else "",
            f"{floor['peak_mb']:,.0f}" if floor.get("peak_mb") else "",
            f"{n.alerts:,}",
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(nights: list[Night], scale: float) -> list[str]:
    by = {n.shape: n for n in nights if n.seconds is not None and not n.failed}
    out = []

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    for shape in ("national", "per-district"):
        n = by.get(shape)
        if n and n.floor and n.floor.get("seconds"):
            ratio = n.seconds / n.floor["seconds"]
            out.append(
                f"{shape}: within 3x the floor and under 2 GB peak: {ratio:.1f}x, {n.peak_mb:,.0f} MB "
                f"-> {verdict(ratio <= 3 and n.peak_mb < 2048)}"
            )
    if "statewide" in by:
        s = by["statewide"].seconds
        out.append(f"statewide: under 20 s end to end: {s:.1f} s -> {verdict(s < 20)}")
        for shape, share in (("nothing-new", 0.10), ("corrected", 0.25)):
            if shape in by:
                r = by[shape].seconds / s
                out.append(f"{shape}: under {share:.0%} of the statewide build: {r:.0%} -> {verdict(r < share)}")
    if "tiny" in by:
        s = by["tiny"].seconds
        out.append(f"tiny: under 10 s end to end: {s:.1f} s -> {verdict(s < 10)}")
    if scale != 1:
        out.append(f"(--scale {scale:g}: the targets are for full-size nights; these verdicts are indicative only)")
    return out


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--shape",
        action="append",
        choices=SHAPES,
        help="run this shape (repeat for more; default: all). nothing-new and corrected run "
        "after a statewide night, which is then run (and shown) too",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply every district count by this (e.g. 0.01 for a quick smoke run; default 1)",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--defects", type=float, default=0.0, help="defect rate of the statewide data (default 0)")
    parser.add_argument(
        "--heavy-warnings",
        type=float,
        default=0.3,
        help="share of districts each year whose staffing file has a tenth of the real staff, in the "
        "national shape (default 0.3: about two thirds of the districts are alerted)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep the data, warehouses and logs here (default: a temporary folder, removed at the end)",
    )
    parser.add_argument("--timeout", type=float, default=6 * 3600, help="seconds one night or floor may take")
    args = parser.parse_args(argv)
    if args.scale <= 0:
        parser.error("--scale must be positive")

    wanted = list(dict.fromkeys(args.shape or SHAPES))
    if any(s in wanted for s in NEEDS_STATEWIDE) and "statewide" not in wanted:
        wanted.insert(0, "statewide")
    wanted.sort(key=SHAPES.index)

    # `kill` (SIGTERM) ends the bench like Ctrl-C: the Prefect server and the SMTP sink are stopped
    # (a parent that had SIGTERM blocked passes the block on: unblocked, or `kill` would wait
    # until the bench ends by itself)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, _on_sigterm)
    keep = args.workdir is not None
    work = (args.workdir or Path(tempfile.mkdtemp(prefix="roadmap-bench-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    nights: list[Night] = []
    try:
        with PrefectServer(work / "prefect-home", work / "prefect-server.log") as server, SmtpSink() as sink:
            print(
                f"Prefect server {server.api_url} answered in {server.start_seconds:.1f} s; "
                f"SMTP sink on 127.0.0.1:{sink.port}; data in {work}",
                flush=True,
            )
            env = {k: v for k, v in os.environ.items() if k not in ("ROADMAP_LANDING_DIR", "ROADMAP_WAREHOUSE")}
            env.update(server.env())
            env.update(
                {
                    "ROADMAP_PSEUDONYM_KEY": os.environ.get("ROADMAP_PSEUDONYM_KEY") or "bench-key-not-a-secret",
                    "ROADMAP_SMTP_HOST": "127.0.0.1",
                    "ROADMAP_SMTP_PORT": str(sink.port),
                    "ROADMAP_SMTP_STARTTLS": "false",
                    "ROADMAP_ALERT_TO": "data-office@state.example",
                    "ROADMAP_ALERT_FROM": "roadmap-warehouse@state.example",
                    "ROADMAP_SETTLE_SECONDS": "0",  # the bench writes each night's files just before it
                    "GX_ANALYTICS_ENABLED": "False",
                    "DO_NOT_TRACK": "1",
                    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
                }
            )
            for k in ("ROADMAP_SMTP_USER", "ROADMAP_SMTP_PASSWORD"):
                env.pop(k, None)
            statewide: Night | None = None
            for shape in wanted:
                _checkpoint()
                started = time.perf_counter()
                night = prepare(shape, work, args, statewide)
                print(
                    f"{night.title}: {night.files:,} new file(s), {night.rows:,} rows "
                    f"(landing data written in {time.perf_counter() - started:.1f} s)",
                    flush=True,
                )
                run_night(night, server, sink, env, args)
                run_floor(night, work, env, args)
                print(
                    f"  pipeline {night.seconds:.1f} s, floor {(night.floor or {}).get('seconds', float('nan')):.1f} s",
                    flush=True,
                )
                nights.append(night)
                if shape == "statewide":
                    statewide = night
                    if night.failed:
                        break
    finally:
        if nights:
            print()
            print(
                f"roadmap-warehouse bench, {dt.datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} cores"
                + (f", --scale {args.scale:g}" if args.scale != 1 else "")
            )
            print()
            print(table(nights))
            print()
            for line in targets(nights, args.scale):
                print(line)
            notes = [f"{n.shape}: {n.note}" for n in nights if n.note]
            if notes:
                print("\n".join(["", *notes]))
        if keep:
            print(f"\ndata, warehouses and logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 143 if _terminated else 0


if __name__ == "__main__":
    raise SystemExit(main())
