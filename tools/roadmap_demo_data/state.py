"""Michigan's synthetic state: districts (LEAs, PSAs, ISDs) and their buildings, their
changes over the school years (renames, moves to another ISD, openings and closings), the
yearly figures, and the district traits that persist across years.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from flows.school_years import school_year_of

from .facts import (
    BUILDING_BASES,
    BW_TIERS,
    CENTER_PATTERNS,
    COMBO_PRESENCE,
    COMBOS,
    COUNTIES,
    ERATE_BANDS,
    ISD,
    ISD_PATTERNS,
    LEA,
    LEA_SUFFIXES,
    PLACE_PREFIXES,
    PLACES,
    PSA,
    PSA_PATTERNS,
    PSA_STEMS,
    R_BLEADER,
    R_DLEADER,
)


@dataclass
class World:
    years: list[str]
    starts: list[int]
    code: list[str]
    dtype: np.ndarray
    county: np.ndarray  # county number 1..83
    locale: np.ndarray  # index into LOCALES
    names: list[list[str]]  # [t][d]
    isd: list[list[str]]  # [t][d]
    email: list[str | None]
    active: np.ndarray  # [N, T] bool
    b_district: np.ndarray
    b_code: list[str]
    b_name: list[str]
    b_level: np.ndarray
    b_students: np.ndarray  # [B, T]
    students: np.ndarray  # [N, T]
    nbuild: np.ndarray  # [N]
    teachers: np.ndarray  # [N, T]
    bleaders: np.ndarray
    dleaders: np.ndarray
    tech: np.ndarray
    support: np.ndarray
    spare_building_codes: list[str]
    used_codes: set[str]
    changes: list[str]
    opening_psa: int
    closing_psa: int

    @property
    def n(self) -> int:
        return len(self.code)


def _district_counts(districts: int | None) -> tuple[int, int, int]:
    if districts is None:
        return 540, 300, 56
    if districts < 3 or districts > 20000:
        raise ValueError("districts must be between 3 and 20000")
    n_isd = min(830, max(1, round(districts * 56 / 896)))
    n_psa = max(1, round(districts * 300 / 896))
    return districts - n_isd - n_psa, n_psa, n_isd


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _allocate(rng: np.random.Generator, n: int, weights: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """n items over counties by weight, never more than cap per county."""
    out = np.zeros(len(weights), dtype=np.int64)
    remaining = n
    while remaining > 0:
        room = cap - out
        w = np.where(room > 0, weights, 0.0)
        if w.sum() <= 0:
            raise ValueError("not enough district codes")
        draw = rng.multinomial(remaining, w / w.sum())
        take = np.minimum(draw, room)
        out += take
        remaining -= int(take.sum())
    return out


def build_world(districts: int | None, starts: list[int], rng: np.random.Generator) -> World:
    n_lea, n_psa, n_isd = _district_counts(districts)
    T = len(starts)
    years = [school_year_of(s) for s in starts]
    pops = np.array([p for _, p in COUNTIES], dtype=np.float64)
    county_names = [c for c, _ in COUNTIES]
    n_counties = len(COUNTIES)

    # --- ISDs: one per county for the most populous counties, more in big ones at scale
    isd_per_county = np.zeros(n_counties, dtype=np.int64)
    if n_isd <= n_counties:
        isd_per_county[np.argsort(-pops, kind="stable")[:n_isd]] = 1
    else:
        isd_per_county[:] = 1
        extra = n_isd - n_counties
        share = pops / pops.sum() * extra
        add = np.minimum(np.floor(share).astype(np.int64), 9)
        order = np.argsort(-(share - np.floor(share)), kind="stable")
        i = 0
        while add.sum() < extra:
            c = order[i % n_counties]
            if add[c] < 9:
                add[c] += 1
            i += 1
        isd_per_county += add
    isd_codes_by_county: list[list[str]] = [
        [f"{c + 1:02d}{j}00" for j in range(isd_per_county[c])] for c in range(n_counties)
    ]
    with_isd = np.flatnonzero(isd_per_county > 0)
    serving: list[list[str]] = []
    for c in range(n_counties):
        if isd_per_county[c]:
            serving.append(isd_codes_by_county[c])
        else:
            nearest = with_isd[np.argmin(np.abs(with_isd - c) * 2 + (with_isd > c))]
            serving.append(isd_codes_by_county[nearest])

    # --- counties of LEAs and PSAs (Detroit 82015 and Alcona 01010 fixed)
    cap = np.full(n_counties, 990, dtype=np.int64)
    fixed = [(81, 15)] + ([(0, 10)] if n_lea >= 2 else [])
    for c, _ in fixed:
        cap[c] -= 1
    n_free_lea = n_lea - len(fixed)
    lea_counts = _allocate(rng, n_free_lea, pops**0.6, cap)
    psa_counts = _allocate(rng, n_psa, pops**1.3, cap - lea_counts)

    lea_pref = [s for s in range(5, 700, 5) if s % 100]
    psa_pref = [s for s in range(701, 1000) if s % 100]
    other = sorted(set(range(1, 1000)) - set(lea_pref) - set(psa_pref) - set(range(0, 1000, 100)))
    codes: list[str] = []
    dtype: list[int] = []
    county: list[int] = []
    used_by_county: list[set[int]] = [set() for _ in range(n_counties)]
    for c, s in fixed:
        used_by_county[c].add(s)
        codes.append(f"{c + 1:02d}{s:03d}")
        dtype.append(LEA)
        county.append(c + 1)
    for c in range(n_counties):
        pools = {
            LEA: list(rng.permutation(lea_pref)) + list(rng.permutation(other)) + list(rng.permutation(psa_pref)),
            PSA: list(rng.permutation(psa_pref)) + list(rng.permutation(other)) + list(rng.permutation(lea_pref)),
        }
        for kind, count in ((LEA, lea_counts[c]), (PSA, psa_counts[c])):
            got: list[int] = []
            for s in pools[kind]:
                if len(got) == count:
                    break
                if s not in used_by_county[c]:
                    got.append(int(s))
                    used_by_county[c].add(int(s))
            for s in sorted(got):
                codes.append(f"{c + 1:02d}{s:03d}")
                dtype.append(kind)
                county.append(c + 1)
    for c in range(n_counties):
        for code in isd_codes_by_county[c]:
            codes.append(code)
            dtype.append(ISD)
            county.append(c + 1)
    dtype_a = np.array(dtype)
    county_a = np.array(county)
    N = len(codes)
    is_lea, is_psa, is_isd = dtype_a == LEA, dtype_a == PSA, dtype_a == ISD

    # --- sizes (students), long tail
    students0 = np.zeros(N)
    n_big = max(1, round(N / 896)) if n_lea >= 1 else 0
    lea_idx = np.flatnonzero(is_lea)
    big = lea_idx[:1]  # Detroit
    if n_big > 1:
        others = lea_idx[1 + (n_lea >= 2) :]
        big = np.concatenate([big, rng.choice(others, size=min(n_big - 1, len(others)), replace=False)])
    # the big city has ~50,000 students; a small sample state gets a smaller one
    students0[big] = rng.uniform(47_000, 52_000, size=len(big)) * min(1.0, N / 896) ** 0.5
    rest = np.setdiff1d(lea_idx, big)
    draw = rng.lognormal(np.log(1300), 1.0, size=len(rest))
    if len(draw):
        draw *= 2282 / draw.mean()
    students0[rest] = np.clip(draw, 60, 30_000)
    students0[is_psa] = np.clip(rng.lognormal(np.log(380), 0.6, size=int(is_psa.sum())), 40, 3_500)
    students0[is_isd] = np.clip(rng.lognormal(np.log(120), 0.7, size=int(is_isd.sum())), 25, 900)

    # --- locale
    locale = np.zeros(N, dtype=np.int64)
    u = rng.random(N)

    def pick(mask: np.ndarray, probs: tuple[float, float, float, float]) -> None:
        cum = np.cumsum(probs)
        locale[mask] = np.searchsorted(cum, u[mask] * cum[-1], side="right")

    pick(is_lea & (students0 > 8000), (0.35, 0.55, 0.10, 0.0))
    pick(is_lea & (students0 > 2500) & (students0 <= 8000), (0.10, 0.45, 0.25, 0.20))
    pick(is_lea & (students0 <= 2500), (0.02, 0.10, 0.28, 0.60))
    pick(is_psa, (0.55, 0.35, 0.07, 0.03))
    pick(is_isd, (0.10, 0.30, 0.35, 0.25))
    locale[big] = 0
    if n_lea >= 2:
        locale[1] = 3  # Alcona: rural
    locale = np.minimum(locale, 3)

    # --- names: each LEA its own place first (prefixed variants only at large scale)
    names = [""] * N
    slugs = [""] * N
    plain = [PLACES[i] for i in rng.permutation(len(PLACES))]
    prefixed = [p + q for p in PLACE_PREFIXES[1:] for q in PLACES]
    places = plain + [prefixed[i] for i in rng.permutation(len(prefixed))]
    suffix_of = rng.integers(len(LEA_SUFFIXES), size=N)
    taken = 0
    for d in lea_idx:
        if codes[d] == "82015":
            names[d], slugs[d] = "Detroit Public Schools Community District", "detroitk12"
        elif codes[d] == "01010":
            names[d], slugs[d] = "Alcona Community Schools", "alcona"
        else:
            place = places[taken % len(places)]
            suffix = LEA_SUFFIXES[suffix_of[d]]
            names[d] = f"{place} {suffix}" + (f" No. {taken // len(places) + 1}" if taken >= len(places) else "")
            slugs[d] = _slug(place) + "".join(word[0] for word in suffix.lower().split())
            taken += 1
    stems = list(PSA_STEMS) + list(PLACES)
    psa_combos = [(i, j) for j in range(len(PSA_PATTERNS)) for i in range(len(stems))]
    order = rng.permutation(len(psa_combos))
    for k, d in enumerate(np.flatnonzero(is_psa)):
        if k == 0:
            names[d], slugs[d] = "St. Mary's Academy, Inc.", "stmarysacademy"
            continue
        i, j = psa_combos[order[k % len(order)]]
        names[d] = PSA_PATTERNS[j].format(x=stems[i])
        if k >= len(order):
            names[d] += f" - Campus {k // len(order) + 1}"
        slugs[d] = _slug(names[d].replace(", Inc.", ""))[:20]
    for d in np.flatnonzero(is_isd):
        c = county_a[d]
        j = int(codes[d][2])
        pat = ISD_PATTERNS[(c * 7) % len(ISD_PATTERNS)]
        names[d] = pat.format(c=county_names[c - 1]) + (f" {j + 1}" if j else "")
        slugs[d] = _slug(county_names[c - 1]) + "isd" + (str(j + 1) if j else "")
    emails: list[str | None] = []
    seen: set[str] = set()
    missing_email = rng.random(N) < 0.07
    for d in range(N):
        slug = slugs[d] if slugs[d] not in seen else slugs[d] + codes[d]
        seen.add(slug)
        emails.append(None if missing_email[d] else f"data@{slug}.k12.mi.us")

    isd_of = np.empty(N, dtype=object)
    for d in range(N):
        if dtype_a[d] == ISD:
            isd_of[d] = codes[d]
        else:
            options = serving[county_a[d] - 1]
            isd_of[d] = options[int(rng.integers(len(options)))] if len(options) > 1 else options[0]

    # --- sort everything by district code
    perm = np.argsort(np.array([int(c) for c in codes]), kind="stable")
    codes = [codes[i] for i in perm]
    dtype_a, county_a, locale, students0 = dtype_a[perm], county_a[perm], locale[perm], students0[perm]
    names = [names[i] for i in perm]
    emails = [emails[i] for i in perm]
    isd_of = isd_of[perm]
    is_lea, is_psa, is_isd = dtype_a == LEA, dtype_a == PSA, dtype_a == ISD
    big_mask = np.isin(perm, big)

    # --- buildings
    nb = np.ones(N, dtype=np.int64)
    nb[is_lea] = np.maximum(1, np.round(students0[is_lea] / rng.uniform(380, 480, size=int(is_lea.sum()))))
    nb[is_psa] = 1 + (students0[is_psa] >= 700) + (students0[is_psa] >= 1500)
    nb[is_isd] = 1 + (students0[is_isd] >= 200) + (students0[is_isd] >= 500)
    B = int(nb.sum())
    if B > 99_000:
        raise ValueError("too many buildings for five-digit codes")
    b_district = np.repeat(np.arange(N), nb)
    first = np.cumsum(nb) - nb
    rank = np.arange(B) - np.repeat(first, nb)
    frac = rank / np.repeat(nb, nb)
    level = np.where(frac < 0.6, 0, np.where(frac < 0.8, 1, 2))
    level[np.repeat(nb, nb) == 1] = 3
    level[(np.repeat(nb, nb) == 2) & (rank == 1)] = 2
    level[(np.repeat(nb, nb) == 2) & (rank == 0)] = 0
    level[is_isd[b_district]] = 4
    level[is_psa[b_district]] = 5
    weights = rng.gamma(3.0, 1.0, size=B) * np.select([level == 2, level == 1], [1.6, 1.2], 1.0)
    wsum = np.bincount(b_district, weights=weights, minlength=N)
    base_b = np.maximum(5, np.round(students0[b_district] * weights / wsum[b_district]))
    perm_codes = rng.permutation(np.arange(1, 100_000))
    b_code_num = perm_codes[:B]
    spare = [f"{c:05d}" for c in perm_codes[B : B + 5000]]
    # buildings of a district ordered by their code
    border = np.lexsort((b_code_num, b_district))
    b_code_num = b_code_num[border]
    b_district_sorted = b_district[border]
    base_b = base_b[border]
    level = level[border]
    rank = rank[border]
    b_district = b_district_sorted
    b_code = [f"{c:05d}" for c in b_code_num]
    bases = rng.integers(len(BUILDING_BASES), size=B)
    pattern = rng.integers(len(CENTER_PATTERNS), size=B)
    b_name: list[str] = []
    for b in range(B):
        d = b_district[b]
        base = BUILDING_BASES[bases[b]]
        lv = level[b]
        if lv == 0:
            b_name.append(f"{base} Elementary School")
        elif lv == 1:
            b_name.append(f"{base} Middle School")
        elif lv == 2:
            b_name.append(f"{base} High School" if nb[d] > 2 else f"{base} Jr./Sr. High School")
        elif lv == 3:
            b_name.append(f"{base} School")
        elif lv == 4:
            b_name.append(CENTER_PATTERNS[pattern[b]].format(c=county_names[county_a[d] - 1], b=base))
        else:
            b_name.append(
                names[d] if nb[d] == 1 else f"{names[d]} - {('Elementary', 'Middle', 'High')[min(rank[b], 2)]} Campus"
            )
    # a couple of names that need quoting, always present
    b0 = np.flatnonzero(level == 0)
    if len(b0) >= 2:
        b_name[b0[0]] = "Martin Luther King, Jr. Elementary School"
        b_name[b0[1]] = "O'Brien Elementary School"

    # --- directory changes over the years
    active = np.ones((N, T), dtype=bool)
    names_t = [list(names) for _ in range(T)]
    isd_t = [list(isd_of) for _ in range(T)]
    changes: list[str] = []
    opening = closing = -1
    plain_leas = [d for d in np.flatnonzero(is_lea) if not big_mask[d] and codes[d] != "01010"]
    psas = list(np.flatnonzero(is_psa))[1:]  # keep St. Mary's
    if T >= 2:
        pick_rng = np.random.default_rng(rng.integers(2**32))
        if plain_leas:
            d = int(pick_rng.choice(plain_leas))
            t0 = max(1, T // 2)
            old = names[d]
            suffix = next((s for s in LEA_SUFFIXES if old.endswith(s)), None)
            new_suffix = "Community Schools" if suffix != "Community Schools" else "Area Schools"
            new = old[: -len(suffix)] + new_suffix if suffix else old + " Community Schools"
            for t in range(t0, T):
                names_t[t][d] = new
            changes.append(f"{codes[d]} renamed '{old}' -> '{new}' from {years[t0]}")
        isd_list = [codes[d] for d in np.flatnonzero(is_isd)]
        if len(isd_list) >= 2 and plain_leas:
            d = int(pick_rng.choice(plain_leas))
            t0 = max(1, T - 2)
            cur = isd_of[d]
            alt = [c for c in isd_list if c != cur]
            new_isd = min(alt, key=lambda c: (abs(int(c[:2]) - county_a[d]), c))
            for t in range(t0, T):
                isd_t[t][d] = new_isd
            changes.append(f"{codes[d]} moved from ISD {cur} to ISD {new_isd} from {years[t0]}")
        if len(psas) >= 3:
            small = [d for d in psas if nb[d] == 1]
            pool = small if len(small) >= 2 else psas
            two = pick_rng.choice(pool, size=2, replace=False)
            opening, closing = int(two[0]), int(two[1])
            active[opening, : T - 1] = False
            t0 = max(1, T // 2)
            active[closing, t0:] = False
            changes.append(f"PSA {codes[opening]} opens in {years[T - 1]}")
            changes.append(f"PSA {codes[closing]} closes after {years[t0 - 1]}")

    # --- students by year: smooth district trend, small building noise
    g = np.clip(rng.normal(-0.004, 0.02, size=(N, T)), -0.05, 0.05)
    g[:, 0] = 0.0
    G = np.exp(np.cumsum(np.log1p(g), axis=1))
    noise = np.clip(rng.normal(0, 0.01, size=(B, T)), -0.03, 0.03)
    b_students = np.maximum(3, np.round(base_b[:, None] * G[b_district] * (1 + noise))).astype(np.int64)
    students = np.zeros((N, T), dtype=np.int64)
    for t in range(T):
        students[:, t] = np.bincount(b_district, weights=b_students[:, t], minlength=N).astype(np.int64)

    # --- staffing
    ratio = np.where(is_isd, rng.uniform(8, 12, size=N), rng.uniform(16, 18, size=N))
    teachers = np.maximum(1, np.round(students / ratio[:, None])).astype(np.int64)
    leaders_b = 1 + (b_students >= 450) + (b_students >= 1000) + (b_students >= 1800)
    leaders_b[level == 4] = 1
    bleaders = np.zeros((N, T), dtype=np.int64)
    for t in range(T):
        bleaders[:, t] = np.bincount(b_district, weights=leaders_b[:, t], minlength=N).astype(np.int64)
    dl_base = np.where(
        is_lea, 1 + np.round(students0 / 2500), np.where(is_psa, 1 + (students0 > 800), 2 + rng.integers(0, 4, size=N))
    )
    dleaders = np.repeat(np.clip(dl_base, 1, 40).astype(np.int64)[:, None], T, axis=1)
    tech_ratio = rng.uniform(800, 1200, size=N)
    tech = np.maximum(1, np.round(students / tech_ratio[:, None])).astype(np.int64)
    support = np.round(teachers * 0.3).astype(np.int64)

    used_codes = set(codes)
    return World(
        years=years,
        starts=list(starts),
        code=codes,
        dtype=dtype_a,
        county=county_a,
        locale=locale,
        names=names_t,
        isd=isd_t,
        email=emails,
        active=active,
        b_district=b_district,
        b_code=b_code,
        b_name=b_name,
        b_level=level,
        b_students=b_students,
        students=students,
        nbuild=nb,
        teachers=teachers,
        bleaders=bleaders,
        dleaders=dleaders,
        tech=tech,
        support=support,
        spare_building_codes=spare,
        used_codes=used_codes,
        changes=changes,
        opening_psa=opening,
        closing_psa=closing,
    )


# ---------------------------------------------------------------------------------------
# Yearly figures that need the whole history (connectivity) or persistent district traits
# ---------------------------------------------------------------------------------------


@dataclass
class Traits:
    dev_eff: np.ndarray
    age_eff: np.ndarray
    take_home: np.ndarray
    teacher_cov: np.ndarray
    display: np.ndarray
    presence: np.ndarray  # [B, C]
    bw: np.ndarray  # [N, T] Mbps
    wan: np.ndarray  # [N, T] (nan = empty)
    wifi: np.ndarray
    cost: np.ndarray
    erate: np.ndarray  # [N, T] (0 = empty)
    without_home: np.ndarray
    hotspots: np.ndarray
    pl_rate: np.ndarray  # [N, 5, T]
    id_base: np.ndarray  # [N, 5]


def build_traits(w: World, rng: np.random.Generator) -> Traits:
    N, T, B = w.n, len(w.starts), len(w.b_code)
    rel = np.array(w.starts, dtype=np.float64) - 2021  # 0 for 2021-22
    presence = rng.random((B, len(COMBOS))) < COMBO_PRESENCE[w.b_level]
    student_computing = presence[:, :4]
    none = ~student_computing.any(axis=1)
    presence[none, 0] = True
    presence[:, 5] = True  # teacher laptops
    presence[:, 9] = True  # staff desktops

    rural = w.locale == 3
    small = w.students[:, 0] < 1000
    # bandwidth: kbps per student grows ~22 % a year; ~75 % meet 1 Mbps in 2025-26
    z = rng.normal(size=N)
    kbps = np.exp(np.log(1500) + np.log(1.22) * (rel[None, :] - 4) + 0.6 * z[:, None] + rng.normal(0, 0.05, (N, T)))
    raw = kbps * np.maximum(w.students, 1) / 1000
    tier_idx = np.abs(np.log(raw[..., None]) - np.log(BW_TIERS)).argmin(axis=-1)
    bw = BW_TIERS[tier_idx]
    bw = np.maximum.accumulate(bw, axis=1)
    cpm = np.exp(np.log(1.9) - 0.12 * rel[None, :] + 0.25 * rng.normal(size=N)[:, None])
    cpm = cpm * np.where(rural & small, 1.5, 1.0)[:, None] * np.where(bw >= 2000, 0.65, np.where(bw < 100, 1.3, 1.0))
    cost = np.round(bw * cpm, 2)
    wan_raw = np.maximum(w.students, 1) * 10 * rng.uniform(0.3, 1.2, size=N)[:, None]
    wan = BW_TIERS[np.abs(np.log(wan_raw[..., None]) - np.log(BW_TIERS)).argmin(axis=-1)]
    wan = np.maximum.accumulate(wan, axis=1)
    wan_empty = np.where(w.nbuild == 1, rng.random(N) < 0.7, rng.random(N) < 0.1)
    wan[wan_empty] = np.nan
    wifi_base = rng.uniform(60, 95, size=N)
    wifi = np.minimum(100.0, np.round((wifi_base[:, None] + 3.0 * (np.arange(T))[None, :]) * 2) / 2)
    band_p = np.where(
        (w.locale == 0)[:, None],
        [0.0, 0.02, 0.05, 0.08, 0.15, 0.35, 0.35],
        np.where(
            (w.locale == 1)[:, None], [0.05, 0.2, 0.3, 0.25, 0.1, 0.07, 0.03], [0.0, 0.05, 0.1, 0.25, 0.3, 0.25, 0.05]
        ),
    )
    cum = np.cumsum(band_p, axis=1)
    band = (rng.random(N)[:, None] * cum[:, -1:] > cum).sum(axis=1)
    erate = np.repeat(ERATE_BANDS[np.minimum(band, 6)][:, None], T, axis=1).astype(np.float64)
    erate[rng.random(N) < 0.08] = 0.0
    gap_base = np.select([w.locale == 0, w.locale == 1, w.locale == 2], [0.12, 0.05, 0.10], 0.15)
    gap = gap_base * rng.uniform(0.6, 1.4, size=N)
    without_home = np.round(w.students * gap[:, None] * (0.88**rel)[None, :]).astype(np.int64)
    hot_cov = rng.uniform(0.3, 0.95, size=N)
    hotspots = np.floor(without_home * hot_cov[:, None]).astype(np.int64)

    pl_base = np.array([0.45, 0.55, 0.55, 0.60, 0.20])
    pl_lo = np.array([0.40, 0.40, 0.40, 0.40, 0.05])
    pl_hi = np.array([0.85, 0.88, 0.88, 0.92, 0.40])
    zr = rng.normal(size=(N, 5))
    rate = pl_base[None, :, None] + 0.07 * rel[None, None, :] + 0.08 * zr[..., None] + rng.normal(0, 0.03, (N, 5, T))
    rate = np.clip(rate, pl_lo[None, :, None], pl_hi[None, :, None])
    id_base = np.stack(
        [
            rng.integers(1000, 8000, size=N),
            rng.integers(1, 400, size=N),
            np.zeros(N, dtype=np.int64),  # district leaders: building-leader base + 500
            np.ones(N, dtype=np.int64),
            rng.integers(1000, 8000, size=N),
        ],
        axis=1,
    )
    id_base[:, R_DLEADER] = id_base[:, R_BLEADER] + 500
    return Traits(
        dev_eff=np.exp(rng.normal(0, 0.08, size=N)),
        age_eff=rng.normal(0, 0.05, size=N),
        take_home=rng.uniform(0.35, 0.90, size=N),
        teacher_cov=rng.uniform(0.85, 0.98, size=N),
        display=rng.uniform(0.4, 1.0, size=N),
        presence=presence,
        bw=bw,
        wan=wan,
        wifi=wifi,
        cost=cost,
        erate=erate,
        without_home=without_home,
        hotspots=hotspots,
        pl_rate=rate,
        id_base=id_base,
    )
