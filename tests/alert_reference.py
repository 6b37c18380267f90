"""The reference composition of a run's alert e-mails: the straightforward version the
pipeline used before composition became set-based (flows/alerts/compose.py), one group
of queries per district. Kept as the oracle of tests/test_alert_composition.py: the
grouped composition must give exactly the messages this one gives.

Its only change from that version: ties in the order of examples, attachment rows,
held-back rows and issue texts are broken by the remaining columns (the old order left
them to chance), so that both compositions are deterministic and can be compared."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from flows.alerts.compose import (
    DISTRICT,
    HELD_BACK_COLUMNS,
    HELD_BACK_WITHOUT_ISSUE,
    STATE,
    Alert,
    _contact,
    _family_columns,
    _render,
    _when,
    build_message,
    csv_bytes,
    csv_safe,
    header_safe,
    latest_directory,
    safe_id,
)
from flows.alerts.config import AlertOptions, SmtpSettings, valid_address


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]) -> list[dict]:
    cur = con.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _where(district_code: str | None) -> tuple[str, list]:
    if district_code is None:
        return "", []
    return " and district_code = ?", [district_code]


def rule_summary(con, run_id: str, district_code: str | None, example_rows: int) -> list[dict]:
    where, extra = _where(district_code)
    rules = _rows(
        con,
        f"""
        select rule, severity, count(*) as n, count(distinct district_code) as districts,
               count(distinct file_name) as files,
               list(distinct message order by message)[1:3] as messages,
               count(distinct message) as n_messages
        from audit.issues where run_id = ?{where}
        group by rule, severity
        order by severity, n desc, rule
        """,
        [run_id, *extra],
    )
    examples = _rows(
        con,
        f"""
        select rule, severity, file_name, line, district_code, column_name, value
        from (
            select *, row_number() over (
                partition by rule, severity
                order by file_name nulls last, line nulls first, district_code, column_name, value, message
            ) as rn
            from audit.issues where run_id = ?{where}
        )
        where rn <= ?
        order by rule, severity, rn
        """,
        [run_id, *extra, example_rows],
    )
    by_rule: dict[tuple, list[dict]] = {}
    for e in examples:
        by_rule.setdefault((e["rule"], e["severity"]), []).append(e)
    for r in rules:
        r["examples"] = by_rule.get((r["rule"], r["severity"]), [])
        r["more_messages"] = r["n_messages"] - len(r["messages"])
    return rules


def files(con, run_id: str, district_code: str | None) -> list[dict]:
    if district_code is None:
        return _rows(
            con,
            """
            with counts as (
                select file_id, file_name,
                       count(*) filter (where severity = 'error') as errors,
                       count(*) filter (where severity = 'warning') as warnings
                from audit.issues where run_id = ? group by file_id, file_name
            ),
            files as (select * from audit.files where first_run_id = ?)
            select coalesce(f.file_name, c.file_name, '(checks after loading)') as file_name,
                   f.family, f.school_year, coalesce(f.status, 'not read') as status,
                   f.rows_read, f.rows_loaded, f.rows_quarantined,
                   coalesce(c.errors, 0) as errors, coalesce(c.warnings, 0) as warnings
            from files f full join counts c on c.file_id = f.file_id
            order by 1, coalesce(f.file_id, c.file_id)
            """,
            [run_id, run_id],
        )
    return _rows(
        con,
        """
        with counts as (
            select file_id, any_value(file_name) as file_name, any_value(family) as family,
                   any_value(school_year) as school_year,
                   count(*) filter (where severity = 'error') as errors,
                   count(*) filter (where severity = 'warning') as warnings
            from audit.issues where run_id = ? and district_code = ? group by file_id
        ),
        rows as (
            select file_id, sum(rows_loaded) as rows_loaded, sum(rows_quarantined) as rows_quarantined
            from audit.load_counts where run_id = ? and district_code = ? group by file_id
        )
        select coalesce(c.file_name, f.file_name, '(checks after loading)') as file_name,
               coalesce(c.family, f.family) as family, coalesce(c.school_year, f.school_year) as school_year,
               r.rows_loaded, r.rows_quarantined,
               coalesce(c.errors, 0) as errors, coalesce(c.warnings, 0) as warnings
        from counts c left join rows r on r.file_id is not distinct from c.file_id
        left join audit.files f on f.file_id = c.file_id
        order by 1, c.file_id
        """,
        [run_id, district_code, run_id, district_code],
    )


def attachment_rows(con, run_id: str, district_code: str | None, limit: int) -> tuple[list[list[str]], int]:
    where, extra = _where(district_code)
    total = con.execute(f"select count(*) from audit.issues where run_id = ?{where}", [run_id, *extra]).fetchall()[0][0]
    qwhere = " and i.district_code = ?" if district_code is not None else ""
    rows = con.execute(
        f"""
        with held as (
            select distinct file_id, line, district_code from audit.quarantine_rows where run_id = ?
        )
        select i.file_name, i.family, i.school_year, i.district_code, i.line, i.rule, i.severity,
               i.column_name, i.value, i.message,
               case when h.file_id is not null then 'yes' when i.severity = 'error' then 'yes' else 'no' end
        from audit.issues i
        left join held h
          on h.file_id = i.file_id and h.line = i.line and h.district_code is not distinct from i.district_code
        where i.run_id = ?{qwhere}
        order by i.severity, i.file_name nulls last, i.line nulls first, i.rule, i.column_name,
                 i.district_code, i.value, i.message
        limit ?
        """,
        [run_id, run_id, *extra, limit],
    ).fetchall()
    return [[csv_safe(v) for v in r] for r in rows], int(total)


def held_back_attachments(con, run_id: str, district_code: str | None, limit: int):
    qwhere = " and q.district_code = ?" if district_code is not None else ""
    extra = [district_code] if district_code is not None else []
    families = con.execute(
        f"""
        select q.family, count(*), list(distinct json_keys(q.row_json))
        from audit.quarantine_rows q where q.run_id = ?{qwhere}
        group by q.family order by q.family
        """,
        [run_id, *extra],
    ).fetchall()
    out = []
    for family, total, key_lists in families:
        columns = _family_columns(sorted(key_lists, key=lambda keys: (-len(keys), keys)))
        values = ", ".join("json_extract_string(q.row_json, '$.\"' || ? || '\"')" for _ in columns)
        rows = con.execute(
            f"""
            with issues as (
                select file_id, line, district_code,
                       string_agg(rule || coalesce(' (' || column_name || ')', '') || ': ' || message, ' | '
                                  order by rule, column_name, message) as issues
                from audit.issues where run_id = ? and line is not null group by all
            )
            select coalesce(f.file_name, q.file_id), q.line, coalesce(i.issues, ?){", " + values if values else ""}
            from audit.quarantine_rows q
            left join audit.files f on f.file_id = q.file_id
            left join issues i on i.file_id = q.file_id and i.line = q.line
                 and i.district_code is not distinct from q.district_code
            where q.run_id = ? and q.family = ?{qwhere}
            order by 1, q.line, q.file_id, q.district_code
            limit ?
            """,
            [run_id, HELD_BACK_WITHOUT_ISSUE, *columns, run_id, family, *extra, limit],
        ).fetchall()
        out.append((family, [*HELD_BACK_COLUMNS, *columns], [[csv_safe(v) for v in r] for r in rows], int(total)))
    return out


def _attachments(con, run_id: str, district_code: str | None, label: str, limit: int) -> tuple[list, dict]:
    rows, total = attachment_rows(con, run_id, district_code, limit)
    attached = [(f"roadmap-issues-{run_id}-{label}.csv", csv_bytes(rows))]
    held = []
    for family, header, family_rows, family_total in held_back_attachments(con, run_id, district_code, limit):
        name = f"roadmap-held-back-{run_id}-{label}-{family}.csv"
        attached.append((name, csv_bytes(family_rows, header)))
        held.append({"family": family, "file": name, "rows": len(family_rows), "total": family_total})
    info = {
        "issues_file": attached[0][0],
        "attachment_rows": len(rows),
        "attachment_total": total,
        "held_back_files": held,
        "held_back_total": sum(h["total"] for h in held),
    }
    return attached, info


def compose_reference(con, run_id: str, smtp: SmtpSettings, options: AlertOptions) -> list[Alert]:
    """The messages of one run, district by district."""
    counts = con.execute(
        "select count(*) filter (where severity = 'error'), count(*) filter (where severity = 'warning') "
        "from audit.issues where run_id = ?",
        [run_id],
    ).fetchall()[0]
    errors, warnings = int(counts[0]), int(counts[1])
    if errors + warnings == 0:
        return []
    directory = latest_directory(con)
    run_rows = _rows(con, "select * from audit.runs where run_id = ?", [run_id])
    run_row = run_rows[0] if run_rows else {"run_id": run_id, "started_at": None}
    prefix = options.subject_prefix
    per_district = _rows(
        con,
        """
        select district_code, rule, severity, count(*) as n
        from audit.issues where run_id = ? and district_code is not null
        group by all order by district_code, severity, rule
        """,
        [run_id],
    )
    districts: dict[str, dict] = {}
    for r in per_district:
        d = districts.setdefault(
            r["district_code"], {"district_code": r["district_code"], "errors": 0, "warnings": 0, "rules": []}
        )
        d["errors" if r["severity"] == "error" else "warnings"] += r["n"]
        d["rules"].append(r)
    for code, d in districts.items():
        entry = directory.get(code)
        d["district_name"] = entry["district_name"] if entry else None
        email = (entry or {}).get("data_contact_email")
        d["contact"] = email.strip() if email and valid_address(email) else None
        if entry is None:
            d["no_contact_reason"] = "not in the state directory"
        elif not email:
            d["no_contact_reason"] = "no data_contact_email in the directory"
        elif not d["contact"]:
            d["no_contact_reason"] = "data_contact_email is not a usable address"
        else:
            d["no_contact_reason"] = None
    district_list = sorted(districts.values(), key=lambda d: d["district_code"])
    unattributed = _rows(
        con,
        """
        select coalesce(file_name, '(checks after loading)') as file_name, rule, severity,
               any_value(message) as message, count(*) as n
        from audit.issues where run_id = ? and district_code is null
        group by all order by severity, file_name, rule
        """,
        [run_id],
    )
    alerts: list[Alert] = []
    base = {"run_id": run_id, "started": _when(run_row.get("started_at")), "prefix": prefix}
    if smtp.state_recipients:
        attached, info = _attachments(con, run_id, None, "state", options.max_attachment_rows)
        context = dict(
            base,
            **info,
            errors=errors,
            warnings=warnings,
            files=files(con, run_id, None),
            rules=rule_summary(con, run_id, None, options.example_rows),
            districts=district_list,
            names={code: (d["district_name"] or "") for code, d in districts.items()},
            no_contact=[d for d in district_list if not d["contact"]],
            told=[d for d in district_list if d["contact"]],
            unattributed=unattributed,
            example_rows=options.example_rows,
        )
        text, html = _render("state", **context)
        subject = (
            f"{prefix} run {run_id}: {errors} blocking error(s), {warnings} warning(s)"
            f" in {len([f for f in context['files'] if f['errors'] or f['warnings']])} file(s),"
            f" {len(district_list)} district(s)"
        )
        recipients = list(smtp.state_recipients)
        alerts.append(
            Alert(
                "state",
                STATE,
                None,
                recipients,
                header_safe(subject),
                build_message(
                    run_id=run_id,
                    alert_id="state",
                    smtp=smtp,
                    recipients=recipients,
                    subject=subject,
                    text=text,
                    html=html,
                    attachments=attached,
                ),
            )
        )
    for d in district_list:
        if not d["contact"]:
            continue
        code = d["district_code"]
        attached, info = _attachments(con, run_id, code, code, options.max_attachment_rows)
        context = dict(
            base,
            **info,
            contact=_contact(smtp),
            district_code=code,
            district_name=d["district_name"],
            errors=d["errors"],
            warnings=d["warnings"],
            files=files(con, run_id, code),
            rules=rule_summary(con, run_id, code, options.example_rows),
        )
        text, html = _render("district", **context)
        subject = (
            f"{prefix} {d['district_name']} ({code}): {d['errors']} blocking error(s), "
            f"{d['warnings']} warning(s) in your files"
        )
        alert_id = "district-" + safe_id(code)
        alerts.append(
            Alert(
                alert_id,
                DISTRICT,
                code,
                [d["contact"]],
                header_safe(subject),
                build_message(
                    run_id=run_id,
                    alert_id=alert_id,
                    smtp=smtp,
                    recipients=[d["contact"]],
                    subject=subject,
                    text=text,
                    html=html,
                    attachments=attached,
                ),
                _contact(smtp),
            )
        )
    return alerts
