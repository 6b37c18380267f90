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
    "column_name", "value", "message", "held_back",
)
# the held-back rows, one CSV per family: these columns, then the family's own columns
HELD_BACK_COLUMNS = ("file_name", "line", "issues_on_this_row")
HELD_BACK_WITHOUT_ISSUE = "none: held back with the district's other rows of this file"

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
    state_contact: dict | None = None  # {"name", "email"} named in the message (re-checked at send time)


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
    """The issues of the run (one CSV row per issue, whether its row is held back), CSV-safe;
    and how many there are in all."""
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
        order by i.severity, i.file_name nulls last, i.line nulls first, i.rule, i.column_name
        limit ?
        """,
        [run_id, run_id, *extra, limit],
    ).fetchall()
    return [[csv_safe(v) for v in r] for r in rows], int(total)


def csv_bytes(rows: list[list[str]], header: Sequence[str] = ATTACHMENT_COLUMNS) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([csv_safe(h) for h in header])
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8-sig")  # the BOM lets spreadsheets read UTF-8


def _family_columns(key_lists: list[list[str]]) -> list[str]:
    """The columns of a family's rows as the district sent them (first-seen order;
    internal columns dropped)."""
    out: list[str] = []
    for keys in key_lists:
        for k in keys or ():
            if k not in out and not k.startswith("_") and "__" not in k:
                out.append(k)
    return out


def held_back_attachments(
    con, run_id: str, district_code: str | None, limit: int
) -> list[tuple[str, list[str], list[list[str]], int]]:
    """The rows held back in quarantine, one table per family, each row with the columns
    of its family as the district sent them (CSV-safe), the file and line, and the issues
    found on that row. [(family, header, rows, total rows of the family)]."""
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
        columns = _family_columns(sorted(key_lists, key=len, reverse=True))
        values = ", ".join(
            "json_extract_string(q.row_json, '$.\"' || ? || '\"')" for _ in columns
        )
        rows = con.execute(
            f"""
            with issues as (
                select file_id, line, district_code,
                       string_agg(rule || coalesce(' (' || column_name || ')', '') || ': ' || message, ' | '
                                  order by rule, column_name) as issues
                from audit.issues where run_id = ? and line is not null group by all
            )
            select coalesce(f.file_name, q.file_id), q.line, coalesce(i.issues, ?){', ' + values if values else ''}
            from audit.quarantine_rows q
            left join audit.files f on f.file_id = q.file_id
            left join issues i on i.file_id = q.file_id and i.line = q.line
                 and i.district_code is not distinct from q.district_code
            where q.run_id = ? and q.family = ?{qwhere}
            order by 1, q.line
            limit ?
            """,
            [run_id, HELD_BACK_WITHOUT_ISSUE, *columns, run_id, family, *extra, limit],
        ).fetchall()
        out.append((family, [*HELD_BACK_COLUMNS, *columns], [[csv_safe(v) for v in r] for r in rows], int(total)))
    return out


# --------------------------------------------------------------------------- messages


def _render(name: str, **context) -> tuple[str, str]:
    return _env.get_template(f"{name}.txt.j2").render(**context), _env.get_template(f"{name}.html.j2").render(**context)


def build_message(
    *, run_id: str, alert_id: str, smtp: SmtpSettings, recipients: list[str], subject: str, text: str, html: str,
    attachment: tuple[str, bytes] | None = None, attachments: Sequence[tuple[str, bytes]] = (),
) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = header_safe(subject)
    # From and Reply-To are set again from the settings of the moment the message is sent
    msg["From"] = smtp.sender or f"roadmap-warehouse@{smtp.message_domain}"
    if smtp.reply_to:
        msg["Reply-To"] = smtp.reply_to
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = f"<{run_id}.{alert_id}@{smtp.message_domain}>"  # stable: a resend is recognisable as the same mail
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Roadmap-Run-Id"] = run_id
    msg["X-Roadmap-Alert-Id"] = alert_id
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    for name, data in ([attachment] if attachment else []) + list(attachments):
        # text/csv; charset=utf-8 (with a BOM, so spreadsheets read the accents), base64
        # so that long lines and quoted line breaks survive every mail server
        msg.add_attachment(data.decode("utf-8"), subtype="csv", charset="utf-8", cte="base64", filename=name)
    return msg


def _contact(smtp: SmtpSettings) -> dict | None:
    if not (smtp.state_contact_name or smtp.state_contact_email):
        return None
    return {"name": smtp.state_contact_name or "", "email": smtp.state_contact_email or ""}


def _attachments(con, run_id: str, district_code: str | None, label: str, limit: int) -> tuple[list, dict]:
    """The CSV files of one message, and what the text says about them."""
    rows, total = attachment_rows(con, run_id, district_code, limit)
    files = [(f"roadmap-issues-{run_id}-{label}.csv", csv_bytes(rows))]
    held = []
    for family, header, family_rows, family_total in held_back_attachments(con, run_id, district_code, limit):
        name = f"roadmap-held-back-{run_id}-{label}-{family}.csv"
        files.append((name, csv_bytes(family_rows, header)))
        held.append({"family": family, "file": name, "rows": len(family_rows), "total": family_total})
    info = {
        "issues_file": files[0][0], "attachment_rows": len(rows), "attachment_total": total,
        "held_back_files": held, "held_back_total": sum(h["total"] for h in held),
    }
    return files, info


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
        files, info = _attachments(con, run_id, None, "state", options.max_attachment_rows)
        context = dict(
            base,
            **info,
            errors=errors,
            warnings=warnings,
            files=_files(con, run_id, None),
            rules=_rule_summary(con, run_id, None, options.example_rows),
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
                "state", STATE, None, recipients, header_safe(subject),
                build_message(
                    run_id=run_id, alert_id="state", smtp=smtp, recipients=recipients, subject=subject, text=text,
                    html=html, attachments=files,
                ),
            )
        )

    # ------------------------------------------------------------ district messages
    for d in district_list:
        if not d["contact"]:
            continue
        code = d["district_code"]
        files, info = _attachments(con, run_id, code, code, options.max_attachment_rows)
        context = dict(
            base,
            **info,
            contact=_contact(smtp),
            district_code=code,
            district_name=d["district_name"],
            errors=d["errors"],
            warnings=d["warnings"],
            files=_files(con, run_id, code),
            rules=_rule_summary(con, run_id, code, options.example_rows),
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
                    text=text, html=html, attachments=files,
                ),
                _contact(smtp),
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
