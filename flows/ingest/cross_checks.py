"""Warnings that need more than one file (DATA_SPEC section 2): year-over-year swings of
more than 50 % in a district's student_count or device totals, and more distinct leaders
in PL than the staffing file reports. (Rates over 100 are dbt's warn tests on
marts.district_year_metrics, written into audit.issues by
flows.warehouse.transform.record_test_findings.)

They load anyway; they are recorded in `audit.issues` and reported. Each is raised once,
by the run that loaded the data it is about."""

from __future__ import annotations

import duckdb

from ..school_years import previous_school_year_sql
from ..warehouse.db import run
from .latest_submission import latest_submission_sql

# latest submission wins (one Python owner, checked against dbt's macro)
LATEST_PL = latest_submission_sql("raw.pl_participation")
LATEST_STAFFING = latest_submission_sql("raw.staffing")


def _previous(sy: str) -> str:
    return previous_school_year_sql(sy)


def _swing_sql(raw_table: str, value_sql: str, rule: str, what: str) -> str:
    return f"""
    insert into audit.issues
    with latest as ({latest_submission_sql(raw_table)}),
    totals as (
        select school_year, district_code, any_value(_file_id) as file_id, {value_sql} as total
        from latest group by school_year, district_code
    )
    select $run_id, cur.file_id, f.file_name, f.family, cur.school_year, cur.district_code, null, '{rule}', 'warning',
           null, prev.total::varchar || ' -> ' || cur.total::varchar,
           '{what} changed by ' || round(100.0 * (cur.total - prev.total) / prev.total)::integer::varchar
               || ' % from ' || prev.school_year || ' (' || prev.total::varchar || ') to ' || cur.school_year
               || ' (' || cur.total::varchar || '): check the figures; they were loaded'
    from totals cur
    join totals prev on prev.district_code = cur.district_code and prev.school_year = {_previous("cur.school_year")}
    join audit.files f on f.file_id = cur.file_id
    where f.first_run_id = $run_id
      and prev.total > 0
      and abs(cur.total - prev.total) > $threshold * prev.total
    """


def check_after_load(con: duckdb.DuckDBPyConnection, run_id: str, threshold: float) -> None:
    params = {"run_id": run_id, "threshold": threshold}
    run(con, _swing_sql("raw.enrollment", "sum(student_count)", "yoy_student_count_swing", "student_count"), params)
    run(con, _swing_sql("raw.devices", "sum(device_count)", "yoy_device_total_swing", "the device total"), params)
    run(
        con,
        f"""
        insert into audit.issues
        with pl as ({LATEST_PL}),
        staffing as ({LATEST_STAFFING}),
        leaders as (
            select school_year, district_code, any_value(_file_id) as file_id,
                   count(distinct educator_key) filter (where role in ('building_leader', 'district_leader')) as n
            from pl group by school_year, district_code
        )
        select $run_id, l.file_id, f.file_name, 'pl_participation', l.school_year, l.district_code, null,
               'pl_leaders_exceed_staffing', 'warning', 'role', l.n::varchar || ' > ' ||
               (s.building_leader_count + s.district_leader_count)::varchar,
               l.n::varchar || ' distinct leaders have PL records but the staffing file reports '
               || (s.building_leader_count + s.district_leader_count)::varchar
               || ' building and district leaders: check roles in the PL file or the staffing counts'
        from leaders l
        join staffing s on s.school_year = l.school_year and s.district_code = l.district_code
        join audit.files f on f.file_id = l.file_id
        where l.n > s.building_leader_count + s.district_leader_count
          and (f.first_run_id = $run_id or s._run_id = $run_id)
        """,
        {"run_id": run_id},
    )
