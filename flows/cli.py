"""`roadmap` command line (docs/INTERFACE.md): nightly, generate, report, serve, docs, sql, runs, check."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
from pathlib import Path


def _settings(args):
    from .settings import load_settings

    return load_settings(
        getattr(args, "config", None),
        landing_dir=getattr(args, "landing", None),
        warehouse=getattr(args, "warehouse", None),
    )


# what each stage of the nightly run does, for the messages below
STAGES = {
    "discover": "finding new landing files",
    "validate": "validating files",
    "load": "loading files",
    "transform": "the dbt build",
    "publish": "publishing",
    "report": "writing the annual review",
    "alert": "sending the alert e-mails",
}


def _stage(run) -> str:
    return f"the {run.stage} stage ({STAGES[run.stage]})" if run.stage in STAGES else "start-up"


def _after_publish(run) -> list[str]:
    """What a run that published its data and was then stopped, or failed, left."""
    lines = [
        f"The night's data was published: run {run.run_id} is in {run.warehouse} (audit.runs records it as succeeded)."
    ]
    if run.stage in ("publish", "report"):
        lines.append("The annual review may not have been written: `roadmap report` writes it.")
    lines.append(
        f"Alert e-mails not sent yet stay pending in {run.outbox}/pending and go out with the next run "
        "(`roadmap runs` shows them)."
    )
    return lines


def cmd_nightly(args) -> int:
    from prefect.exceptions import TerminationSignal

    from . import runlog, stopping
    from .nightly import current_run, nightly
    from .settings import ConfigError
    from .stopping import Stopped
    from .warehouse.publish import RunInProgress

    current_run.__init__()  # nothing of an earlier run in this process
    # the console command exits at the latest GRACE_SECONDS after a stop; a caller in the
    # same process (argv given) keeps its process
    stopping.reset(exit_after=stopping.GRACE_SECONDS if getattr(args, "console", False) else None)
    previous = signal.signal(signal.SIGTERM, stopping.stop)  # a Prefect flow run puts its own in place meanwhile
    try:
        summary = nightly(
            landing_dir=args.landing, warehouse=args.warehouse, config_file=args.config, with_report=not args.no_report
        )
    except RunInProgress as exc:
        print(f"roadmap nightly: {exc}", file=sys.stderr)
        return 75  # EX_TEMPFAIL: try again later
    except ConfigError as exc:  # nothing was run: a setting to fix
        print(f"roadmap nightly: {exc}", file=sys.stderr)
        return 2
    except (Stopped, TerminationSignal, KeyboardInterrupt) as exc:
        _release_frames(exc)
        signum = getattr(exc, "signum", getattr(exc, "signal", signal.SIGINT))
        how = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        if current_run.data_published():
            print(
                f"roadmap nightly: stopped by {how} during {_stage(current_run)}, after the run had published.",
                file=sys.stderr,
            )
            for line in _after_publish(current_run):
                print(line, file=sys.stderr)
        else:
            print(
                f"roadmap nightly: stopped by {how} during {_stage(current_run)}, before publishing: the "
                "published warehouse was left as it was. The next run records this one as interrupted and "
                "redoes its work.",
                file=sys.stderr,
            )
        if runlog.current_log:
            print(f"Full detail: {runlog.current_log}", file=sys.stderr)
        return 128 + int(signum)
    except Exception as exc:  # the cause first; the traceback is in the run's log file
        _release_frames(exc)
        if current_run.data_published():
            print(
                f"roadmap nightly: {_stage(current_run)} failed after the run had published: "
                f"{type(exc).__name__}: {exc}",
                file=sys.stderr,
            )
            for line in _after_publish(current_run):
                print(line, file=sys.stderr)
        else:
            print(f"roadmap nightly: the run failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            print("The published warehouse was left as it was; fix the cause and run again.", file=sys.stderr)
        if runlog.current_log:
            print(f"Full detail: {runlog.current_log}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(summary.text())
    return 0


def _release_frames(exc: BaseException) -> None:
    """Let go of what the failed run's frames still hold (DuckDB connections among them),
    so that it is freed now and not reported as leaked at interpreter exit."""
    import traceback

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        traceback.clear_frames(exc.__traceback__)
        exc = exc.__cause__ or exc.__context__


# `roadmap generate` runs the demo data generator, a development tool of its own
# (tools/roadmap_demo_data, installed by `make setup`): the product never imports it, and
# the runtime image does not hold it. There the command says so, in one line, exit 2.
GENERATOR_MISSING = (
    "roadmap generate: the demo data generator (roadmap_demo_data) is not installed here; it is a "
    "development tool, not part of the runtime image: run it from a checkout of the project after "
    "`make setup` (or `pip install -e ./tools` there)"
)


def _generator_options():
    """The generator's `add_arguments`, or None where the generator is not installed (its
    module only declares the options: the generator itself is imported when it runs)."""
    try:
        from roadmap_demo_data.cli import add_arguments
    except ModuleNotFoundError as exc:
        if exc.name != "roadmap_demo_data":
            raise  # installed but broken: the traceback says what is missing
        return None
    return add_arguments


def cmd_generate(args) -> int:
    from roadmap_demo_data.cli import run_from_args

    return run_from_args(args)


def cmd_generator_missing(args) -> int:
    print(GENERATOR_MISSING, file=sys.stderr)
    return 2


def cmd_report(args) -> int:
    from .report import build_report, export_marts

    settings = _settings(args)
    if not settings.warehouse.exists():
        print(f"roadmap report: no warehouse at {settings.warehouse}: run `roadmap nightly` first", file=sys.stderr)
        return 2
    out = Path(args.out).resolve() if args.out else settings.reports_dir
    result = build_report(settings.warehouse, out, args.year, config_dir=settings.config_file)
    print(f"annual review {result.school_year}: {result.html_path}")
    print(f"  {result.year_reason}")
    print(
        f"  district pages: {result.pages_written} written, {result.pages_unchanged} unchanged, "
        f"{result.pages_removed} removed ({result.district_pages_dir})"
    )
    if args.exports:
        paths = export_marts(settings.warehouse, out, config_dir=settings.config_file)
        folders = sorted({str(Path(p).parent) for p in paths})
        print(f"exports: {len(paths)} files in {', '.join(folders)}")
        for path in paths:
            logging.getLogger("roadmap.report").info("export: %s", path)
    return 0


def cmd_runs(args) -> int:
    from .warehouse.runs import print_runs

    settings = _settings(args)
    return print_runs(settings, limit=args.limit)


def cmd_serve(args) -> int:
    from .serve import serve

    return serve(_settings(args), config_file=args.config)


def cmd_sql(args) -> int:
    from .sql_shell import main as sql_main

    return sql_main(_settings(args).warehouse, args.command_sql, args.csv, args.max_rows)


def cmd_check(args) -> int:
    from .ingest.precheck import main as check_main

    return check_main(args.files, args.warehouse, args.format, args.config)


def cmd_docs(args) -> int:
    from .warehouse.dbt_docs import build_dbt_docs

    settings = _settings(args)
    out = Path(args.out).resolve() if args.out else settings.reports_dir.parent / "docs"
    index = build_dbt_docs(settings.warehouse, out)
    print(f"warehouse documentation: {index}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="roadmap", description="MI Roadmap Goal Four warehouse: nightly loads, data-quality alerts, annual review"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also print the detail (Prefect, dbt, Great Expectations) that otherwise goes to the run's log file only",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p, landing=True):
        if landing:
            p.add_argument("--landing", help="landing folder (default: ROADMAP_LANDING_DIR or config)")
        p.add_argument("--warehouse", help="DuckDB warehouse file (default: ROADMAP_WAREHOUSE or config)")
        p.add_argument(
            "--config",
            help="config folder (roadmap.yml, metrics.yml, roadmap_goal4.yml side by side) or its roadmap.yml "
            "(default: ROADMAP_CONFIG, else the project's config/)",
        )

    p = sub.add_parser("nightly", help="one run of the nightly flow")
    common(p)
    p.add_argument("--no-report", action="store_true", help="skip writing the annual review after the run")
    p.set_defaults(func=cmd_nightly)

    add_generator_options = _generator_options()
    if add_generator_options is not None:
        p = sub.add_parser("generate", help="write realistic landing files (DATA_SPEC section 1)")
        add_generator_options(p)
        p.set_defaults(func=cmd_generate)
    else:
        # whatever follows (options, --help too) is taken as is: the command only says
        # where to get the generator
        p = sub.add_parser(
            "generate",
            help="write realistic landing files (the demo data generator: not installed here)",
            add_help=False,
            prefix_chars="\0",
        )
        p.add_argument("ignored", nargs="*")
        p.set_defaults(func=cmd_generator_missing)

    p = sub.add_parser("report", help="the annual review of MI Roadmap progress for a school year")
    common(p, landing=False)
    p.add_argument("--year", help="school year YYYY-YY (default: the latest with substantially complete data)")
    p.add_argument("--out", help="output folder (default: paths.reports_dir of the config)")
    p.add_argument("--exports", action="store_true", help="also write the marts as suppressed CSV and Parquet")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("serve", help="serve the nightly deployment on its cron schedule (Prefect)")
    common(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "docs", help="the dbt documentation site of every model and column (from the published warehouse)"
    )
    common(p, landing=False)
    p.add_argument("--out", help="output folder (default: data/docs beside the reports folder)")
    p.set_defaults(func=cmd_docs)

    p = sub.add_parser("sql", help="a read-only SQL shell on the published warehouse (docs/analysts_guide.md)")
    common(p, landing=False)
    p.add_argument(
        "-c", "--command", dest="command_sql", metavar="SQL", help="run SQL (one or more statements) and exit"
    )
    p.add_argument("--csv", action="store_true", help="results as CSV (all rows), for other tools")
    p.add_argument(
        "--max-rows", type=int, metavar="N", help="rows shown of a result in table mode (default 40 on a terminal)"
    )
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser(
        "check", help="the nightly run's reading and validation rules on files before they are sent (writes nothing)"
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="landing files, named as the landing folder wants them")
    p.add_argument(
        "--warehouse",
        help="also check the rules that need published data (directory, enrollment buildings), "
        "opening this warehouse read-only",
    )
    p.add_argument("--format", choices=("text", "csv", "json"), default="text", help="output format (default text)")
    p.add_argument("--config", help="config folder or its roadmap.yml (default: ROADMAP_CONFIG, else config/)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("runs", help="the recent runs and what each loaded, quarantined and alerted")
    common(p, landing=False)
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=cmd_runs)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.console = argv is None  # run as the `roadmap` command, not called by other code
    if args.console or args.command in ("nightly", "serve"):
        # SIGTERM and Ctrl-C stop a run cleanly (exit 143/130) and Ctrl-C drops a half-typed
        # statement in `roadmap sql`: deliverable even when the process that started this
        # one had them blocked (the block is inherited across exec)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    # before Prefect is imported: no telemetry from the temporary server (its SQLite
    # "database is locked" tracebacks), and time for it to start on a busy machine
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from . import runlog
    from .settings import ConfigError

    if args.command in ("nightly", "serve"):
        runlog.configure_console(args.verbose)
    else:
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format=runlog.FORMAT)
        runlog.quiet_libraries()
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"roadmap: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"roadmap: {exc}", file=sys.stderr)
        return 2
    finally:
        gc.collect()  # DuckDB objects freed now, not reported as leaks at interpreter exit


if __name__ == "__main__":
    raise SystemExit(main())
