"""Compose the data-quality e-mails of one run from its `audit` rows (DATA_SPEC section 2).

- one message to the state recipients with the whole picture: files, districts, rules,
  counts by rule and by district, a few example rows with their line numbers, what to
  do for each rule (the issue messages are written as instructions), the districts that
  could not be told (no usable `data_contact_email`) and the issues that belong to no
  district (whole-file problems, unrecognised file names);
- one message to each affected district's `data_contact_email` (latest directory
  version) about that district's own rows only: every query below that feeds a district
  message filters on its `district_code`, so nothing of another district (code, name,
  rows, statewide counts) can reach it.

Each message has a plain-text part, an HTML part (Jinja2, autoescaped) and the failing
rows as a CSV attachment (CSV-injection safe).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import unicodedata
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any, Sequence

import duckdb
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from .config import AlertOptions, SmtpSettings, valid_address

TEMPLATES = Path(__file__).resolve().parent / "templates"

STATE = "state"
DISTRICT = "district"

ATTACHMENT_COLUMNS = (
    "file_name", "family", "school_year", "district_code", "line", "rule", "severity",
    "column_name", "value", "message", "quarantined_row",
)

_env = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=lambda name: bool(name) and name.endswith(".html.j2"),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass
class Alert:
    """One composed message, ready for the outbox."""

    alert_id: str
    scope: str  # "state" | "district"
    district_code: str | None
    recipients: list[str]
    subject: str
    message: EmailMessage


# ------------------------------------------------------------------------ small helpers


def csv_safe(value: Any) -> str:
    """A cell a spreadsheet will not run as a formula (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# control, format (zero-width, bidi overrides), line and paragraph separators, and
# code points that are not characters
_NOT_IN_A_HEADER = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def safe_id(code: str) -> str:
    """A district code as it can stand in a file name and a Message-ID: as is when it is
    ASCII letters and digits (every valid code is), else a digest, so two different codes
    never share an id."""
    if re.fullmatch(r"[0-9A-Za-z]{1,32}", code or "", flags=re.ASCII):
        return code
    import hashlib

    return "x" + hashlib.sha256(str(code).encode("utf-8", "surrogatepass")).hexdigest()[:16]


def header_safe(text: str) -> str:
    """One line of printable text for a header: every character that breaks a line for
    Python, e-mail or a terminal (CR, LF, U+0085, U+2028, U+2029, ...) and every other
    control or invisible format character becomes a space; runs of spaces collapse."""
    cleaned = "".join(" " if unicodedata.category(c) in _NOT_IN_A_HEADER else c for c in str(text))
    return " ".join(cleaned.split())


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]) -> list[dict]:
    cur = con.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    rows = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
    ).fetchall()
    return bool(rows[0][0])


def _where(district_code: str | None) -> tuple[str, list]:
    """The filter of every query: the run, and for a district message its code only."""
    if district_code is None:
        return "", []
    return " and district_code = ?", [district_code]


def _row_content(row_json: str | None) -> str:
    """The quarantined row as the district sent it (internal columns dropped)."""
    if not row_json:
        return ""
    try:
        data = json.loads(row_json)
    except ValueError:
        return ""
    return json.dumps({k: v for k, v in data.items() if not k.startswith("_") and "__" not in k}, ensure_ascii=False)


# ------------------------------------------------------------------------- the facts


def latest_directory(con: duckdb.DuckDBPyConnection) -> dict[str, dict]:
    """district_code -> name and contact from the latest directory version
    (the `raw.districts` row with the greatest `_received_seq` per district)."""
    if not _table_exists(con, "raw", "districts"):
        return {}
    rows = _rows(
        con,
        """
        select district_code, district_name, data_contact_email
        from raw.districts
        qualify row_number() over (partition by district_code order by _received_seq desc, _line desc) = 1
        """,
        [],
    )
    return {r["district_code"]: r for r in rows}


def _rule_summary(con, run_id: str, district_code: str | None, example_rows: int) -> list[dict]:
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
                partition by rule, severity order by file_name nulls last, line nulls first, district_code, column_name
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


def _files(con, run_id: str, district_code: str | None) -> list[dict]:
    """The files of the run with their counts; for a district only the files it had
    issues or rows in, with its own rows only."""
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
            order by 1
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
        order by 1
        """,
        [run_id, district_code, run_id, district_code],
    )


def attachment_rows(con, run_id: str, district_code: str | None, limit: int) -> tuple[list[list[str]], int]:
    """The failing rows (issues, with the quarantined row content), CSV-safe; and
    how many there are in all."""
    where, extra = _where(district_code)
    total = con.execute(f"select count(*) from audit.issues where run_id = ?{where}", [run_id, *extra]).fetchall()[0][0]
    qwhere = " and i.district_code = ?" if district_code is not None else ""
    rows = con.execute(
        f"""
        select i.file_name, i.family, i.school_year, i.district_code, i.line, i.rule, i.severity,
               i.column_name, i.value, i.message, q.row_json
        from audit.issues i
        left join audit.quarantine_rows q
          on q.run_id = i.run_id and q.file_id = i.file_id and q.line = i.line
         and q.district_code is not distinct from i.district_code
        where i.run_id = ?{qwhere}
        order by i.severity, i.file_name nulls last, i.line nulls first, i.rule, i.column_name
        limit ?
        """,
        [run_id, *extra, limit],
    ).fetchall()
    out = []
    for r in rows:
        values = list(r[:-1]) + [_row_content(r[-1])]
        out.append([csv_safe(v) for v in values])
    return out, int(total)


def csv_bytes(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(ATTACHMENT_COLUMNS)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8-sig")  # the BOM lets spreadsheets read UTF-8


# --------------------------------------------------------------------------- messages


def _render(name: str, **context) -> tuple[str, str]:
    return _env.get_template(f"{name}.txt.j2").render(**context), _env.get_template(f"{name}.html.j2").render(**context)


def build_message(
    *, run_id: str, alert_id: str, smtp: SmtpSettings, recipients: list[str], subject: str, text: str, html: str,
    attachment: tuple[str, bytes] | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = header_safe(subject)
    msg["From"] = smtp.sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=True)
    domain = smtp.sender.rpartition("@")[2] or "localhost"
    msg["Message-ID"] = f"<{run_id}.{alert_id}@{domain}>"  # stable: a resend is recognisable as the same mail
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Roadmap-Run-Id"] = run_id
    msg["X-Roadmap-Alert-Id"] = alert_id
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    if attachment:
        name, data = attachment
        # text/csv; charset=utf-8 (with a BOM, so spreadsheets read the accents), base64
        # so that long lines and quoted line breaks survive every mail server
        msg.add_attachment(data.decode("utf-8"), subtype="csv", charset="utf-8", cte="base64", filename=name)
    return msg


def _run_row(con, run_id: str) -> dict:
    rows = _rows(con, "select * from audit.runs where run_id = ?", [run_id])
    return rows[0] if rows else {"run_id": run_id, "started_at": None, "landing_dir": None}


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def compose_run_alerts(
    con: duckdb.DuckDBPyConnection, run_id: str, smtp: SmtpSettings, options: AlertOptions
) -> list[Alert]:
    """The messages of one run: none when the run had no issue."""
    counts = con.execute(
        "select count(*) filter (where severity = 'error'), count(*) filter (where severity = 'warning') "
        "from audit.issues where run_id = ?",
        [run_id],
    ).fetchall()[0]
    errors, warnings = int(counts[0]), int(counts[1])
    if errors + warnings == 0:
        return []
    directory = latest_directory(con)
    run_row = _run_row(con, run_id)
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
        select coalesce(file_name, '(checks after loading)') as file_name, rule, severity, any_value(message) as message,
               count(*) as n
        from audit.issues where run_id = ? and district_code is null
        group by all order by severity, file_name, rule
        """,
        [run_id],
    )

    alerts: list[Alert] = []
    base = {"run_id": run_id, "started": _when(run_row.get("started_at")), "prefix": prefix}

    # ---------------------------------------------------------------- state message
    if smtp.state_recipients:
        rows, total = attachment_rows(con, run_id, None, options.max_attachment_rows)
        context = dict(
            base,
            errors=errors,
            warnings=warnings,
            files=_files(con, run_id, None),
            rules=_rule_summary(con, run_id, None, options.example_rows),
            districts=district_list,
            names={code: (d["district_name"] or "") for code, d in districts.items()},
            no_contact=[d for d in district_list if not d["contact"]],
            told=[d for d in district_list if d["contact"]],
            unattributed=unattributed,
            attachment_rows=len(rows),
            attachment_total=total,
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
                "state", STATE, None, recipients, header_safe(subject),
                build_message(
                    run_id=run_id, alert_id="state", smtp=smtp, recipients=recipients, subject=subject, text=text,
                    html=html, attachment=(f"roadmap-issues-{run_id}-state.csv", csv_bytes(rows)),
                ),
            )
        )

    # ------------------------------------------------------------ district messages
    for d in district_list:
        if not d["contact"]:
            continue
        code = d["district_code"]
        rows, total = attachment_rows(con, run_id, code, options.max_attachment_rows)
        context = dict(
            base,
            district_code=code,
            district_name=d["district_name"],
            errors=d["errors"],
            warnings=d["warnings"],
            files=_files(con, run_id, code),
            rules=_rule_summary(con, run_id, code, options.example_rows),
            attachment_rows=len(rows),
            attachment_total=total,
        )
        text, html = _render("district", **context)
        subject = (
            f"{prefix} {d['district_name']} ({code}): {d['errors']} blocking error(s), "
            f"{d['warnings']} warning(s) in your files"
        )
        alert_id = "district-" + safe_id(code)
        alerts.append(
            Alert(
                alert_id, DISTRICT, code, [d["contact"]], header_safe(subject),
                build_message(
                    run_id=run_id, alert_id=alert_id, smtp=smtp, recipients=[d["contact"]], subject=subject,
                    text=text, html=html, attachment=(f"roadmap-issues-{run_id}-{code}.csv", csv_bytes(rows)),
                ),
            )
        )
    return alerts


def compose_failure_alert(
    run_id: str, error: str, smtp: SmtpSettings, options: AlertOptions, *, warehouse: str, started: dt.datetime | None = None
) -> Alert | None:
    """The message to the state recipients when a run itself failed."""
    if not smtp.state_recipients:
        return None
    text, html = _render(
        "failed_run", run_id=run_id, started=_when(started), prefix=options.subject_prefix,
        error=smtp.redact(error), warehouse=warehouse,
    )
    subject = f"{options.subject_prefix} nightly run {run_id} FAILED"
    recipients = list(smtp.state_recipients)
    return Alert(
        "run-failed", STATE, None, recipients, header_safe(subject),
        build_message(run_id=run_id, alert_id="run-failed", smtp=smtp, recipients=recipients, subject=subject,
                      text=text, html=html),
    )
