"""The rows of each family for one school year (a `Frame` per family and year, DATA_SPEC
section 1) and writing one landing file from it (header style, encoding, byte-order mark,
modification time).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from flows.ingest.families import (
    ACTIVITY_KINDS,
    DEVICE_TYPES,
    FORMATS,
    FRAMEWORKS,
    LOCALES,
    PL_ROLES,
    PROVIDERS,
    USER_GROUPS,
)
from flows.school_years import school_year_bounds

from .facts import (
    ASSESSMENTS,
    COMBOS,
    COUNTIES,
    KIND_FORMATS,
    KIND_HOURS,
    KIND_PROVIDERS,
    KIND_WINDOW,
    MONTH_WEIGHTS,
    PL_TOPICS,
    PLN_NAMES,
    PROVIDER_PREFIX,
    STUDENT_MIX,
    TYPE_NAMES,
)
from .frame import Frame, const_col, dict_col, fmt_col, fmt_number, int_col
from .state import Traits, World


def directory_frame(w: World, t: int) -> Frame:
    ds = np.flatnonzero(w.active[:, t])
    n = len(ds)
    county_names = [c for c, _ in COUNTIES]
    emails = [w.email[d] for d in ds]
    return Frame(
        {
            "district_code": dict_col(ds, w.code),
            "district_name": dict_col(ds, w.names[t]),
            "district_type": dict_col(w.dtype[ds], list(TYPE_NAMES)),
            "isd_code": (np.arange(n), [w.isd[t][d] for d in ds]),
            "county": dict_col(w.county[ds] - 1, county_names),
            "locale": dict_col(w.locale[ds], list(LOCALES)),
            "data_contact_email": (
                np.array([-1 if e is None else i for i, e in enumerate(emails)]),
                [e or "" for e in emails],
            ),
        },
        ds,
    )


def enrollment_frame(w: World, t: int) -> Frame:
    bs = np.flatnonzero(w.active[w.b_district, t])
    return Frame(
        {
            "school_year": const_col(w.years[t], len(bs)),
            "district_code": dict_col(w.b_district[bs], w.code),
            "building_code": dict_col(bs, w.b_code),
            "building_name": dict_col(bs, w.b_name),
            "student_count": int_col(w.b_students[bs, t]),
        },
        w.b_district[bs],
    )


def staffing_frame(w: World, t: int) -> Frame:
    ds = np.flatnonzero(w.active[:, t])
    return Frame(
        {
            "school_year": const_col(w.years[t], len(ds)),
            "district_code": dict_col(ds, w.code),
            "teacher_count": int_col(w.teachers[ds, t]),
            "building_leader_count": int_col(w.bleaders[ds, t]),
            "district_leader_count": int_col(w.dleaders[ds, t]),
            "tech_staff_count": int_col(w.tech[ds, t]),
        },
        ds,
    )


def connectivity_frame(w: World, tr: Traits, t: int) -> Frame:
    ds = np.flatnonzero(w.active[:, t])
    wan = tr.wan[ds, t]
    erate = tr.erate[ds, t]
    return Frame(
        {
            "school_year": const_col(w.years[t], len(ds)),
            "district_code": dict_col(ds, w.code),
            "internet_bandwidth_mbps": int_col(tr.bw[ds, t]),
            "wan_bandwidth_mbps": int_col(np.nan_to_num(wan), empty=np.isnan(wan)),
            "wifi_classrooms_covered_pct": fmt_col(tr.wifi[ds, t], "g"),
            "monthly_internet_cost_usd": fmt_col(tr.cost[ds, t], ".2f"),
            "erate_discount_pct": int_col(erate, empty=erate == 0),
            "students_without_home_internet": int_col(tr.without_home[ds, t]),
            "hotspots_loaned": int_col(tr.hotspots[ds, t]),
        },
        ds,
    )


def _devices_counts(w: World, tr: Traits, t: int, rng: np.random.Generator):
    """Per building x combo counts for year t: (device_count, over5, take_home), [B, C]."""
    B, C = tr.presence.shape
    rel = w.starts[t] - 2021
    bd = w.b_district
    s_b = w.b_students[:, t].astype(np.float64)
    s_d = np.maximum(w.students[:, t], 1).astype(np.float64)
    teach_b = np.floor(w.teachers[bd, t] * s_b / s_d[bd])
    yearly = np.clip(rng.normal(0, 0.015, size=w.n), -0.03, 0.03)
    ratio = np.clip(min(1.02, 0.80 + 0.05 * rel) * tr.dev_eff[bd] * (1 + yearly[bd]), 0.3, 1.4)
    count = np.zeros((B, C), dtype=np.int64)
    S = np.round(s_b * ratio)
    mix = STUDENT_MIX[w.b_level] * tr.presence[:, :4]
    mix = mix / mix.sum(axis=1, keepdims=True)
    count[:, :4] = np.floor(S[:, None] * mix)
    hot_rate = tr.hotspots[bd, t] / s_d[bd]
    count[:, 4] = np.round(s_b * hot_rate * 0.8)
    tc = np.floor(teach_b * tr.teacher_cov[bd])
    tab = np.where(tr.presence[:, 6], np.floor(tc * 0.10), 0)
    desk = np.where(tr.presence[:, 7], np.floor(tc * 0.08), 0)
    count[:, 5] = tc - tab - desk
    count[:, 6] = tab
    count[:, 7] = desk
    count[:, 8] = np.round(teach_b * tr.display[bd])
    count[:, 9] = np.maximum(1, np.round(teach_b * 0.25))
    count[:, 10] = np.round(teach_b * 0.12)
    count[:, 11] = np.round(s_b * 0.04)
    count[:, 12] = np.round(s_b * 0.05)
    count[:, 13] = np.round(s_b * 0.02)
    count[:, 14] = np.round(s_b * 0.005)
    count = np.where(tr.presence, count, 0)
    age = np.clip(0.30 - 0.035 * rel + tr.age_eff[bd], 0.02, 0.6)
    age_row = np.clip(age[:, None] * rng.uniform(0.6, 1.4, size=(B, C)), 0, 0.95)
    age_row[:, [4, 14]] *= 0.2
    over5 = np.floor(count * age_row).astype(np.int64)
    th = np.clip(tr.take_home[bd] + 0.03 * rel, 0, 0.98)
    share = np.zeros((B, C))
    share[:, 0] = th
    share[:, 1] = th
    share[:, 2] = th * 0.1
    share[:, 4] = 1.0
    share[:, 5] = rng.uniform(0.7, 1.0, size=B)
    share[:, 10] = 0.5
    take = np.floor(count * share).astype(np.int64)
    return count, over5, take


def devices_frame(w: World, tr: Traits, t: int, rng: np.random.Generator) -> Frame:
    count, over5, take = _devices_counts(w, tr, t, rng)
    ok = (count > 0) & w.active[w.b_district, t][:, None]
    b, c = np.nonzero(ok)  # row-major: by building (district, code order), then combo
    ctype = np.array([DEVICE_TYPES.index(x) for x, _ in COMBOS])
    cgroup = np.array([USER_GROUPS.index(g) for _, g in COMBOS])
    return Frame(
        {
            "school_year": const_col(w.years[t], len(b)),
            "district_code": dict_col(w.b_district[b], w.code),
            "building_code": dict_col(b, w.b_code),
            "device_type": dict_col(ctype[c], list(DEVICE_TYPES)),
            "user_group": dict_col(cgroup[c], list(USER_GROUPS)),
            "device_count": int_col(count[b, c]),
            "devices_over_5_years": int_col(over5[b, c]),
            "take_home_count": int_col(take[b, c]),
        },
        w.b_district[b],
    )


@dataclass
class Catalog:
    ids: list[str]
    titles: list[str]
    kind: np.ndarray
    provider: np.ndarray
    fmt: np.ndarray
    framework: np.ndarray
    hours_idx: np.ndarray
    hours_values: list[str]
    start: np.ndarray
    window: np.ndarray
    role_p: np.ndarray  # [5, M]


def _catalog(w: World, t: int, rng: np.random.Generator) -> Catalog:
    scale = w.n / 896
    M = max(150, round(450 * scale**0.5))
    start_year = w.starts[t]
    ndays = _days_in_year(w.years[t])
    yy = f"{start_year % 100:02d}{(start_year + 1) % 100:02d}"
    kinds = rng.choice(5, size=M, p=[0.30, 0.30, 0.15, 0.15, 0.10])
    kinds[:5] = np.arange(5)
    n_topics = len(PL_TOPICS)
    kinds[5 : 5 + n_topics] = np.arange(n_topics) % 2  # every topic once as a course or workshop
    months = rng.choice(12, size=M, p=MONTH_WEIGHTS / MONTH_WEIGHTS.sum())
    month_start = np.cumsum([0, 31, 31, 30, 31, 30, 31, 31, 28 + (ndays == 366), 31, 30, 31])
    month_len = np.diff(np.append(month_start, ndays))
    start = month_start[months] + np.floor(rng.random(M) * month_len[months]).astype(np.int64)
    ids, titles = [], []
    provider = np.zeros(M, dtype=np.int64)
    fmt = np.zeros(M, dtype=np.int64)
    framework = np.zeros(M, dtype=np.int64)
    hours = np.zeros(M)
    window = np.zeros(M, dtype=np.int64)
    audience = []
    month_names = (
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
    )
    topic_order = rng.permutation(len(PL_TOPICS))
    for a in range(M):
        kind = ACTIVITY_KINDS[kinds[a]]
        if a < 8:
            prov = PROVIDERS[a]
        else:
            opts = KIND_PROVIDERS[kind]
            prov = opts[int(rng.choice(len(opts), p=norm([x[1] for x in opts])))][0]
        opts = KIND_FORMATS[kind]
        form = "online" if prov == "EduPaths" else opts[int(rng.choice(len(opts), p=norm([x[1] for x in opts])))][0]
        if a < 3:
            form = FORMATS[a]
        ti = topic_order[a - 5] if 5 <= a < 5 + n_topics else int(rng.integers(n_topics))
        topic, fw, aud = PL_TOPICS[ti]
        if kind == "course":
            title = topic if rng.random() < 0.6 else f"{topic} (Online Course)"
        elif kind == "workshop":
            title = f"{topic} Workshop"
        elif kind == "pln_meeting":
            pln = PLN_NAMES[int(rng.integers(len(PLN_NAMES)))]
            title = f"{pln} PLN: {month_names[months[a]]} Meeting"
            fw = "none" if rng.random() < 0.6 else "ISTE_Standards"
            aud = "l" if pln != "Technology Directors" else "x"
        elif kind == "coaching":
            title = f"Coaching Cycle: {topic}"
        else:
            title, fw = ASSESSMENTS[int(rng.integers(len(ASSESSMENTS)))]
            aud = "a"
        h = KIND_HOURS[kind]
        hours[a] = h[int(rng.integers(len(h)))]
        ids.append(f"{PROVIDER_PREFIX[prov]}-{yy}-{a + 1:04d}")
        titles.append(title)
        provider[a] = PROVIDERS.index(prov)
        fmt[a] = FORMATS.index(form)
        framework[a] = FRAMEWORKS.index(fw)
        window[a] = KIND_WINDOW[kind]
        audience.append(aud)
    aud = np.array(audience)
    kind_w = np.array(
        [  # course, workshop, pln, coaching, skill
            [1.0, 1.0, 0.05, 0.8, 0.6],
            [0.6, 0.8, 3.0, 0.5, 0.4],
            [0.6, 0.8, 3.0, 0.5, 0.4],
            [1.0, 1.0, 0.8, 0.3, 0.5],
            [1.0, 1.0, 0.02, 0.2, 0.6],
        ]
    )
    aud_w = {
        "t": (1.0, 0.2, 0.2, 0.3, 0.5),
        "l": (0.2, 4.0, 4.0, 0.5, 0.1),
        "x": (0.5, 0.5, 0.5, 4.0, 1.0),
        "a": (1.0, 1.0, 1.0, 1.0, 1.0),
    }
    role_p = np.zeros((5, M))
    for r in range(5):
        role_p[r] = kind_w[r][kinds] * np.array([aud_w[x][r] for x in aud])
        role_p[r] /= role_p[r].sum()
    hv, hidx = np.unique(hours, return_inverse=True)
    return Catalog(
        ids=ids,
        titles=titles,
        kind=kinds,
        provider=provider,
        fmt=fmt,
        framework=framework,
        hours_idx=hidx,
        hours_values=[fmt_number(v, "g") for v in hv.tolist()],
        start=start,
        window=window,
        role_p=role_p,
    )


def norm(x) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    return a / a.sum()


def _days_in_year(sy: str) -> int:
    a, b = school_year_bounds(sy)
    return int((np.datetime64(b) - np.datetime64(a)).astype(int)) + 1


def year_dates(sy: str) -> list[str]:
    a, b = school_year_bounds(sy)
    return np.arange(np.datetime64(a), np.datetime64(b) + 1).astype(str).tolist()


@dataclass
class _IdSpace:
    """educator_id text of (role, number): T000123 teachers, L00031 leaders, IT0004 tech
    staff, S001234 support staff."""

    offsets: np.ndarray  # dictionary offset per role
    values: list[str]

    @classmethod
    def build(cls, max_t: int, max_l: int, max_it: int, max_s: int) -> _IdSpace:
        t = [f"T{i:06d}" for i in range(max_t)]
        l_ = [f"L{i:05d}" for i in range(max_l)]
        it = [f"IT{i:04d}" for i in range(max_it)]
        s = [f"S{i:06d}" for i in range(max_s)]
        o = np.cumsum([0, len(t), len(l_), len(it)])
        offsets = np.array([o[0], o[1], o[1], o[2], o[3]], dtype=np.int64)
        return cls(offsets, t + l_ + it + s)


def id_space(w: World, tr: Traits) -> _IdSpace:
    return _IdSpace.build(
        int(tr.id_base[:, 0].max() + w.teachers.max() + 1),
        2000,
        int(w.tech.max() + 2),
        int(tr.id_base[:, 4].max() + w.support.max() + 1),
    )


def pl_frame(w: World, tr: Traits, ids: _IdSpace, t: int, rng: np.random.Generator) -> tuple[Frame, Catalog]:
    cat = _catalog(w, t, rng)
    M = len(cat.ids)
    ds = np.flatnonzero(w.active[:, t])
    counts = np.stack(
        [w.teachers[ds, t], w.bleaders[ds, t], w.dleaders[ds, t], w.tech[ds, t], w.support[ds, t]], axis=1
    )
    flat = counts.ravel()
    total = int(flat.sum())
    r_d = np.repeat(np.repeat(ds, 5), flat)
    r_role = np.repeat(np.tile(np.arange(5), len(ds)), flat)
    k = np.arange(total) - np.repeat(np.cumsum(flat) - flat, flat)
    number = tr.id_base[r_d, r_role] + k
    p = tr.pl_rate[r_d, r_role, t]
    part = np.flatnonzero(rng.random(total) < p)
    lam = np.array([3.0, 3.0, 3.0, 4.0, 1.0])
    K = 1 + rng.poisson(lam[r_role[part]])
    e = np.repeat(part, K)
    role = r_role[e]
    acts = np.empty(len(e), dtype=np.int64)
    for r in range(5):
        m = np.flatnonzero(role == r)
        acts[m] = rng.choice(M, size=len(m), p=cat.role_p[r])
    # the day an educator completed an activity is a function of (educator, activity), so a
    # repeated draw is an exact duplicate: one sort by (educator, day, activity) orders
    # the rows and puts duplicates next to each other
    ndays = _days_in_year(w.years[t])
    salt = int(rng.integers(1, 2**31))
    mix = e.astype(np.uint64) * np.uint64(2654435761) + acts.astype(np.uint64) * np.uint64(40503) + np.uint64(salt)
    mix = (mix ^ (mix >> np.uint64(13))) * np.uint64(0x5BD1E995) & np.uint64(0xFFFFFFFF)
    offset = (mix % (cat.window[acts] + 1).astype(np.uint64)).astype(np.int64)
    day = np.minimum(cat.start[acts] + offset, ndays - 1)
    key = (e.astype(np.int64) * ndays + day) * M + acts
    key.sort()
    keep = np.ones(len(key), dtype=bool)
    keep[1:] = key[1:] != key[:-1]
    key = key[keep]
    acts = key % M
    day = (key // M) % ndays
    e = key // (M * ndays)
    del key, keep, mix, offset
    role = r_role[e]
    n = len(e)
    frame = Frame(
        {
            "school_year": const_col(w.years[t], n),
            "district_code": dict_col(r_d[e], w.code),
            "educator_id": dict_col(ids.offsets[role] + number[e], ids.values),
            "role": dict_col(role, list(PL_ROLES)),
            "activity_id": dict_col(acts, cat.ids),
            "activity_title": dict_col(acts, cat.titles),
            "activity_kind": dict_col(cat.kind[acts], list(ACTIVITY_KINDS)),
            "provider": dict_col(cat.provider[acts], list(PROVIDERS)),
            "format": dict_col(cat.fmt[acts], list(FORMATS)),
            "framework": dict_col(cat.framework[acts], list(FRAMEWORKS)),
            "hours": dict_col(cat.hours_idx[acts], cat.hours_values),
            "completed_on": dict_col(day, year_dates(w.years[t])),
        },
        r_d[e],
    )
    return frame, cat


# ---------------------------------------------------------------------------------------
# Writing files
# ---------------------------------------------------------------------------------------


@dataclass
class Pending:
    name: str
    family: str
    frame: Frame | None
    header: str = "plain"  # plain | upper_padded
    shuffle: bool = False
    bom: bool = False
    encoding: str = "utf-8"
    empty: bool = False


def _header_names(names: list[str], style: str) -> list[str]:
    if style == "upper_padded":
        return [f" {n.upper()}" if i % 2 == 0 else f"{n.upper()} " for i, n in enumerate(names)]
    if style == "title":
        return [n.title() for n in names]
    return list(names)


def write_file(
    con: duckdb.DuckDBPyConnection, path: Path, p: Pending, rng_order: np.random.Generator | None = None
) -> int:
    """Writes one landing file; returns the number of data rows written."""
    if path.exists():
        path.unlink()
    if p.empty or p.frame is None:
        path.write_bytes(b"")
        return 0
    frame = p.frame
    names = frame.names
    if p.shuffle and rng_order is not None:
        names = [names[i] for i in rng_order.permutation(len(names))]
    header = _header_names(names, p.header)
    con.register("landing_out", frame.batches(names, header))
    target = str(path).replace("'", "''")
    try:
        con.execute(f"COPY landing_out TO '{target}' (FORMAT CSV, HEADER TRUE, DELIMITER ',')")
    finally:
        con.unregister("landing_out")
    if p.bom or p.encoding != "utf-8":
        data = path.read_bytes()
        if p.encoding != "utf-8":
            data = data.decode("utf-8").encode(p.encoding)
        if p.bom:
            data = b"\xef\xbb\xbf" + data
        path.write_bytes(data)
    return frame.n
