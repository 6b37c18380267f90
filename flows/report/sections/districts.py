"""The districts of the year (column-wise over the DataFrame of ``queries.districts``):
the index of district pages, the districts with incomplete data and the quarantined
submissions of the data-quality section (review.sections.data_quality)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from markupsafe import Markup

from .. import queries
from ..cells import FAMILY_LABELS, dlink, e, records
from ..pages import page_name


@dataclass
class Districts:
    index_rows: list[dict]
    index_rows_html: Markup  # for the review (links into districts/<year>/)
    index_page_rows_html: Markup  # for districts/<year>/index.html
    incomplete: list[dict]
    incomplete_html: Markup
    quarantine: list[dict]
    quarantine_by_district: dict[str, list[dict]]


def section(data: dict, page_href: dict[str, str], district_link: Callable[..., dict]) -> Districts:
    sy = data["school_year"]
    families = queries.FAMILIES
    d = data["districts"].copy()
    d["district_code"] = d["district_code"].astype(str)
    has = (
        np.column_stack([d[f"has_{f}"].fillna(False).astype(bool).to_numpy() for f in families])
        if len(d)
        else np.zeros((0, len(families)), bool)
    )
    labels = np.array([FAMILY_LABELS[f] for f in families], dtype=object)
    d["_missing"] = [", ".join(labels[~row]) for row in has]
    d["_nothing"] = ~has.any(axis=1) if len(d) else []
    d["_complete"] = d["data_complete"].fillna(False).astype(bool) if len(d) else []
    d["_isd"] = d["isd_name"].where(d["isd_name"].notna(), d["isd_code"])
    quarantine_by_district: dict[str, list[dict]] = {}
    for q in data["quarantined"]:
        quarantine_by_district.setdefault(str(q["district_code"]), []).append(
            {
                "district": district_link(q["district_code"], q.get("district_name")),
                "family": FAMILY_LABELS.get(q["family"], q["family"] or "unknown"),
                "issues": q["issues"],
                "files": q["files"],
                "rules": q.get("rules") or "",
                "published": q.get("family_published"),
            }
        )
    quarantine = [q for qs in quarantine_by_district.values() for q in qs]
    d["_quarantined"] = d["district_code"].isin(set(quarantine_by_district))
    rec = records(
        d[
            [
                "district_code",
                "district_name",
                "district_type",
                "locale",
                "county",
                "_isd",
                "_complete",
                "_quarantined",
                "_missing",
                "_nothing",
            ]
        ]
    )
    index_rows = [
        {
            "district": district_link(r["district_code"], r["district_name"]),
            "type": r["district_type"],
            "locale": r["locale"],
            "county": r["county"],
            "isd": r["_isd"],
            "complete": r["_complete"],
            "quarantined": r["_quarantined"],
        }
        for r in rec
    ]
    incomplete = [
        {
            "district": district_link(r["district_code"], r["district_name"]),
            "type": r["district_type"],
            "isd": r["_isd"],
            "missing": r["_missing"] or "(completeness not recorded)",
            "nothing": bool(r["_nothing"]),
        }
        for r in rec
        if not r["_complete"]
    ]

    isd_codes = dict(zip(d["district_code"], d["isd_code"], strict=True))
    for r in index_rows:
        r["isd_code"] = isd_codes.get(str(r["district"]["code"]))
    index_rows_html = Markup(
        _district_rows_html(
            index_rows, lambda c: page_href.get(str(c)), quarantine=True, isd_href=lambda c: f"isds/{sy}/{page_name(c)}"
        )
    )
    index_page_rows_html = Markup(
        _district_rows_html(
            index_rows, lambda c: page_name(c), quarantine=False, isd_href=lambda c: f"../../isds/{sy}/{page_name(c)}"
        )
    )
    incomplete_html = Markup(
        "".join(
            f"<tr><td>{dlink(r['district'], r['district']['href'])}</td>"
            f"<td>{e(r['type'])}</td><td>{e(r['isd'])}</td>"
            f"<td>{'<b>no file at all</b>: ' if r['nothing'] else ''}{e(r['missing'])}</td></tr>"
            for r in incomplete
        )
    )
    return Districts(
        index_rows=index_rows,
        index_rows_html=index_rows_html,
        index_page_rows_html=index_page_rows_html,
        incomplete=incomplete,
        incomplete_html=incomplete_html,
        quarantine=quarantine,
        quarantine_by_district=quarantine_by_district,
    )


def _district_rows_html(rows: list[dict], href, *, quarantine: bool, isd_href) -> str:
    ok, bad = '<span class="badge ok">complete</span>', '<span class="badge bad">incomplete</span>'
    q = ' <span class="badge bad">quarantined rows</span>'

    def isd(r) -> str:
        code = r.get("isd_code")
        if not isinstance(code, str):
            return e(r["isd"])
        return f'<a href="{e(isd_href(code))}">{e(r["isd"])}</a>'

    return "".join(
        f"<tr><td>{dlink(r['district'], href(r['district']['code']))}</td><td>{e(r['type'])}</td>"
        f"<td>{e(r['locale'])}</td><td>{e(r['county'])}</td><td>{isd(r)}</td>"
        f"<td>{ok if r['complete'] else bad}{q if quarantine and r['quarantined'] else ''}</td></tr>"
        for r in rows
    )
