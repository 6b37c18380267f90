"""Keep Prefect's record of nightly runs true after a run was killed.

A flow run whose process dies (SIGKILL, OOM, a reboot, `roadmap serve` stopped hard)
cannot report its own end: Prefect keeps showing it `Running` (or `Pending`) forever.
Nothing here depends on that state to let the next night run (overlap is refused by the
warehouse lock alone, flows/warehouse/publish.py), but operators read it, so it is corrected:

- by the next run, which takes the warehouse lock and finds the previous holder's entry
  in the lock file (the kernel released its lock: that process is gone);
- by `roadmap serve` when it starts: runs of its deployment left `Running`/`Pending`/
  `Cancelling` by an earlier serve process are orphans, unless one holds the warehouse
  lock right now.

Both mark the run `Crashed`, with a message saying what happened.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from pathlib import Path
from uuid import UUID

log = logging.getLogger("roadmap.prefect_runs")

UNFINISHED = ("RUNNING", "PENDING", "CANCELLING")


def mark_crashed(flow_run_ids: list[str], message: str) -> list[str]:
    """Set each of these flow runs to Crashed, if Prefect still shows it unfinished.
    Returns the ids changed. Never raises: the record is a courtesy to operators."""
    if not flow_run_ids:
        return []
    try:
        from prefect.client.orchestration import get_client
        from prefect.states import Crashed

        changed = []
        with get_client(sync_client=True) as client:
            for flow_run_id in flow_run_ids:
                run = client.read_flow_run(UUID(str(flow_run_id)))
                if run.state is None or run.state.type.value not in UNFINISHED:
                    continue
                client.set_flow_run_state(run.id, Crashed(message=message), force=True)
                changed.append(str(run.id))
                log.warning("flow run %s (%s) was left %s: marked Crashed", run.name, run.id, run.state.name)
        return changed
    except Exception as exc:  # never in the way of a run
        log.warning(
            "could not correct the Prefect state of flow run(s) %s: %s: %s",
            ", ".join(map(str, flow_run_ids)),
            type(exc).__name__,
            exc,
        )
        return []


def lock_holder_flow_run(warehouse: Path) -> str | None:
    """The Prefect flow run id of the run holding the warehouse lock now, or None when
    nobody holds it (tested with a non-blocking flock, released at once)."""
    from .warehouse.publish import lock_path

    path = lock_path(Path(warehouse))
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:  # held: by whom?
            with contextlib.suppress(ValueError, OSError):
                return json.loads(os.pread(fd, 4096, 0) or b"{}").get("flow_run_id")
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def crash_orphaned_runs(deployment_id, warehouse: Path, reason: str) -> list[str]:
    """Mark Crashed the unfinished runs of a deployment that no process runs any more."""
    try:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import (
            DeploymentFilter,
            DeploymentFilterId,
            FlowRunFilter,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType

        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType(s) for s in UNFINISHED]))
                ),
                limit=200,
            )
    except Exception as exc:
        log.warning("could not look for unfinished runs of the deployment: %s: %s", type(exc).__name__, exc)
        return []
    alive = lock_holder_flow_run(warehouse)
    return mark_crashed([str(r.id) for r in runs if str(r.id) != alive], reason)
