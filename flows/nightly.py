"""The nightly run, as a Prefect flow that reads like the runbook:

    discover -> validate -> load -> transform -> publish -> report -> alert

Everything up to publish happens in a work copy of the warehouse, under the run lock;
the published warehouse changes only by the atomic swap at the end (flows/warehouse/publish.py).
If anything fails before the swap, the published warehouse keeps its data and the run
is recorded as failed in its `audit.runs`.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE as NO_CACHE
from prefect.exceptions import MissingContextError
from prefect.states import Completed

from . import alerts, stopping
from .ingest import cross_checks
from .ingest import load as load_stage
from .ingest import validate as validate_stage
from .ingest.batches import (
    BatchItem,
    CheckedBatch,
    LoadedFile,
    RunContext,
    dependency_rechecks,
    note_building_changes,
    snapshot_buildings,
    waiting_files,
)
from .ingest.culprits import build_holding_back_culprits
from .ingest.discover import Discovery, archive, scan_landing
from .ingest.families import PROCESSING_ORDER
from .ingest.pseudonymize import MISSING_KEY_MESSAGE
from .ingest.raw_schema import raw_ddl
from .prefect_runs import mark_crashed
from .runlog import Progress, RunLog
from .settings import ConfigError, Settings, load_settings, pseudonym_key
from .warehouse import audit
from .warehouse.db import run, scalar
from .warehouse.publish import (
    STORAGE_VERSION,
    RunInProgress,
    discard_work_copy,
    prepare_work_copy,
    publish_work_copy,
    warehouse_lock,
)


@dataclass
class CurrentRun:
    """The run in progress in this process and the stage it is in, so that the command
    line can say truthfully what a failure or a signal left behind."""

    run_id: str | None = None
    warehouse: Path | None = None
    outbox: Path | None = None
    log_file: str | None = None
    stage: str | None = None
    published: bool = False  # this run's data is in the published warehouse

    def data_published(self) -> bool:
        """Whether this run published its data: known once `publish` returned, else asked
        of the published warehouse (the run may have been stopped right after the swap)."""
        if self.published or not self.run_id or not self.warehouse:
            return self.published
        try:
            con = duckdb.connect(str(self.warehouse), read_only=True)
        except Exception:  # no warehouse yet, or busy: nothing of this run is known to be there
            return False
        try:
            return bool(
                scalar(con, "select count(*) from audit.runs where run_id = ? and status = 'succeeded'", [self.run_id])
            )
        except Exception:
            return False
        finally:
            con.close()


current_run = CurrentRun()


class Stopwatch:
    """Runs the stages and adds up the seconds each took (bench/ and the run summary)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def call(self, stage, *args):
        """Run a stage as a Prefect task inside the flow, or as a plain function outside
        it (tests and tools that drive the stages directly)."""
        from prefect.context import FlowRunContext

        name = getattr(stage, "name", getattr(stage, "__name__", "stage"))
        stopping.raise_if_requested()  # a stop swallowed on the way ends the run before the next stage
        current_run.stage = name
        started = time.perf_counter()
        try:
            result = stage(*args) if FlowRunContext.get() else stage.fn(*args)
            stopping.raise_if_requested()
            return result
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started


def _log() -> logging.Logger | logging.LoggerAdapter:
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("roadmap.nightly")


@dataclass
class RunSummary:
    run_id: str
    status: str
    warehouse: str
    files_seen: int = 0
    files_new: int = 0
    files_skipped: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    errors: int = 0
    warnings: int = 0
    message: str = ""
    files: list[dict] = field(default_factory=list)
    report: str | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    alerts: str = ""  # this run's alert e-mails: "N sent, M pending" (flows/alerts)
    log_file: str = ""  # every detail of the run (flows/runlog.py)

    def text(self) -> str:
        lines = [
            f"run {self.run_id}: {self.status}",
            f"  files: {self.files_seen} seen, {self.files_new} new, {self.files_skipped} already received",
            f"  rows: {self.rows_loaded} loaded, {self.rows_quarantined} held back in quarantine",
            f"  issues: {self.errors} blocking errors, {self.warnings} warnings",
            f"  warehouse: {self.warehouse}",
        ]
        if self.report:
            lines.append(f"  report: {self.report}")
        if self.alerts:
            lines.append(f"  alerts: {self.alerts}")
        if self.message:
            lines.append(f"  note: {self.message}")
        if self.log_file:
            lines.append(f"  log: {self.log_file}")
        return "\n".join(lines)


def new_run_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def open_work_copy(path: Path, memory_limit: str = "1GB") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path), config={"memory_limit": memory_limit})
    run(con, "set preserve_insertion_order = true")
    run(con, f"set temp_directory = '{path.parent / '.duckdb_tmp'}'")
    return con


# ----------------------------------------------------------------------------- stages


@task(name="discover", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def discover(con: duckdb.DuckDBPyConnection, settings: Settings) -> Discovery:
    """New landing files, in received order, copied to the archive."""
    known = {r[0] for r in con.execute("select file_id from audit.files").fetchall()}
    next_seq = scalar(con, "select coalesce(max(received_seq), 0) + 1 from audit.files")
    found = scan_landing(settings.landing_dir, known, next_seq, settle_seconds=settings.settle_seconds)
    archive(found.new_files, settings.archive_dir)
    _log().info(
        "discovered %d new file(s), %d already received, %d entries that are not files, %d still being written",
        len(found.new_files),
        len(found.skipped),
        len(found.not_files),
        len(found.unsettled),
    )
    return found


@task(name="validate", cache_policy=NO_CACHE, task_run_name="validate {family}")
def validate(con: duckdb.DuckDBPyConnection, family: str, items: list[BatchItem], ctx: RunContext) -> CheckedBatch:
    """Read the family's files, pseudonymise educator IDs, run its Great Expectations suite
    (flows/ingest/validate.py)."""
    checked = validate_stage.validate_batch(con, family, items, ctx)
    _log().info(
        "%s: %d file(s), %d rows read, %d issue rows, %d file(s) held back whole, %d waiting",
        family,
        len(items),
        sum(checked.rows_read.values()),
        len(checked.row_issues) + len(checked.file_issues),
        len(checked.blocked_files),
        len(checked.waiting),
    )
    return checked


@task(name="load", cache_policy=NO_CACHE, task_run_name="load {checked.family.name}")
def load(con: duckdb.DuckDBPyConnection, checked: CheckedBatch, ctx: RunContext) -> list[LoadedFile]:
    """Accepted rows to raw, the rest to quarantine, everything to audit
    (flows/ingest/load.py)."""
    loaded = load_stage.load_batch(con, checked, ctx)
    _log().info(
        "%s: %d rows loaded, %d quarantined",
        checked.family.name,
        sum(f.rows_loaded for f in loaded),
        sum(f.rows_quarantined for f in loaded),
    )
    return loaded


@task(name="transform", cache_policy=NO_CACHE)
def transform(work: Path, memory_limit: str, incremental: bool = True) -> None:
    """dbt build: staging, intermediate and marts models with their data tests; with
    `incremental`, only those downstream of the sources that changed since the last
    build, none when nothing did (flows/warehouse/transform.py)."""
    from .warehouse.transform import run_dbt_build

    run_dbt_build(work, memory_limit=memory_limit, incremental=incremental)


@task(name="publish", cache_policy=NO_CACHE)
def publish(warehouse: Path) -> None:
    publish_work_copy(warehouse)
    if current_run.warehouse == Path(warehouse):
        current_run.published = True
    _log().info("published %s", warehouse)


@task(name="report", cache_policy=NO_CACHE)
def report(settings: Settings) -> str | None:
    """The annual review for the latest school year on record."""
    from .report import build_report

    result = build_report(settings.warehouse, settings.reports_dir, None, config_dir=settings.config_file)
    return str(result.html_path)


@task(name="alert", cache_policy=NO_CACHE)
def alert(settings: Settings, run_id: str) -> str:
    """Send the queued data-quality e-mails of published runs; each moves to outbox/sent/
    once the mail server took it. Retries with backoff when the server cannot be reached
    (alerts.send_retries), within the stage's deadline (alerts.stage_deadline_seconds);
    what is not sent stays pending for the next run."""
    delivery = alerts.send_pending(settings)
    status = alerts.run_alert_status(settings.outbox_dir, run_id)
    if delivery.deadline and delivery.pending:
        status += (
            f" (stopped by a deadline, {delivery.pending} pending e-mail(s) go out with the next run: "
            f"{delivery.deadline})"
        )
    return status


# ------------------------------------------------------------------------------- flow


def prepare_schemas(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    from .warehouse.reference import load_reference

    for statement in raw_ddl():
        run(con, statement)
    audit.ensure_audit_schema(con)
    load_reference(con, settings)  # the files parsed when the run started


def ingest(
    con: duckdb.DuckDBPyConnection,
    discovery: Discovery,
    ctx: RunContext,
    settings: Settings,
    clock: Stopwatch | None = None,
) -> tuple[list[LoadedFile], str]:
    """validate -> load, one batch per family in processing order: the family's new
    files, the files of it that waited and can be judged now, and its submissions to
    check again because what they depend on changed."""
    clock = clock or Stopwatch()
    audit.record_issues(con, ctx.run_id, discovery.not_files)
    results = load_stage.record_unrecognised(con, [f for f in discovery.new_files if f.landing_name is None], ctx)
    new = [f for f in discovery.new_files if f.landing_name is not None]
    progress = Progress()
    try:
        for number, family in enumerate(PROCESSING_ORDER, 1):
            if family == "enrollment":
                snapshot_buildings(con)
            items = [BatchItem(f) for f in new if f.family == family]
            items += waiting_files(con, family, ctx) + dependency_rechecks(con, family)
            if items:
                progress.show(f"[validate and load {number}/{len(PROCESSING_ORDER)}] {family}: {len(items)} file(s)")
                results += _contained(con, family, items, ctx, clock)
            if family == "enrollment":
                note_building_changes(con)
    finally:
        progress.done()
    held_directories = {f.file_id: f for f in load_stage.guard_directory(con, ctx)}
    results = [held_directories.get(f.file_id, f) for f in results]
    cross_checks.check_after_load(con, ctx.run_id, settings.yoy_swing_threshold)
    notes = []
    waiting_pl = [f.file_name for f in results if f.family == "pl_participation" and f.status == "waiting"]
    if waiting_pl and ctx.pseudonym_key is None:
        _log().error("%d PL file(s) were not loaded: %s", len(waiting_pl), MISSING_KEY_MESSAGE)
        notes.append(
            f"{len(waiting_pl)} professional-learning file(s) not loaded ({', '.join(waiting_pl[:10])}): "
            f"{MISSING_KEY_MESSAGE}"
        )
    if discovery.unsettled:
        notes.append(
            f"{len(discovery.unsettled)} file(s) still being written, left for the next run: "
            + ", ".join(discovery.unsettled[:10])
        )
    return results, "; ".join(notes)


# The same error on this many files of a family, one by one, is the pipeline's, not the
# files': the family's other files wait with it, untried.
SYSTEMIC_FAULT_FILES = 3


def _contained(
    con: duckdb.DuckDBPyConnection, family: str, items: list[BatchItem], ctx: RunContext, clock: Stopwatch
) -> list[LoadedFile]:
    """validate and load one batch in a transaction. If anything goes wrong, nothing of
    it stays: the batch is split in halves and tried again until the files that cause the
    error stand alone; those wait (file_could_not_be_processed) and the others load."""
    faults: dict[str, int] = {}

    def attempt(part: list[BatchItem]) -> list[LoadedFile]:
        run(con, "begin transaction")
        try:
            checked = clock.call(validate, con, family, part, ctx)
            loaded = clock.call(load, con, checked, ctx)
            run(con, "commit")
            return loaded
        except Exception as error:
            run(con, "rollback")
            if len(part) == 1 or max(faults.values(), default=0) >= SYSTEMIC_FAULT_FILES:
                key = f"{type(error).__name__}: {error}"
                faults[key] = faults.get(key, 0) + 1
                _log().error(
                    "could not process %s (%s): held, to be tried again by the next run\n%s",
                    ", ".join(it.file.name for it in part[:5]) + (" ..." if len(part) > 5 else ""),
                    key,
                    traceback.format_exc(),
                )
                return load_stage.record_fault(con, part, ctx, error)
            half = len(part) // 2
            return attempt(part[:half]) + attempt(part[half:])

    return attempt(items)


@flow(
    name="roadmap-nightly",
    description="Nightly load of district technology-readiness files into the MI Roadmap warehouse",
)
def nightly(
    landing_dir: str | None = None,
    warehouse: str | None = None,
    config_file: str | None = None,
    with_report: bool = True,
) -> RunSummary:
    settings = load_settings(config_file, landing_dir=landing_dir, warehouse=warehouse)
    if not settings.landing_dir.is_dir():
        raise ConfigError(
            f"landing folder {settings.landing_dir} does not exist: create it, or pass --landing DIR "
            "/ set ROADMAP_LANDING_DIR"
        )
    run_id = new_run_id()
    with RunLog(settings.warehouse_dir, run_id) as run_log:
        current_run.__init__(
            run_id=run_id, warehouse=settings.warehouse, outbox=settings.outbox_dir, log_file=str(run_log.path)
        )
        with stopping.remembered():  # a stop that Prefect's handler raised where it was swallowed is still seen
            return _nightly(settings, run_id, with_report, str(run_log.path))


def _nightly(settings: Settings, run_id: str, with_report: bool, log_file: str):
    log = _log()
    try:
        from prefect.runtime import flow_run

        flow_run_id = str(flow_run.id) if flow_run.id else None
    except Exception:  # pragma: no cover - runtime context is optional
        flow_run_id = None
    summary = RunSummary(run_id=run_id, status="running", warehouse=str(settings.warehouse), log_file=log_file)
    if not settings.landing_dir.is_dir():
        raise ConfigError(
            f"landing folder {settings.landing_dir} does not exist: create it, or pass --landing DIR "
            "/ set ROADMAP_LANDING_DIR"
        )
    if _under_deployment():  # unattended: somebody must hear of the night's problems
        alerts.require_alert_settings(settings, "the nightly deployment")
    try:
        summary = _run_under_lock(settings, run_id, flow_run_id, summary)
    except RunInProgress as exc:
        if not _under_deployment():
            raise  # `roadmap nightly`: exit code 75
        # a scheduled run while another one works: skipped, not failed (nothing is wrong;
        # the run in progress does the work)
        log.warning("%s", exc)
        return Completed(name="Skipped", message=f"skipped, another run holds the warehouse: {exc}")
    clock = Stopwatch()
    report_error: Exception | None = None
    try:
        if with_report and summary.files_new:
            summary.report = clock.call(report, settings)
    except Exception as exc:  # the data is published: its alerts go out even if the report failed
        report_error = exc
    summary.alerts = clock.call(alert, settings, run_id)
    summary.stage_seconds.update(clock.seconds)
    if report_error is not None:
        current_run.stage = "report"
        raise report_error
    log.info(summary.text())
    _artifact(summary)
    return summary


def _run_under_lock(settings: Settings, run_id: str, flow_run_id: str | None, summary: RunSummary) -> RunSummary:
    """Take the warehouse lock (RunInProgress when another run holds it), then build and
    publish; a failure is recorded in the published warehouse and alerted."""
    log = _log()
    with warehouse_lock(settings.warehouse, run_id, settings.lock_wait_seconds, flow_run_id) as previous_holder:
        if previous_holder.get("flow_run_id"):  # that run died holding the lock: Prefect still shows it running
            mark_crashed(
                [str(previous_holder["flow_run_id"])],
                f"run {previous_holder.get('run_id')} ended without finishing (killed, or its process stopped) "
                f"and was last alive at {previous_holder.get('ended_at') or previous_holder.get('heartbeat_at')}; "
                f"run {run_id} found its lock and redoes its work",
            )
        ctx = RunContext(
            run_id=run_id,
            pseudonym_key=pseudonym_key(),
            batch_rows=settings.validation_batch_rows,
            work_dir=settings.warehouse_dir / ".work",
            confirmed_directory_files=settings.confirmed_directory_files,
            earliest_school_year=settings.earliest_school_year,
        )
        try:
            summary = _build_and_publish(settings, ctx, flow_run_id, summary, previous_holder)
        except Exception as exc:
            log.error("run %s failed: %s", run_id, exc)
            _record_failed_run(settings, run_id, flow_run_id, exc)
            alerts.send_after_failure(settings)  # the state hears of it; never masks the error
            raise
    return summary


def _under_deployment() -> bool:
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    return bool(context and context.flow_run and context.flow_run.deployment_id)


def _build_and_publish(
    settings: Settings, ctx: RunContext, flow_run_id: str | None, summary: RunSummary, previous_holder: dict
) -> RunSummary:
    clock = Stopwatch()
    started = time.perf_counter()
    work = prepare_work_copy(settings.warehouse)
    con = open_work_copy(work, settings.duckdb_memory_limit)
    try:
        prepare_schemas(con, settings)
        alerts.sync_statuses(con, settings.outbox_dir)  # audit.alerts from the outbox; drops mail of unpublished runs
        clock.seconds["prepare"] = time.perf_counter() - started
        if previous_holder.get("run_id"):
            audit.record_interrupted_run(con, previous_holder)
        audit.start_run(con, ctx.run_id, flow_run_id, str(settings.landing_dir))
        discovery = clock.call(discover, con, settings)
        loaded, note = ingest(con, discovery, ctx, settings, clock)
        run(con, "checkpoint")
    finally:
        con.close()
    progress = Progress()
    progress.show("[dbt build] models and data tests")
    try:
        held = build_holding_back_culprits(
            work,
            ctx.run_id,
            build=lambda: clock.call(transform, work, settings.duckdb_memory_limit, settings.incremental_builds),
            connect=lambda path: open_work_copy(path, settings.duckdb_memory_limit),
        )
    finally:
        progress.done()
    if held:
        _log().error(
            "the warehouse build failed with %d submission(s) of this run; they are held back and the rest is "
            "published: %s",
            len(held),
            ", ".join(f"{s.file_name} (district {s.district_code})" for s in held[:10]),
        )
        note = "; ".join(
            filter(
                None,
                [
                    note,
                    f"{len(held)} submission(s) held back because the build failed with them "
                    f"(rule transform_failed): " + ", ".join(f"{s.file_name} / {s.district_code}" for s in held[:10]),
                ],
            )
        )
    con = open_work_copy(work, settings.duckdb_memory_limit)
    try:
        from .warehouse.transform import record_test_findings

        record_test_findings(con, ctx.run_id)  # rates over 100: the dbt warn tests' stored failures
        audit.finish_run(
            con,
            ctx.run_id,
            "succeeded",
            note or None,
            files_seen=discovery.seen,
            files_new=len(discovery.new_files),
            files_skipped=len(discovery.skipped),
        )
        alerts.queue_run_alerts(con, settings, ctx.run_id)  # outbox/pending + audit.alerts, published with the run
        try:  # files due soon, to districts that have not sent them; a failure here never holds the night's data back
            alerts.queue_reminders(con, settings, ctx.run_id)
        except Exception as exc:  # not recorded: the next run queues them again
            _log().error(
                "could not queue the reminder e-mails (the next run tries again): %s: %s", type(exc).__name__, exc
            )
        row = con.execute(
            "select rows_loaded, rows_quarantined, errors, warnings from audit.runs where run_id = ?", [ctx.run_id]
        ).fetchall()[0]
        audit.record_publish(con, ctx.run_id, STORAGE_VERSION)  # the file says which run it holds
        run(con, "checkpoint")
    finally:
        con.close()
    clock.call(publish, settings.warehouse)
    summary.stage_seconds = clock.seconds
    summary.status = "succeeded"
    summary.files_seen = discovery.seen
    summary.files_new = len(discovery.new_files)
    summary.files_skipped = len(discovery.skipped)
    summary.rows_loaded, summary.rows_quarantined, summary.errors, summary.warnings = (int(v or 0) for v in row)
    summary.message = note
    summary.files = [asdict(f) for f in loaded]
    return summary


def _record_failed_run(settings: Settings, run_id: str, flow_run_id: str | None, exc: BaseException) -> None:
    """Publish the failure in the run record: a fresh copy of the published warehouse
    with one more row in audit.runs, nothing else changed."""
    log = _log()
    try:
        work = prepare_work_copy(settings.warehouse)
        con = open_work_copy(work, settings.duckdb_memory_limit)
        try:
            audit.ensure_audit_schema(con)
            run(con, "delete from audit.runs where run_id = ?", [run_id])
            audit.start_run(con, run_id, flow_run_id, str(settings.landing_dir))
            message = f"{type(exc).__name__}: {exc}"
            audit.finish_run(con, run_id, "failed", message[:4000])
            alerts.queue_failure_alert(con, settings, run_id, message)
            audit.record_publish(con, run_id, STORAGE_VERSION)
            run(con, "checkpoint")
        finally:
            con.close()
        publish_work_copy(settings.warehouse)
    except Exception:  # the original error matters more; say why the record is missing
        log.error("could not record the failed run %s: %s", run_id, traceback.format_exc())
        discard_work_copy(settings.warehouse)


def _artifact(summary: RunSummary) -> None:
    try:
        from prefect.artifacts import create_markdown_artifact
    except ImportError:  # pragma: no cover
        return
    rows = "\n".join(
        f"| {f['file_name']} | {f['family'] or '-'} | {f['status']} | {f['rows_loaded']} | {f['rows_quarantined']} "
        f"| {f['errors']} | {f['warnings']} |"
        for f in summary.files
    )
    markdown = (
        f"# Nightly run {summary.run_id}: {summary.status}\n\n"
        f"{summary.files_new} new file(s), {summary.files_skipped} already received; "
        f"{summary.rows_loaded} rows loaded, {summary.rows_quarantined} held back; "
        f"{summary.errors} blocking errors, {summary.warnings} warnings.\n\n"
        + (f"**Note:** {summary.message}\n\n" if summary.message else "")
        + (f"**Alert e-mails:** {summary.alerts}\n\n" if summary.alerts else "")
        + (
            "| file | family | status | rows loaded | rows held back | errors | warnings |\n"
            "|---|---|---|---|---|---|---|\n"
        )
        + rows
    )
    try:
        create_markdown_artifact(
            markdown=markdown, key="nightly-run-summary", description=f"Nightly run {summary.run_id}"
        )
    except MissingContextError:
        pass
