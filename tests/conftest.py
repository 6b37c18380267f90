"""Shared test set-up: quiet, offline libraries; a pseudonym key; helpers to write
landing files by hand; one temporary Prefect server for the whole session."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "False")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")

TEST_KEY = "test-pseudonym-key-not-a-secret"


@pytest.fixture(autouse=True)
def _environment(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("ROADMAP_PSEUDONYM_KEY", TEST_KEY)
    # tests write landing files and run at once: no upload is in progress (the settle
    # time has tests of its own, tests/test_containment.py); subprocesses inherit it
    monkeypatch.setenv("ROADMAP_SETTLE_SECONDS", "0")
    # the many small warehouses of a test run share dbt's parsed project (flows/warehouse/transform.py,
    # ROADMAP_DBT_PARSE_CACHE): one cache for all xdist workers, beside their temp folders
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv(
        "ROADMAP_DBT_PARSE_CACHE",
        str((base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "dbt-parse-cache"),
    )
    for name in (
        "ROADMAP_LANDING_DIR",
        "ROADMAP_WAREHOUSE",
        "ROADMAP_SMTP_HOST",
        "ROADMAP_ALERT_TO",
        "ROADMAP_ALERT_FROM",
        "ROADMAP_CONFIG",
        "ROADMAP_PSEUDONYM_KEY_FILE",
        "ROADMAP_SMTP_PASSWORD_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    # what the code under test put in os.environ goes with the test (in-process commands
    # set variables for their own process: `roadmap serve` quiets Prefect's console, which
    # later nightly subprocesses of the same worker would inherit)
    before = dict(os.environ)
    # and so do the signal handlers and the signal mask it changed: they are inherited by
    # the subprocesses later tests start (an ignored or blocked SIGINT stays so across exec)
    main_thread = threading.current_thread() is threading.main_thread()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)} if main_thread else {}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    yield
    if os.environ != before:
        os.environ.clear()
        os.environ.update(before)
    for signum, handler in handlers.items():
        if handler is not None and signal.getsignal(signum) is not handler:
            signal.signal(signum, handler)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)


@pytest.fixture(scope="session")
def prefect_server():
    """One temporary Prefect server (and database) for every test that runs a flow."""
    from prefect.testing.utilities import prefect_test_harness

    # no schedules, automations or late-run sweeps are needed here (the rehearsals have
    # servers of their own): the harness server's loops would only compete for its
    # SQLite file and the CPU
    idle = {
        f"PREFECT_SERVER_SERVICES_{name}_ENABLED": "false"
        for name in (
            "SCHEDULER",
            "LATE_RUNS",
            "FOREMAN",
            "REPOSSESSOR",
            "PAUSE_EXPIRATIONS",
            "CANCELLATION_CLEANUP",
            "TRIGGERS",
        )
    }
    saved = {name: os.environ.get(name) for name in idle}
    os.environ.update(idle)  # the server's process starts with this environment
    try:
        with prefect_test_harness(server_startup_timeout=120):
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name)
                else:
                    os.environ[name] = value
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="session")
def prefect_api_url(prefect_server) -> str:
    """The session's temporary Prefect server, for nightly runs in subprocesses."""
    import prefect.settings

    return prefect.settings.PREFECT_API_URL.value()


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A small realistic landing folder (with defects), and its files in received order
    (one per test module: the crash-safety, fresh-nights and concurrent-readers tests)."""
    from roadmap_demo_data.generate import generate_landing

    source = tmp_path_factory.mktemp("generated") / "landing"
    manifest = generate_landing(source, districts=30, years=2, seed=11, defects=0.05)
    order = sorted(os.listdir(source), key=lambda n: ((source / n).stat().st_mtime, n))
    assert order == list(manifest.files)
    return source, order


@pytest.fixture
def site_factory(tmp_path):
    """`make(database)` -> a production-rehearsal Site (tests/rehearsal_site.py) with its
    own Prefect server; everything it started is stopped after the test."""
    from rehearsal_site import rehearsal_sites

    with rehearsal_sites(tmp_path) as make:
        yield make


@pytest.fixture
def landing(tmp_path):
    from landing_files import Landing

    return Landing(tmp_path / "landing")


class DemoWarehouse:
    """A warehouse built by the real pipeline (generator -> nightly flow with dbt), once
    per test session: `warehouse`, `landing`, `manifest` (what the generator injected)."""

    def __init__(self, warehouse: Path, landing: Path, manifest, summary):
        self.warehouse = warehouse
        self.landing = landing
        self.manifest = manifest
        self.summary = summary


def built_once(tmp_path_factory, name: str, build):
    """`build(root)` into a fresh folder, once for the whole run: under pytest-xdist the
    first worker builds it beside the workers' temporary folders (the others wait on a
    file lock) and every worker gets its own copy of the folder, so a test may change
    its copy. Returns (the worker's folder, what `build` returned)."""
    import fcntl
    import pickle
    import shutil

    own = tmp_path_factory.mktemp(name)
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return own, build(own)
    shared = tmp_path_factory.getbasetemp().parent / f"built-once-{name}"
    with open(f"{shared}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            done = Path(f"{shared}.pickle")
            if not done.exists():
                shutil.rmtree(shared, ignore_errors=True)
                shared.mkdir()
                done.write_bytes(pickle.dumps(build(shared)))
            result = pickle.loads(done.read_bytes())
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    shutil.copytree(shared, own, dirs_exist_ok=True, symlinks=True)
    return own, result


def _with_test_key(call):
    previous = os.environ.get("ROADMAP_PSEUDONYM_KEY")
    os.environ["ROADMAP_PSEUDONYM_KEY"] = TEST_KEY
    try:
        return call()
    finally:
        if previous is None:
            os.environ.pop("ROADMAP_PSEUDONYM_KEY", None)
        else:
            os.environ["ROADMAP_PSEUDONYM_KEY"] = previous


@pytest.fixture(scope="session")
def demo_warehouse(prefect_server, tmp_path_factory):
    from flows.nightly import nightly
    from roadmap_demo_data.generate import generate_landing

    def build(root: Path):
        manifest = generate_landing(root / "landing", districts=150, years=3, seed=42, defects=0.03)
        summary = _with_test_key(
            lambda: nightly(
                landing_dir=str(root / "landing"),
                warehouse=str(root / "warehouse" / "roadmap.duckdb"),
                with_report=False,
            )
        )
        return manifest, summary

    root, (manifest, summary) = built_once(tmp_path_factory, "demo", build)
    return DemoWarehouse(root / "warehouse" / "roadmap.duckdb", root / "landing", manifest, summary)


@pytest.fixture(scope="session")
def demo_warehouse_path(request) -> Path:
    """The warehouse named by ROADMAP_TEST_WAREHOUSE, else the one the real pipeline built."""
    env = os.environ.get("ROADMAP_TEST_WAREHOUSE")
    return Path(env) if env else request.getfixturevalue("demo_warehouse").warehouse


class ReportWarehouse:
    """The warehouse the real pipeline built from tests/report_landing.py."""

    def __init__(self, warehouse: Path, landing: Path, summary):
        self.warehouse = warehouse
        self.landing = landing
        self.summary = summary


def build_warehouse(root: Path, write_landing) -> tuple[Path, Path, object]:
    """Write a landing folder with ``write_landing(Landing)`` and run the nightly flow
    (no report) into ``root/warehouse/roadmap.duckdb``. Needs the Prefect test server."""
    from flows.nightly import nightly
    from landing_files import Landing

    landing = Landing(root / "landing")
    write_landing(landing)
    warehouse = root / "warehouse" / "roadmap.duckdb"
    previous = os.environ.get("ROADMAP_PSEUDONYM_KEY")
    os.environ["ROADMAP_PSEUDONYM_KEY"] = TEST_KEY
    try:
        summary = nightly(landing_dir=str(landing.path), warehouse=str(warehouse), with_report=False)
    finally:
        if previous is None:
            os.environ.pop("ROADMAP_PSEUDONYM_KEY", None)
        else:
            os.environ["ROADMAP_PSEUDONYM_KEY"] = previous
    assert summary.status == "succeeded", summary
    return warehouse, landing.path, summary


@pytest.fixture(scope="session")
def report_warehouse(prefect_server, tmp_path_factory) -> ReportWarehouse:
    """Three school years of 18 hand-written districts (tests/report_landing.py), built by
    the real nightly flow once per session: the warehouse of the review and export tests."""
    from report_landing import write_report_landing

    root, (_, _, summary) = built_once(
        tmp_path_factory, "report-wh", lambda root: build_warehouse(root, write_report_landing)
    )
    return ReportWarehouse(root / "warehouse" / "roadmap.duckdb", root / "landing", summary)


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config, items):
    # before -m and -k select: the fast tier's marks are checked on everything collected
    _reruns_stay_out_of_the_fast_tier(items)
    _every_file_has_a_fast_test(items)
    result = yield
    # after: what the selection kept
    if os.environ.get("ROADMAP_TEST_EXTENDED") != "1":
        more = pytest.mark.skip(
            reason="another example of a property make test covers: ROADMAP_TEST_EXTENDED=1 runs it"
        )
        for item in items:
            if item.get_closest_marker("extended"):
                item.add_marker(more)
    _run_once(config, items)
    _longest_first(items)
    return result


# ------------------------------------------------------------------ the fast tier
# `make test-fast` runs the tests marked `@pytest.mark.fast`: each file's quickest
# meaningful tests, chosen by hand, so an engineer's edit-test loop stays under two
# minutes on two cores; `make test` runs everything. Every test file has at least one
# fast test, unless the whole file is marked slow (`pytestmark = pytest.mark.slow`) or
# it is named below with the reason none of its tests can be quick.
NO_FAST_TEST = {
    "test_exports.py": "every test reads report_warehouse (a nightly run with the session's Prefect server)",
    "test_report_config.py": "every test reads a warehouse the nightly flow built (report_warehouse or its own)",
    "test_dbt_docs.py": "its one test reads demo_warehouse (the generator's state through a nightly run)",
    "test_incremental_builds.py": "every test runs several dbt builds of a warehouse",
    "test_dbt_unit_tests.py": "its tests run dbt's unit tests in dbt invocations of their own (a second dbt parse "
    "beside test_metrics.py's build); not yet timed for the fast tier",
    "test_validation_domains.py": "it validates every file twice (row by row too) to compare; the fast tier "
    "runs the cases of test_ingestion.py it repeats, once",
}


def _marked(obj, name: str) -> bool:
    marks = getattr(obj, "pytestmark", [])
    return any(mark.name == name for mark in (marks if isinstance(marks, list) else [marks]))


def _reruns_stay_out_of_the_fast_tier(items):
    """A test another module imports to run again under a stronger (slower) check runs in
    the fast tier only where it is defined (test_ingestion.py's cases, not their reruns
    in test_validation_domains.py); `_run_once` then has nothing to drop there."""
    for item in items:
        if isinstance(item, pytest.Function) and item.function.__module__ != item.module.__name__:
            item.own_markers[:] = [mark for mark in item.own_markers if mark.name != "fast"]


def _every_file_has_a_fast_test(items):
    """The fast tier cannot rot away from a file: each collected test file defines a test
    marked fast, or is slow as a whole, or says in NO_FAST_TEST why it has none."""
    modules = {item.module for item in items if isinstance(item, pytest.Function)}
    missing, stale = [], []
    for module in modules:
        name = Path(module.__file__).name
        own = [
            obj
            for key, obj in vars(module).items()
            if key.startswith("test") and callable(obj) and getattr(obj, "__module__", None) == module.__name__
        ]
        has_fast = any(_marked(obj, "fast") for obj in own) or any(
            item.module is module and item.get_closest_marker("fast") for item in items
        )
        exempt = _marked(module, "slow") or name in NO_FAST_TEST
        if has_fast and name in NO_FAST_TEST:
            stale.append(name)
        elif not has_fast and not exempt:
            missing.append(name)
    problems = [
        f"tests/{name} has no test marked @pytest.mark.fast: mark its quickest meaningful test "
        "(a few seconds, no session warehouse), or mark the file slow, or name it in NO_FAST_TEST "
        "of tests/conftest.py with the reason"
        for name in sorted(missing)
    ] + [
        f"tests/{name} has a fast test now: remove it from NO_FAST_TEST in tests/conftest.py" for name in sorted(stale)
    ]
    problems += [
        f"NO_FAST_TEST in tests/conftest.py names tests/{name}, which does not exist"
        for name in sorted(NO_FAST_TEST)
        if not (REPO / "tests" / name).is_file()
    ]
    if problems:
        raise pytest.UsageError("the fast tier (make test-fast):\n  " + "\n  ".join(problems))


def _run_once(config, items):
    """A test that another module imports to run again under a stronger check runs only
    there when both modules are collected: test_validation_domains.py runs every case of
    test_ingestion.py again while comparing each validation with a row-by-row one, which
    includes everything the plain run checks. Run test_ingestion.py alone, it runs as is."""
    functions = [item for item in items if isinstance(item, pytest.Function)]
    rerun = {
        (item.function.__module__, item.name) for item in functions if item.function.__module__ != item.module.__name__
    }
    once = [item for item in functions if (item.module.__name__, item.name) in rerun]
    if once:
        config.hook.pytest_deselected(items=once)
        dropped = set(once)
        items[:] = [item for item in items if item not in dropped]


def _longest_first(items):
    """The test files with slow tests first (stable within each group): run over several
    workers (`make test` uses pytest-xdist, one file per worker at a time), the long
    files start early and the short ones fill the gaps, instead of a long file last."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(
        key=lambda item: (
            LONGEST_FILES.index(item.path.name) if item.path.name in LONGEST_FILES else len(LONGEST_FILES),
            item.path not in slow_files,
        )
    )


# the files that take longest (minutes each, measured with --durations), started first
LONGEST_FILES = (
    "test_rehearsal_postgresql.py",
    "test_rehearsal_sqlite.py",
    "test_rehearsal_work_pool.py",
    "test_bench.py",
    "test_incremental_builds.py",
    "test_crash_safety.py",
    "test_validation_domains.py",
    "test_containment.py",
    "test_console.py",
    "test_alert_deadlines.py",
)
