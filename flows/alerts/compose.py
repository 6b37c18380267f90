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
import email.contentmanager
import email.generator
import email.policy
import functools
import io
import random
import re
import sys
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

import duckdb
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ..ingest.latest_submission import latest_directory_sql
from .config import AlertOptions, SmtpSettings, valid_address

TEMPLATES = Path(__file__).resolve().parent / "templates"

STATE = "state"
DISTRICT = "district"

ATTACHMENT_COLUMNS = (
    "file_name",
    "family",
    "school_year",
    "district_code",
    "line",
    "rule",
    "severity",
    "column_name",
    "value",
    "message",
    "held_back",
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
    auto_reload=False,  # the templates are part of the code: no stat of each file for each message
)


@dataclass
class Alert:
    """One composed message, ready for the outbox."""

    alert_id: str
    scope: str  # "state" | "district"
    district_code: str | None
    recipients: list[str]
    subject: str
    message: EmailMessage | bytes  # bytes: as written to the outbox
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
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    rows = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
    ).fetchall()
    return bool(rows[0][0])


# ------------------------------------------------------------------------- the facts
#
# Every fact of the messages comes from a few grouped queries over a SCOPE: the whole run
# under one key (the state's message), or the run's issues of a group of districts, one
# key per district (their messages). A district's facts are grouped by its own code, so
# nothing of another district reaches its message; the cost is per issue, not per district.

# Districts whose messages are composed from one set of grouped queries; their messages
# are written to the outbox before the next group is read, so memory does not grow with
# the number of districts. A group also stops at about CHUNK_ROWS issue and held-back rows.
DISTRICT_CHUNK = 500
CHUNK_ROWS = 200_000


class _Scope:
    """The issues a grouped query reads, and its group key (`_key`)."""

    def __init__(self, codes: Sequence[str] | None):
        self.codes = list(codes) if codes is not None else None

    def key(self, alias: str = "") -> str:
        return f"{alias}district_code" if self.codes is not None else "cast(null as varchar)"

    def where(self, alias: str = "") -> str:
        return f" and {alias}district_code in (select unnest(?::varchar[]))" if self.codes is not None else ""

    @property
    def params(self) -> list:
        return [self.codes] if self.codes is not None else []


def _by_key(rows: list[dict]) -> dict[str | None, list[dict]]:
    out: dict[str | None, list[dict]] = {}
    for r in rows:
        out.setdefault(r.pop("_key"), []).append(r)
    return out


def latest_directory(con: duckdb.DuckDBPyConnection) -> dict[str, dict]:
    """district_code -> name and contact from the latest directory version
    (the `raw.districts` row with the greatest `_received_seq` per district: latest
    submission wins, flows/ingest/latest_submission.py)."""
    if not _table_exists(con, "raw", "districts"):
        return {}
    rows = _rows(con, latest_directory_sql(), [])
    return {r["district_code"]: r for r in rows}


def _rule_summaries(con, run_id: str, scope: _Scope, example_rows: int) -> dict[str | None, list[dict]]:
    """Per key: the rules with their counts, up to three distinct messages (what to do)
    and the first `example_rows` issues of each as examples."""
    rules = _by_key(
        _rows(
            con,
            f"""
        select {scope.key()} as _key, rule, severity, count(*) as n, count(distinct district_code) as districts,
               count(distinct file_name) as files,
               list(distinct message order by message)[1:3] as messages,
               count(distinct message) as n_messages
        from audit.issues where run_id = ?{scope.where()}
        group by _key, rule, severity
        order by _key, severity, n desc, rule
        """,
            [run_id, *scope.params],
        )
    )
    examples = _rows(
        con,
        f"""
        select _key, rule, severity, file_name, line, district_code, column_name, value
        from (
            select *, {scope.key()} as _key, row_number() over (
                partition by {scope.key()}, rule, severity
                order by file_name nulls last, line nulls first, district_code, column_name, value, message
            ) as rn
            from audit.issues where run_id = ?{scope.where()}
        )
        where rn <= ?
        order by _key, rule, severity, rn
        """,
        [run_id, *scope.params, example_rows],
    )
    by_rule: dict[tuple, list[dict]] = {}
    for e in examples:
        by_rule.setdefault((e.pop("_key"), e["rule"], e["severity"]), []).append(e)
    for key, key_rules in rules.items():
        for r in key_rules:
            r["examples"] = by_rule.get((key, r["rule"], r["severity"]), [])
            r["more_messages"] = r["n_messages"] - len(r["messages"])
    return rules


def _state_files(con, run_id: str) -> list[dict]:
    """The files of the run with their counts (the state's message)."""
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


def _district_files(con, run_id: str, scope: _Scope) -> dict[str | None, list[dict]]:
    """Per district: the files it had issues in, with its own rows and counts only."""
    return _by_key(
        _rows(
            con,
            f"""
        with counts as (
            select district_code, file_id, any_value(file_name) as file_name, any_value(family) as family,
                   any_value(school_year) as school_year,
                   count(*) filter (where severity = 'error') as errors,
                   count(*) filter (where severity = 'warning') as warnings
            from audit.issues where run_id = ?{scope.where()} group by district_code, file_id
        ),
        rows as (
            select district_code, file_id, sum(rows_loaded) as rows_loaded, sum(rows_quarantined) as rows_quarantined
            from audit.load_counts where run_id = ?{scope.where()} group by district_code, file_id
        )
        select c.district_code as _key,
               coalesce(c.file_name, f.file_name, '(checks after loading)') as file_name,
               coalesce(c.family, f.family) as family, coalesce(c.school_year, f.school_year) as school_year,
               r.rows_loaded, r.rows_quarantined,
               coalesce(c.errors, 0) as errors, coalesce(c.warnings, 0) as warnings
        from counts c
        left join rows r on r.district_code = c.district_code and r.file_id is not distinct from c.file_id
        left join audit.files f on f.file_id = c.file_id
        order by _key, 2, c.file_id
        """,
            [run_id, *scope.params, run_id, *scope.params],
        )
    )


def _attachment_rows(con, run_id: str, scope: _Scope, limit: int) -> dict[str | None, tuple[list[list[str]], int]]:
    """Per key: its first `limit` issues (one CSV row per issue, whether its row is held
    back), CSV-safe; and how many there are in all."""
    rows = con.execute(
        f"""
        with held as (
            select distinct file_id, line, district_code from audit.quarantine_rows where run_id = ?{scope.where()}
        ),
        numbered as (
            select {scope.key("i.")} as _key,
                   i.file_name, i.family, i.school_year, i.district_code, i.line, i.rule, i.severity,
                   i.column_name, i.value, i.message,
                   case when h.file_id is not null then 'yes' when i.severity = 'error' then 'yes' else 'no' end
                       as held_back,
                   row_number() over (
                       partition by {scope.key("i.")}
                       order by i.severity, i.file_name nulls last, i.line nulls first, i.rule, i.column_name,
                                i.district_code, i.value, i.message
                   ) as rn,
                   count(*) over (partition by {scope.key("i.")}) as total
            from audit.issues i
            left join held h
              on h.file_id = i.file_id and h.line = i.line and h.district_code is not distinct from i.district_code
            where i.run_id = ?{scope.where("i.")}
        )
        select _key, total, file_name, family, school_year, district_code, line, rule, severity,
               column_name, value, message, held_back
        from numbered where rn <= ? order by _key, rn
        """,
        [run_id, *scope.params, run_id, *scope.params, limit],
    ).fetchall()
    out: dict[str | None, tuple[list[list[str]], int]] = {}
    for key, total, *values in rows:
        out.setdefault(key, ([], int(total)))[0].append([csv_safe(v) for v in values])
    return out


def csv_bytes(rows: list[list[str]], header: Sequence[str] = ATTACHMENT_COLUMNS) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([csv_safe(h) for h in header])
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8-sig")  # the BOM lets spreadsheets read UTF-8


def _family_columns(key_lists: list[list[str]]) -> list[str]:
    """The columns of a family's rows as the district sent them (first-seen order, the
    longest header first; internal columns dropped)."""
    out: list[str] = []
    for keys in sorted(key_lists, key=lambda k: (-len(k or ()), list(k or ()))):
        for k in keys or ():
            if k not in out and not k.startswith("_") and "__" not in k:
                out.append(k)
    return out


def _held_back(
    con, run_id: str, scope: _Scope, limit: int
) -> dict[str | None, list[tuple[str, list[str], list[list[str]], int]]]:
    """Per key: the rows held back in quarantine, one table per family, each row with the
    columns of its family as that key's districts sent them (CSV-safe), the file and line,
    and the issues found on that row. {key: [(family, header, rows, total rows of the family)]}."""
    families = con.execute(
        f"""
        select {scope.key()} as _key, family, count(*), list(distinct json_keys(row_json))
        from audit.quarantine_rows where run_id = ?{scope.where()}
        group by _key, family order by _key, family
        """,
        [run_id, *scope.params],
    ).fetchall()
    columns: dict[tuple, list[str]] = {}  # (key, family) -> its columns
    union: dict[str, list[str]] = {}  # family -> the columns of any key (one query per family)
    for key, family, _, key_lists in families:
        cols = columns[(key, family)] = _family_columns(key_lists)
        seen = union.setdefault(family, [])
        seen.extend(c for c in cols if c not in seen)
    rows: dict[tuple, list[list[str]]] = {}
    for family, family_columns in union.items():
        position = {c: i for i, c in enumerate(family_columns)}
        found = con.execute(
            f"""
            with issues as (
                select file_id, line, district_code,
                       string_agg(rule || coalesce(' (' || column_name || ')', '') || ': ' || message, ' | '
                                  order by rule, column_name, message) as issues
                from audit.issues where run_id = ? and line is not null{scope.where()} group by all
            ),
            numbered as (
                select {scope.key("q.")} as _key, coalesce(f.file_name, q.file_id) as file_name, q.line,
                       coalesce(i.issues, ?) as issues,
                       json_extract_string(q.row_json, ?::varchar[]) as vals,
                       row_number() over (
                           partition by {scope.key("q.")}
                           order by coalesce(f.file_name, q.file_id), q.line, q.file_id, q.district_code
                       ) as rn
                from audit.quarantine_rows q
                left join audit.files f on f.file_id = q.file_id
                left join issues i on i.file_id = q.file_id and i.line = q.line
                     and i.district_code is not distinct from q.district_code
                where q.run_id = ? and q.family = ?{scope.where("q.")}
            )
            select _key, file_name, line, issues, vals from numbered where rn <= ? order by _key, rn
            """,
            [
                run_id,
                *scope.params,
                HELD_BACK_WITHOUT_ISSUE,
                ['$."' + c + '"' for c in family_columns],
                run_id,
                family,
                *scope.params,
                limit,
            ],
        ).fetchall()
        for key, file_name, line, issues, vals in found:
            wanted = columns[(key, family)]
            rows.setdefault((key, family), []).append(
                [csv_safe(file_name), csv_safe(line), csv_safe(issues), *(csv_safe(vals[position[c]]) for c in wanted)]
            )
    out: dict[str | None, list] = {}
    for key, family, total, _ in families:
        out.setdefault(key, []).append(
            (family, [*HELD_BACK_COLUMNS, *columns[(key, family)]], rows.get((key, family), []), int(total))
        )
    return out


@dataclass
class _Facts:
    """Everything one set of grouped queries says about the keys of its scope."""

    rules: dict
    attachments: dict
    held_back: dict
    files: dict

    @classmethod
    def read(cls, con, run_id: str, scope: _Scope, options: AlertOptions) -> _Facts:
        return cls(
            rules=_rule_summaries(con, run_id, scope, options.example_rows),
            attachments=_attachment_rows(con, run_id, scope, options.max_attachment_rows),
            held_back=_held_back(con, run_id, scope, options.max_attachment_rows),
            files=_district_files(con, run_id, scope) if scope.codes is not None else {},
        )

    def attached(self, run_id: str, key: str | None, label: str) -> tuple[list, dict]:
        """The CSV files of one message, and what the text says about them."""
        rows, total = self.attachments.get(key, ([], 0))
        files = [(f"roadmap-issues-{run_id}-{label}.csv", csv_bytes(rows))]
        held = []
        for family, header, family_rows, family_total in self.held_back.get(key, []):
            name = f"roadmap-held-back-{run_id}-{label}-{family}.csv"
            files.append((name, csv_bytes(family_rows, header)))
            held.append({"family": family, "file": name, "rows": len(family_rows), "total": family_total})
        info = {
            "issues_file": files[0][0],
            "attachment_rows": len(rows),
            "attachment_total": total,
            "held_back_files": held,
            "held_back_total": sum(h["total"] for h in held),
        }
        return files, info


# --------------------------------------------------------------------------- messages


def _render(name: str, **context) -> tuple[str, str]:
    return _env.get_template(f"{name}.txt.j2").render(**context), _env.get_template(f"{name}.html.j2").render(**context)


def build_message(
    *,
    run_id: str,
    alert_id: str,
    smtp: SmtpSettings,
    recipients: list[str],
    subject: str,
    text: str,
    html: str,
    attachment: tuple[str, bytes] | None = None,
    attachments: Sequence[tuple[str, bytes]] = (),
) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = header_safe(subject)
    # From and Reply-To are set again from the settings of the moment the message is sent
    msg["From"] = smtp.sender or f"roadmap-warehouse@{smtp.message_domain}"
    if smtp.reply_to:
        msg["Reply-To"] = smtp.reply_to
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = (
        f"<{run_id}.{alert_id}@{smtp.message_domain}>"  # stable: a resend is recognisable as the same mail
    )
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


# ------------------------------------------------------- the bytes of a run's message
#
# `build_message` with the email package costs 5-10 ms a message (it parses every
# header it sets, then parses and folds them again to write them). `message_bytes`
# writes the same bytes directly: the parts' bodies are encoded by the email package's
# own function, and every header that is not plain ASCII fitting on one line is folded
# by the email package; anything else unusual goes through `build_message`. The
# equality of the two is what tests/test_alert_composition.py checks.

_POLICY = email.policy.default
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_TEXT = re.compile(r"[!-~]+(?: [!-~]+)*\Z")
_PLAIN_ADDRESS = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\Z")
_PLAIN_ID = re.compile(r"<[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*>\Z")
_PLAIN_FILENAME = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\Z")
_BOUNDARY_SHAPE = "=" * 15 + "0" * 19 + "=="  # what email.generator makes: 15 '=', 19 digits, '=='


def _fold(name: str, value: str) -> bytes:
    """The header as the email package writes it."""
    return _POLICY.fold_binary(name, _POLICY.header_store_parse(name, value)[1])


@functools.lru_cache(maxsize=256)
def _fold_cached(name: str, value: str) -> bytes:
    return _fold(name, value)


def _header(name: str, value: str, plain: re.Pattern = _PLAIN_TEXT) -> bytes:
    if (
        len(name) + 2 + len(value) <= _POLICY.max_line_length
        and "=?" not in value
        and all(plain.match(v) for v in (value.split(", ") if plain is _PLAIN_ADDRESS else [value]))
    ):
        return f"{name}: {value}\n".encode("ascii")
    return _fold(name, value)


@functools.lru_cache(maxsize=8)
def _multipart_header(subtype: str) -> bytes:
    return _fold("Content-Type", f'multipart/{subtype}; boundary="{_BOUNDARY_SHAPE}"')


def _text_part(
    content: str, subtype: str, *, cte: str | None = None, filename: str | None = None, mime_version: bool = True
) -> bytes:
    cte, payload = email.contentmanager._encode_text(content, "utf-8", cte, _POLICY)
    head = _fold_cached("Content-Type", f'text/{subtype}; charset="utf-8"') + _fold_cached(
        "Content-Transfer-Encoding", cte
    )
    if filename is not None:
        head += _header("Content-Disposition", f'attachment; filename="{filename}"')
    if mime_version:
        head += b"MIME-Version: 1.0\n"
    body = re.sub(r"\r\n|\r", "\n", payload).encode("ascii", "surrogateescape")
    return head + b"\n" + body


def _multipart(subtype: str, parts: list[bytes]) -> tuple[bytes, bytes]:
    """(its Content-Type header, its body) with a boundary found in none of the parts."""
    text = b"\n".join(parts)
    # as email.generator makes it, without compiling a pattern for each message
    boundary = "=" * 15 + f"{random.randrange(sys.maxsize):019d}" + "=="
    if b"--" + boundary.encode() in text:  # (never seen) let the email package find one that is not
        boundary = email.generator.Generator._make_boundary(text.decode("ascii", "surrogateescape"))
    if len(boundary) != len(_BOUNDARY_SHAPE):  # the rare retry makes a longer one: fold it afresh
        header = _fold("Content-Type", f'multipart/{subtype}; boundary="{boundary}"')
    else:
        header = _multipart_header(subtype).replace(_BOUNDARY_SHAPE.encode(), boundary.encode())
    mark = b"--" + boundary.encode()
    body = mark + b"\n" + (b"\n" + mark + b"\n").join(parts) + b"\n" + mark + b"--\n"
    return header, body


def message_bytes(
    *,
    run_id: str,
    alert_id: str,
    smtp: SmtpSettings,
    recipients: list[str],
    subject: str,
    text: str,
    html: str,
    attachments: Sequence[tuple[str, bytes]],
) -> bytes:
    """The bytes of `build_message(...)` (with attachments), written directly."""
    sender = smtp.sender or f"roadmap-warehouse@{smtp.message_domain}"
    message_id = f"<{run_id}.{alert_id}@{smtp.message_domain}>"
    plain = (
        attachments
        and all(_PLAIN_FILENAME.match(name) for name, _ in attachments)
        and all(_PLAIN_ADDRESS.match(a) for a in [sender, *recipients, *([smtp.reply_to] if smtp.reply_to else [])])
        and _PLAIN_ID.match(message_id)
        and _PLAIN_TEXT.match(run_id)
        and _PLAIN_TEXT.match(alert_id)
    )
    if not plain:
        return bytes(
            build_message(
                run_id=run_id,
                alert_id=alert_id,
                smtp=smtp,
                recipients=recipients,
                subject=subject,
                text=text,
                html=html,
                attachments=attachments,
            )
        )
    head = [
        _header("Subject", header_safe(subject)),
        _fold_cached("From", sender),
        *([_fold_cached("Reply-To", smtp.reply_to)] if smtp.reply_to else []),
        _header("To", ", ".join(recipients), _PLAIN_ADDRESS),
        _fold_cached("Date", formatdate(localtime=True)),
        _header("Message-ID", message_id, _PLAIN_ID),
        _fold_cached("Auto-Submitted", "auto-generated"),
        _fold_cached("X-Roadmap-Run-Id", run_id),
        _header("X-Roadmap-Alert-Id", alert_id),
        b"MIME-Version: 1.0\n",
    ]
    alternative_header, alternative_body = _multipart(
        "alternative", [_text_part(text, "plain", mime_version=False), _text_part(html, "html")]
    )
    mixed_header, mixed_body = _multipart(
        "mixed",
        [alternative_header + b"\n" + alternative_body]
        + [_text_part(data.decode("utf-8"), "csv", cte="base64", filename=name) for name, data in attachments],
    )
    return b"".join(head) + mixed_header + b"\n" + mixed_body


def _contact(smtp: SmtpSettings) -> dict | None:
    if not (smtp.state_contact_name or smtp.state_contact_email):
        return None
    return {"name": smtp.state_contact_name or "", "email": smtp.state_contact_email or ""}


def _run_row(con, run_id: str) -> dict:
    rows = _rows(con, "select * from audit.runs where run_id = ?", [run_id])
    return rows[0] if rows else {"run_id": run_id, "started_at": None, "landing_dir": None}


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def compose_run_alerts(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    smtp: SmtpSettings,
    options: AlertOptions,
    *,
    chunk_districts: int = DISTRICT_CHUNK,
    as_of: dt.date | None = None,
) -> Iterator[Alert]:
    """The messages of one run, one at a time (none when the run had no issue): the
    state's first, then each district's in the order of their codes. The facts of
    `chunk_districts` districts at a time are read by a few grouped queries; take each
    message as it comes (and let it go) to keep memory flat in the number of districts."""
    counts = con.execute(
        "select count(*) filter (where severity = 'error'), count(*) filter (where severity = 'warning') "
        "from audit.issues where run_id = ?",
        [run_id],
    ).fetchall()[0]
    errors, warnings = int(counts[0]), int(counts[1])
    if errors + warnings == 0:
        return
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
    del directory
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
    base = {"run_id": run_id, "started": _when(run_row.get("started_at")), "prefix": prefix}

    # ---------------------------------------------------------------- state message
    if smtp.state_recipients:
        facts = _Facts.read(con, run_id, _Scope(None), options)
        files, info = facts.attached(run_id, None, "state")
        context = dict(
            base,
            **info,
            errors=errors,
            warnings=warnings,
            files=_state_files(con, run_id),
            rules=facts.rules.get(None, []),
            districts=district_list,
            names={code: (d["district_name"] or "") for code, d in districts.items()},
            no_contact=[d for d in district_list if not d["contact"]],
            told=[d for d in district_list if d["contact"]],
            unattributed=unattributed,
            example_rows=options.example_rows,
            submissions=_outstanding(con, as_of),
        )
        del facts
        text, html = _render("state", **context)
        subject = (
            f"{prefix} run {run_id}: {errors} blocking error(s), {warnings} warning(s)"
            f" in {len([f for f in context['files'] if f['errors'] or f['warnings']])} file(s),"
            f" {len(district_list)} district(s)"
        )
        recipients = list(smtp.state_recipients)
        yield Alert(
            "state",
            STATE,
            None,
            recipients,
            header_safe(subject),
            message_bytes(
                run_id=run_id,
                alert_id="state",
                smtp=smtp,
                recipients=recipients,
                subject=subject,
                text=text,
                html=html,
                attachments=files,
            ),
        )
        del context, text, html, files

    # ------------------------------------------------------------ district messages
    told = [d for d in district_list if d["contact"]]
    held = (
        dict(
            con.execute(
                "select district_code, count(*) from audit.quarantine_rows where run_id = ? group by all", [run_id]
            ).fetchall()
        )
        if told
        else {}
    )
    for chunk in _chunks(told, held, max(1, int(chunk_districts)), options.max_attachment_rows):
        facts = _Facts.read(con, run_id, _Scope([d["district_code"] for d in chunk]), options)
        for d in chunk:
            code = d["district_code"]
            files, info = facts.attached(run_id, code, code)
            context = dict(
                base,
                **info,
                contact=_contact(smtp),
                district_code=code,
                district_name=d["district_name"],
                errors=d["errors"],
                warnings=d["warnings"],
                files=facts.files.get(code, []),
                rules=facts.rules.get(code, []),
            )
            text, html = _render("district", **context)
            subject = (
                f"{prefix} {d['district_name']} ({code}): {d['errors']} blocking error(s), "
                f"{d['warnings']} warning(s) in your files"
            )
            alert_id = "district-" + safe_id(code)
            yield Alert(
                alert_id,
                DISTRICT,
                code,
                [d["contact"]],
                header_safe(subject),
                message_bytes(
                    run_id=run_id,
                    alert_id=alert_id,
                    smtp=smtp,
                    recipients=[d["contact"]],
                    subject=subject,
                    text=text,
                    html=html,
                    attachments=files,
                ),
                _contact(smtp),
            )


def _outstanding(con, as_of: dt.date | None) -> dict | None:
    """The districts with yearly families missing or held back for a school year with a
    collection deadline (marts.submission_status, as of the run), for the state's message."""
    if not _table_exists(con, "marts", "submission_status"):
        return None
    from ..ingest.collection import outstanding_districts

    as_of = as_of or dt.date.today()
    rows = outstanding_districts(con, as_of)
    if not rows:
        return None
    return {
        "as_of": f"{as_of:%Y-%m-%d}",
        "rows": rows,
        "total": int(rows[0]["districts"]),
        "overdue": sum(1 for r in rows if r["overdue"]),
    }


def _chunks(districts: list[dict], held: dict, most: int, limit: int) -> Iterator[list[dict]]:
    """Consecutive groups of at most `most` districts and about CHUNK_ROWS rows of facts."""
    chunk: list[dict] = []
    rows = 0
    for d in districts:
        weight = min(d["errors"] + d["warnings"], limit) + min(held.get(d["district_code"], 0), limit * 8)
        if chunk and (len(chunk) >= most or rows + weight > CHUNK_ROWS):
            yield chunk
            chunk, rows = [], 0
        chunk.append(d)
        rows += weight
    if chunk:
        yield chunk


def compose_failure_alert(
    run_id: str,
    error: str,
    smtp: SmtpSettings,
    options: AlertOptions,
    *,
    warehouse: str,
    started: dt.datetime | None = None,
) -> Alert | None:
    """The message to the state recipients when a run itself failed."""
    if not smtp.state_recipients:
        return None
    text, html = _render(
        "failed_run",
        run_id=run_id,
        started=_when(started),
        prefix=options.subject_prefix,
        error=smtp.redact(error),
        warehouse=warehouse,
    )
    subject = f"{options.subject_prefix} nightly run {run_id} FAILED"
    recipients = list(smtp.state_recipients)
    return Alert(
        "run-failed",
        STATE,
        None,
        recipients,
        header_safe(subject),
        build_message(
            run_id=run_id,
            alert_id="run-failed",
            smtp=smtp,
            recipients=recipients,
            subject=subject,
            text=text,
            html=html,
        ),
    )
