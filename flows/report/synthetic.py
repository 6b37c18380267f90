"""A small synthetic warehouse with exactly the documented columns of the marts and
audit tables the report reads (docs/ARCHITECTURE.md). The report's tests, the
analysts' guide test and the screenshot in docs/ use it until a demo warehouse built
by the real pipeline is available.

It is deliberately awkward: tiny districts (counts under 10, a 0 denominator), a
district that did not report one year, districts with missing families, quarantined
rows, a file-level error, district names that start with ``=`` and ``@``, codes with a
leading zero, and negative changes.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from .config import catalog_from_config, load_config

YEARS = ("2022-23", "2023-24", "2024-25")

# code, name, type, isd_code, county, locale, base students
DISTRICTS: tuple[tuple[str, str, str, str, str, str, int], ...] = (
    ("50000", "Lakeshore Regional ISD", "ISD", "50000", "Macomb", "suburb", 320),
    ("33000", "Capital Area ISD", "ISD", "33000", "Ingham", "city", 460),
    ("20000", "North Woods ISD", "ISD", "20000", "Crawford", "rural", 140),
    ("50010", "Riverside Public Schools", "LEA", "50000", "Macomb", "suburb", 8200),
    ("50020", "Harbor Point Community Schools", "LEA", "50000", "Macomb", "suburb", 4100),
    ("50030", "Clinton Valley Schools", "LEA", "50000", "Macomb", "city", 21000),
    ("33010", "Capital City School District", "LEA", "33000", "Ingham", "city", 38000),
    ("33020", "Meadowbrook Schools", "LEA", "33000", "Ingham", "town", 2600),
    ("33030", "Cedar Ridge Schools", "LEA", "33000", "Eaton", "town", 1800),
    ("20010", "Pine Lake Area Schools", "LEA", "20000", "Crawford", "rural", 950),
    ("20020", "Au Sable Valley Schools", "LEA", "20000", "Oscoda", "rural", 420),
    ("20030", "Birch Hollow Township School District", "LEA", "20000", "Crawford", "rural", 8),
    ("20040", "Twin Rivers Schools", "LEA", "20000", "Roscommon", "rural", 1300),
    ("01010", "Alcona Shores Schools", "LEA", "20000", "Alcona", "rural", 700),
    ("50900", "@Home Virtual Academy", "PSA", "50000", "Macomb", "suburb", 600),
    ("33900", '=HYPERLINK("http://example.invalid","Click") Academy', "PSA", "33000", "Ingham", "city", 240),
    ("33910", "Lansing STEM Academy", "PSA", "33000", "Ingham", "city", 350),
    ("20900", "Northern Lights Charter Academy", "PSA", "20000", "Crawford", "town", 9),
)

# (district_code, school_year) -> families with no published rows
MISSING: dict[tuple[str, str], tuple[str, ...]] = {
    ("50020", "2022-23"): ("enrollment", "staffing", "devices", "connectivity", "pl_participation"),
    ("33020", "2024-25"): ("pl_participation",),
    ("20040", "2024-25"): ("connectivity",),
    ("33030", "2023-24"): ("devices",),
}

FAMILIES = ("enrollment", "staffing", "devices", "connectivity", "pl_participation")

DISTRICT_YEAR_COLUMNS: tuple[tuple[str, str], ...] = (
    ("k_district_year", "VARCHAR"),
    ("district_code", "VARCHAR"),
    ("school_year", "VARCHAR"),
    ("district_name", "VARCHAR"),
    ("isd_code", "VARCHAR"),
    ("district_type", "VARCHAR"),
    ("locale", "VARCHAR"),
    ("county", "VARCHAR"),
    ("student_count", "BIGINT"),
    ("student_devices", "BIGINT"),
    ("students_per_device", "DOUBLE"),
    ("teacher_device_coverage_pct", "DOUBLE"),
    ("aging_device_share_pct", "DOUBLE"),
    ("take_home_share_pct", "DOUBLE"),
    ("kbps_per_student", "DOUBLE"),
    ("meets_bandwidth_target", "BOOLEAN"),
    ("wifi_classrooms_covered_pct", "DOUBLE"),
    ("cost_per_mbps_usd", "DOUBLE"),
    ("home_internet_gap_pct", "DOUBLE"),
    ("hotspot_coverage_pct", "DOUBLE"),
    ("leader_pl_rate_pct", "DOUBLE"),
    ("teacher_pl_rate_pct", "DOUBLE"),
    ("tech_staff_pl_rate_pct", "DOUBLE"),
    ("pl_hours_face_to_face", "DOUBLE"),
    ("pl_hours_online", "DOUBLE"),
    ("pl_hours_blended", "DOUBLE"),
    ("tpack_samr_participants", "BIGINT"),
    ("pln_leader_participants", "BIGINT"),
    ("oer_participants", "BIGINT"),
    ("cbe_participants", "BIGINT"),
    ("skill_assessment_participants", "BIGINT"),
    ("data_complete", "BOOLEAN"),
    ("has_enrollment", "BOOLEAN"),
    ("has_staffing", "BOOLEAN"),
    ("has_devices", "BOOLEAN"),
    ("has_connectivity", "BOOLEAN"),
    ("has_pl_participation", "BOOLEAN"),
    ("teacher_count", "BIGINT"),
    ("leader_count", "BIGINT"),
    ("tech_staff_count", "BIGINT"),
    ("teacher_devices", "BIGINT"),
    ("leaders_in_pl", "BIGINT"),
    ("teachers_in_pl", "BIGINT"),
    ("tech_staff_in_pl", "BIGINT"),
    ("students_without_home_internet", "BIGINT"),
    ("hotspots_loaned", "BIGINT"),
)

_NON_STATE = {
    "k_district_year", "district_code", "district_name", "isd_code", "district_type",
    "locale", "county", "has_enrollment", "has_staffing", "has_devices",
    "has_connectivity", "has_pl_participation",
}
STATE_YEAR_COLUMNS: tuple[tuple[str, str], ...] = tuple(
    c for c in DISTRICT_YEAR_COLUMNS if c[0] not in _NON_STATE
) + (
    ("districts_in_directory", "BIGINT"),
    ("districts_reporting", "BIGINT"),
    ("districts_complete", "BIGINT"),
    ("districts_with_bandwidth_data", "BIGINT"),
    ("districts_meeting_bandwidth_target", "BIGINT"),
)

METRIC_VALUES_COLUMNS = (
    ("scope", "VARCHAR"), ("district_code", "VARCHAR"), ("school_year", "VARCHAR"),
    ("metric", "VARCHAR"), ("value", "DOUBLE"), ("previous_value", "DOUBLE"),
    ("change_from_previous_year", "DOUBLE"), ("target", "DOUBLE"), ("comparison", "VARCHAR"),
    ("meets_target", "BOOLEAN"),
)
OBJECTIVE_PROGRESS_COLUMNS = (
    ("objective_id", "VARCHAR"), ("metric", "VARCHAR"), ("school_year", "VARCHAR"),
    ("scope", "VARCHAR"), ("district_code", "VARCHAR"), ("value", "DOUBLE"),
    ("target", "DOUBLE"), ("meets_target", "BOOLEAN"), ("change_from_previous_year", "DOUBLE"),
)
OBJECTIVES_COLUMNS = (
    ("objective_id", "VARCHAR"), ("parent_id", "VARCHAR"), ("strategy_id", "VARCHAR"),
    ("strategy_title", "VARCHAR"), ("level", "VARCHAR"), ("objective_text", "VARCHAR"),
    ("sort_order", "BIGINT"), ("is_measured", "BOOLEAN"), ("metrics", "VARCHAR"),
    ("unmeasured_reason", "VARCHAR"),
)
DIM_DISTRICT_HISTORY_COLUMNS = (
    ("k_district_version", "VARCHAR"), ("district_code", "VARCHAR"), ("district_name", "VARCHAR"),
    ("district_type", "VARCHAR"), ("isd_code", "VARCHAR"), ("county", "VARCHAR"),
    ("locale", "VARCHAR"), ("data_contact_email", "VARCHAR"),
    ("valid_from_school_year", "VARCHAR"), ("valid_to_school_year", "VARCHAR"),
    ("is_current", "BOOLEAN"),
)
AUDIT_FILES_COLUMNS = (
    ("file_id", "VARCHAR"), ("file_name", "VARCHAR"), ("family", "VARCHAR"),
    ("school_year", "VARCHAR"), ("received_seq", "BIGINT"), ("received_at", "TIMESTAMP"),
    ("first_run_id", "VARCHAR"), ("size_bytes", "BIGINT"), ("archive_path", "VARCHAR"),
    ("status", "VARCHAR"), ("rows_read", "BIGINT"), ("rows_loaded", "BIGINT"),
    ("rows_quarantined", "BIGINT"),
)
AUDIT_ISSUES_COLUMNS = (
    ("run_id", "VARCHAR"), ("file_id", "VARCHAR"), ("file_name", "VARCHAR"), ("family", "VARCHAR"),
    ("school_year", "VARCHAR"), ("district_code", "VARCHAR"), ("line", "BIGINT"),
    ("rule", "VARCHAR"), ("severity", "VARCHAR"), ("column_name", "VARCHAR"),
    ("value", "VARCHAR"), ("message", "VARCHAR"),
)

# numerator, denominator of every ratio metric (internal columns of the generator)
_RATIOS = {
    "students_per_device": ("student_count", "student_devices", 1.0),
    "teacher_device_coverage_pct": ("teacher_devices", "teacher_count", 100.0),
    "aging_device_share_pct": ("_devices_over_5", "_devices_total", 100.0),
    "take_home_share_pct": ("_take_home", "student_devices", 100.0),
    "kbps_per_student": ("_bandwidth_mbps", "student_count", 1000.0),
    "cost_per_mbps_usd": ("_monthly_cost", "_bandwidth_mbps", 1.0),
    "home_internet_gap_pct": ("students_without_home_internet", "student_count", 100.0),
    "hotspot_coverage_pct": ("hotspots_loaned", "students_without_home_internet", 100.0),
    "leader_pl_rate_pct": ("leaders_in_pl", "leader_count", 100.0),
    "teacher_pl_rate_pct": ("teachers_in_pl", "teacher_count", 100.0),
    "tech_staff_pl_rate_pct": ("tech_staff_in_pl", "tech_staff_count", 100.0),
}
_FAMILY_COLUMNS = {
    "enrollment": ("student_count",),
    "staffing": ("teacher_count", "leader_count", "tech_staff_count"),
    "devices": ("student_devices", "teacher_devices", "_devices_over_5", "_devices_total", "_take_home"),
    "connectivity": ("_bandwidth_mbps", "_monthly_cost", "wifi_classrooms_covered_pct",
                     "students_without_home_internet", "hotspots_loaned"),
    "pl_participation": ("leaders_in_pl", "teachers_in_pl", "tech_staff_in_pl",
                         "pl_hours_face_to_face", "pl_hours_online", "pl_hours_blended",
                         "tpack_samr_participants", "pln_leader_participants",
                         "oer_participants", "cbe_participants", "skill_assessment_participants"),
}


def previous_school_year(sy: str) -> str:
    start = int(sy[:4]) - 1
    return f"{start}-{(start + 1) % 100:02d}"


def _base_rows(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i, (code, name, dtype, isd, county, locale, base) in enumerate(DISTRICTS):
        # district-level propensities, improving over the years
        spd0 = rng.uniform(0.9, 1.6)
        kbps0 = rng.uniform(350, 1500) if locale in ("rural", "town") else rng.uniform(700, 2200)
        lead0 = rng.uniform(0.35, 0.8)
        for yi, sy in enumerate(YEARS):
            r: dict = {"district_code": code, "school_year": sy}
            students = max(int(round(base * (1 + 0.015 * yi + rng.normal(0, 0.01)))), 0)
            if base < 10:
                students = base - (yi % 2)  # 8, 7, 8 / 9, 8, 9
            teachers = max(int(round(students / 17)), 1)
            leaders = max(int(round(students / 150)) + (3 if students >= 100 else 0), 1)
            tech = int(round(students / 550))
            spd = max(spd0 - 0.12 * yi + rng.normal(0, 0.03), 0.8)
            sdev = int(round(students / spd))
            if code == "20900" and sy == YEARS[-1]:
                sdev = 0  # no student devices reported: students_per_device is null
            tdev = int(round(teachers * rng.uniform(0.8, 1.08)))
            total = sdev + tdev + int(round(teachers * 0.3))
            kbps = kbps0 * (1 + 0.22 * yi) * rng.uniform(0.95, 1.05)
            if code == "20020":
                kbps = 1400 - 450 * yi  # a district that slips
            bandwidth = max(round(students * kbps / 1000.0, 1), 1.0)
            swhi = int(round(students * rng.uniform(0.03, 0.2)))
            r.update(
                student_count=students,
                student_devices=sdev,
                teacher_count=teachers,
                leader_count=leaders,
                tech_staff_count=tech,
                teacher_devices=tdev,
                _devices_total=total,
                _devices_over_5=int(round(total * max(rng.uniform(0.1, 0.38) - 0.03 * yi, 0.02))),
                _take_home=int(round(sdev * rng.uniform(0.3, 0.9))),
                _bandwidth_mbps=bandwidth,
                _monthly_cost=round(bandwidth * rng.uniform(0.7, 5.5), 2),
                wifi_classrooms_covered_pct=round(min(rng.uniform(82, 101), 100.0), 1),
                students_without_home_internet=swhi,
                hotspots_loaned=int(round(swhi * rng.uniform(0.3, 1.1))),
                leaders_in_pl=int(round(leaders * min(lead0 + 0.07 * yi, 1.0))),
                teachers_in_pl=int(round(teachers * rng.uniform(0.3, 0.9))),
                tech_staff_in_pl=int(round(tech * rng.uniform(0.4, 1.0))),
                pl_hours_face_to_face=round(teachers * rng.uniform(2, 9), 1),
                pl_hours_online=round(teachers * rng.uniform(1, 8), 1),
                pl_hours_blended=round(teachers * rng.uniform(0, 4), 1),
            )
            tin = r["teachers_in_pl"]
            r.update(
                tpack_samr_participants=int(round(tin * rng.uniform(0.1, 0.5))),
                pln_leader_participants=int(round(r["leaders_in_pl"] * rng.uniform(0.2, 0.9))),
                oer_participants=int(round(tin * rng.uniform(0.05, 0.3))),
                cbe_participants=int(round(tin * rng.uniform(0.02, 0.2))),
                skill_assessment_participants=int(round(tin * rng.uniform(0.1, 0.4))),
            )
            missing = MISSING.get((code, sy), ())
            for fam in FAMILIES:
                r[f"has_{fam}"] = fam not in missing
                if fam in missing:
                    for c in _FAMILY_COLUMNS[fam]:
                        r[c] = None
            r["_index"] = i
            rows.append(r)
    return pd.DataFrame(rows)


def _ratio(num: pd.Series, den: pd.Series, scale: float) -> pd.Series:
    num = pd.to_numeric(num, errors="coerce").astype("float64")
    den = pd.to_numeric(den, errors="coerce").astype("float64")
    out = scale * num / den.where(den != 0)
    return out.where(num.notna() & den.notna() & (den != 0))


def _metrics(df: pd.DataFrame, kbps_target: float) -> pd.DataFrame:
    for m, (num, den, scale) in _RATIOS.items():
        df[m] = _ratio(df[num], df[den], scale)
    df["meets_bandwidth_target"] = df["kbps_per_student"].map(
        lambda v: None if pd.isna(v) else bool(v >= kbps_target)
    ).astype("object")
    df["data_complete"] = df[[f"has_{f}" for f in FAMILIES]].all(axis=1)
    return df


def _state(df: pd.DataFrame, kbps_target: float, n_directory: int) -> pd.DataFrame:
    out = []
    for sy, g in df.groupby("school_year", sort=True):
        s: dict = {"school_year": sy}
        for m, (num, den, scale) in _RATIOS.items():
            both = g[num].notna() & g[den].notna()
            n = pd.to_numeric(g.loc[both, num]).sum()
            d = pd.to_numeric(g.loc[both, den]).sum()
            s[m] = scale * n / d if both.any() and d else None
        for c in ("student_count", "student_devices", "teacher_count", "leader_count",
                  "tech_staff_count", "teacher_devices", "leaders_in_pl", "teachers_in_pl",
                  "tech_staff_in_pl", "students_without_home_internet", "hotspots_loaned",
                  "tpack_samr_participants", "pln_leader_participants", "oer_participants",
                  "cbe_participants", "skill_assessment_participants"):
            vals = pd.to_numeric(g[c]).dropna()
            s[c] = int(vals.sum()) if len(vals) else None
        for c in ("pl_hours_face_to_face", "pl_hours_online", "pl_hours_blended"):
            vals = pd.to_numeric(g[c]).dropna()
            s[c] = float(vals.sum()) if len(vals) else None
        wifi = pd.to_numeric(g["wifi_classrooms_covered_pct"]).dropna()
        s["wifi_classrooms_covered_pct"] = float(wifi.mean()) if len(wifi) else None
        s["meets_bandwidth_target"] = (
            None if s["kbps_per_student"] is None else bool(s["kbps_per_student"] >= kbps_target)
        )
        s["data_complete"] = bool(g["data_complete"].all()) and len(g) == n_directory
        s["districts_in_directory"] = n_directory
        s["districts_reporting"] = int(g[[f"has_{f}" for f in FAMILIES]].any(axis=1).sum())
        s["districts_complete"] = int(g["data_complete"].sum())
        s["districts_with_bandwidth_data"] = int(g["kbps_per_student"].notna().sum())
        s["districts_meeting_bandwidth_target"] = int(
            (g["meets_bandwidth_target"] == True).sum()  # noqa: E712
        )
        out.append(s)
    return pd.DataFrame(out)


def _metric_values(district: pd.DataFrame, state: pd.DataFrame, metrics, targets) -> pd.DataFrame:
    frames = []
    for scope, df in (("district", district), ("state", state)):
        d = df.copy()
        if scope == "state":
            d["district_code"] = None
        long = d.melt(
            id_vars=["district_code", "school_year"], value_vars=list(metrics),
            var_name="metric", value_name="value",
        )
        long["scope"] = scope
        frames.append(long)
    mv = pd.concat(frames, ignore_index=True)
    mv["value"] = mv["value"].map(
        lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)
    )
    mv["_prev_sy"] = mv["school_year"].map(previous_school_year)
    prev = mv[["scope", "district_code", "school_year", "metric", "value"]].rename(
        columns={"school_year": "_prev_sy", "value": "previous_value"}
    )
    mv = mv.merge(prev, on=["scope", "district_code", "_prev_sy", "metric"], how="left")
    mv["change_from_previous_year"] = [
        None if (v is None or pd.isna(v) or p is None or pd.isna(p)) else v - p
        for v, p in zip(mv["value"], mv["previous_value"])
    ]
    mv["target"] = mv["metric"].map(lambda m: targets.get(m, (None, None))[1])
    mv["comparison"] = mv["metric"].map(lambda m: targets.get(m, (None, None))[0])

    def meets(row):
        if row["comparison"] is None or row["value"] is None or pd.isna(row["value"]):
            return None
        return bool(row["value"] >= row["target"]) if row["comparison"] == ">=" else bool(
            row["value"] <= row["target"]
        )

    mv["meets_target"] = mv.apply(meets, axis=1).astype("object")
    return mv


def _create(con, table: str, columns, df: pd.DataFrame) -> None:
    ddl = ", ".join(f"{name} {typ}" for name, typ in columns)
    con.execute(f"CREATE TABLE {table} ({ddl})")
    if df is None or df.empty:
        return
    frame = df[[name for name, _ in columns]].copy()
    for name, typ in columns:
        if typ == "BIGINT":
            frame[name] = pd.array(
                [None if (v is None or pd.isna(v)) else int(v) for v in frame[name]], dtype="Int64"
            )
        elif typ == "DOUBLE":
            frame[name] = pd.array(
                [None if (v is None or pd.isna(v)) else float(v) for v in frame[name]],
                dtype="Float64",
            )
        elif typ == "BOOLEAN":
            frame[name] = pd.array(
                [None if (v is None or pd.isna(v)) else bool(v) for v in frame[name]],
                dtype="boolean",
            )
        elif typ == "VARCHAR":
            frame[name] = frame[name].astype("object").where(frame[name].notna(), None)
    con.register("_frame", frame)
    casts = ", ".join(f"CAST({name} AS {typ})" for name, typ in columns)
    con.execute(f"INSERT INTO {table} SELECT {casts} FROM _frame")
    con.unregister("_frame")


def build_synthetic_warehouse(
    path: Path, *, config_dir: Path = Path("config"), seed: int = 20240701
) -> Path:
    """Write the synthetic warehouse to ``path`` (replacing it) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for p in (path, Path(str(path) + ".wal")):
        if p.exists():
            p.unlink()
    cfg = load_config(config_dir)
    kbps_target = cfg.metrics.get("kbps_per_student").target if "kbps_per_student" in cfg.metrics else 1000.0
    targets = {m.name: (m.comparison, m.target) for m in cfg.metrics.values() if m.has_target}

    base = _base_rows(seed)
    dm = _metrics(base, kbps_target)
    attrs = pd.DataFrame(
        [dict(district_code=c, district_name=n, district_type=t, isd_code=i, county=co, locale=lo)
         for c, n, t, i, co, lo, _ in DISTRICTS]
    )
    dm = dm.merge(attrs, on="district_code", how="left")
    dm["k_district_year"] = dm["district_code"] + ":" + dm["school_year"]
    state = _state(dm, kbps_target, len(DISTRICTS))

    metric_names = [m for m in cfg.metrics] or [
        c for c, _ in DISTRICT_YEAR_COLUMNS if c not in _NON_STATE and c != "school_year"
    ]
    mv = _metric_values(dm, state, metric_names, targets)
    omap = pd.DataFrame(
        [dict(objective_id=o, metric=m) for o, ms in cfg.objective_metrics.items() for m in ms]
    )
    op = omap.merge(mv, on="metric", how="inner")
    objectives = pd.DataFrame(catalog_from_config(cfg))
    dim = attrs.assign(
        k_district_version=attrs["district_code"] + ":" + YEARS[0],
        data_contact_email=attrs["district_code"].map(lambda c: f"data.{c}@example.invalid"),
        valid_from_school_year=YEARS[0],
        valid_to_school_year=None,
        is_current=True,
    )

    files = []
    issues = []
    seq = 0
    for sy in YEARS:
        for fam in FAMILIES:
            seq += 1
            files.append(dict(
                file_id=f"{seq:064x}", file_name=f"{fam}_{sy}.csv", family=fam, school_year=sy,
                received_seq=seq, received_at=pd.Timestamp(f"{sy[:4]}-10-01 02:00:00") + pd.Timedelta(hours=seq),
                first_run_id=f"run-{sy}", size_bytes=1000 + seq, archive_path=f"archive/{seq:064x}",
                status="loaded", rows_read=100, rows_loaded=100, rows_quarantined=0,
            ))
    last = YEARS[-1]

    def add_file(name, fam, status, read, loaded, quarantined):
        nonlocal seq
        seq += 1
        files.append(dict(
            file_id=f"{seq:064x}", file_name=name, family=fam, school_year=last, received_seq=seq,
            received_at=pd.Timestamp(f"{last[:4]}-11-15 02:00:00") + pd.Timedelta(hours=seq),
            first_run_id="run-late", size_bytes=2000 + seq, archive_path=f"archive/{seq:064x}",
            status=status, rows_read=read, rows_loaded=loaded, rows_quarantined=quarantined,
        ))
        return f"{seq:064x}"

    fid = add_file(f"devices_{last}_20010.csv", "devices", "rejected", 12, 0, 12)
    issues.append(dict(run_id="run-late", file_id=fid, file_name=f"devices_{last}_20010.csv",
                       family="devices", school_year=last, district_code="20010", line=4,
                       rule="count_exceeds_device_count", severity="error",
                       column_name="devices_over_5_years", value="412",
                       message="devices_over_5_years is greater than device_count"))
    fid = add_file(f"pl_participation_{last}_33020.csv", "pl_participation", "rejected", 40, 0, 40)
    issues.append(dict(run_id="run-late", file_id=fid, file_name=f"pl_participation_{last}_33020.csv",
                       family="pl_participation", school_year=last, district_code="33020", line=2,
                       rule="bad_type", severity="error", column_name="hours", value="two",
                       message="hours is not a number"))
    fid = add_file(f"connectivity_{last}_batch.csv", "connectivity", "rejected", 0, 0, 0)
    issues.append(dict(run_id="run-late", file_id=fid, file_name=f"connectivity_{last}_batch.csv",
                       family="connectivity", school_year=last, district_code=None, line=None,
                       rule="encoding_not_utf8", severity="error", column_name=None, value=None,
                       message="The file is not UTF-8"))
    fid = add_file(f"enrollment_{last}_50010.csv", "enrollment", "loaded", 30, 30, 0)
    issues.append(dict(run_id="run-late", file_id=fid, file_name=f"enrollment_{last}_50010.csv",
                       family="enrollment", school_year=last, district_code="50010", line=None,
                       rule="extra_column", severity="warning", column_name="notes", value=None,
                       message="Extra column ignored"))

    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE SCHEMA marts")
        con.execute("CREATE SCHEMA audit")
        _create(con, "marts.district_year_metrics", DISTRICT_YEAR_COLUMNS, dm)
        _create(con, "marts.state_year_metrics", STATE_YEAR_COLUMNS, state)
        _create(con, "marts.metric_values", METRIC_VALUES_COLUMNS, mv)
        _create(con, "marts.objective_progress", OBJECTIVE_PROGRESS_COLUMNS, op)
        _create(con, "marts.objectives", OBJECTIVES_COLUMNS, objectives)
        _create(con, "marts.dim_district_history", DIM_DISTRICT_HISTORY_COLUMNS, dim)
        _create(con, "audit.files", AUDIT_FILES_COLUMNS, pd.DataFrame(files))
        _create(con, "audit.issues", AUDIT_ISSUES_COLUMNS, pd.DataFrame(issues))
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return path
