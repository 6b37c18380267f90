"""Where a run's detail goes: its log file, the Prefect run log, and (only with
`--verbose`) the console.

- Every run writes `<warehouse dir>/logs/<run_id>.log`: our stages, Prefect's flow and
  task messages, dbt's per-node lines and whatever the libraries log, with tracebacks.
  The summary names the file.
- dbt's lines go through the Prefect run logger (flows/warehouse/transform.py), so they are in the
  Prefect UI's run log too, and not printed by dbt itself.
- The console of `roadmap nightly` shows the summary, or one line with the cause of a
  failure; `--verbose` adds everything the log file gets.
- Progress of the long stages is shown on a terminal only (not when output is a file
  or a pipe, e.g. under `roadmap serve` or cron).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

# Libraries that talk at INFO about themselves (Great Expectations logs ~200 "Skipping
# registering function" lines when it is imported): warnings and errors only, everywhere.
CHATTY = ("great_expectations", "httpx", "httpcore", "docket", "asyncio", "numexpr", "urllib3")

# the log file of the run in progress in this process (the CLI names it after a failure)
current_log: Path | None = None


def quiet_libraries() -> None:
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)


class _NoTraceback(logging.Formatter):
    """One line per record: the traceback belongs to the log file."""

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info = record.exc_text = record.stack_info = None
        try:
            return super().format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


def configure_console(verbose: bool) -> None:
    """The console of a command: everything at INFO with --verbose, else nothing from
    the logging system but critical errors (the command prints its own summary)."""
    quiet_libraries()
    import prefect  # noqa: F401 - Prefect installs its logging configuration on import

    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    consoles = [
        h
        for h in root.handlers
        if isinstance(h, logging.StreamHandler)
        and not isinstance(h, logging.FileHandler)
        and type(h).__module__.split(".")[0] in ("logging", "prefect")  # not a test runner's capture
    ]
    if not consoles:
        handler = logging.StreamHandler(sys.stderr)
        root.addHandler(handler)
        consoles = [handler]
    for handler in consoles:
        handler.setLevel(logging.INFO if verbose else logging.CRITICAL)
        if not verbose:
            handler.setFormatter(_NoTraceback("%(levelname)s %(name)s: %(message)s"))
    os.environ["ROADMAP_VERBOSE"] = "1" if verbose else "0"


def verbose() -> bool:
    return os.environ.get("ROADMAP_VERBOSE") == "1"


class RunLog:
    """The log file of one run, attached to the root logger while the run lasts."""

    def __init__(self, warehouse_dir: Path, run_id: str):
        self.path = Path(warehouse_dir) / "logs" / f"{run_id}.log"
        self.handler: logging.FileHandler | None = None

    def __enter__(self) -> RunLog:
        global current_log
        quiet_libraries()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handler = logging.FileHandler(self.path, encoding="utf-8")
        self.handler.setLevel(logging.DEBUG if verbose() else logging.INFO)
        self.handler.setFormatter(logging.Formatter(FORMAT))
        root = logging.getLogger()
        root.addHandler(self.handler)
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
        for name in ("prefect", "prefect.flow_runs", "prefect.task_runs"):
            logger = logging.getLogger(name)  # reach the file even where Prefect stops propagation
            if not logger.propagate:
                logger.addHandler(self.handler)
        current_log = self.path
        return self

    def __exit__(self, *exc) -> None:
        if self.handler is None:
            return
        if exc[0] is not None:  # the traceback belongs here, before the file is closed
            what = "failed" if isinstance(exc[1], Exception) else "was stopped"
            logging.getLogger("roadmap.nightly").error("the run %s: %s", what, exc[1] or exc[0].__name__, exc_info=exc)
        for name in ("", "prefect", "prefect.flow_runs", "prefect.task_runs"):
            logging.getLogger(name).removeHandler(self.handler)
        self.handler.close()


class Progress:
    """`[validate 3/22] devices_2025-26.csv` on one line of a terminal; nothing otherwise."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)()) and not verbose()
        self._width = 0

    def show(self, text: str) -> None:
        if not self.enabled:
            return
        text = text[:110]
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def done(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0
