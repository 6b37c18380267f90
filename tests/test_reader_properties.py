"""Properties of the CSV reader (flows/ingest/read_csv.py), checked on generated files:

- any text values written by Python's `csv` module read back as the same values,
  trimmed of surrounding whitespace, empty -> NULL (DATA_SPEC section 1), each row with
  the physical line it starts on (the header is line 1), whatever commas, quotes,
  newlines, unicode, leading zeros or whitespace they hold;
- arbitrary bytes never crash the reader: they give rows or a file-level issue;
- the header's case, padding, quoting and column order do not change what is read.

Bounded: a few dozen examples each, so the file runs in seconds.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from flows.ingest.families import FAMILIES
from flows.ingest.read_csv import read_landing_file

ENROLLMENT = FAMILIES["enrollment"]
COLUMNS = list(ENROLLMENT.column_names)
FILE_LEVEL_RULES = {
    "empty_file",
    "unreadable_file",
    "encoding_not_utf8",
    "wrong_delimiter",
    "duplicate_column_name",
    "missing_required_column",
}
ROW_RULES = {"malformed_row", "extra_column"}

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

# Text a district might put in a cell: anything but NUL (a NUL byte marks a binary file)
# and lone surrogates (not encodable). Weighted towards the characters CSV cares about.
special = st.sampled_from(
    [",", '"', "\n", "\r\n", "\r", " ", "\t", "0", "00", "\u00a0", "\u3000", "é", "😀", "'", "=", ";"]
)
cell_text = st.lists(
    st.one_of(special, st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")), max_size=12
).map("".join)


def read(path: Path, family=ENROLLMENT):
    con = duckdb.connect()
    try:
        result = read_landing_file(con, path, family, "t")
        rows = []
        if result.usable:
            rows = con.execute(f"select _line, {', '.join(family.column_names)} from t order by _line").fetchall()
        return result, rows
    finally:
        con.close()


def write_csv(
    rows: list[list[str]], header: list[str], lineterminator: str, quoting: int = csv.QUOTE_MINIMAL
) -> tuple[str, list[int]]:
    """The CSV text and the physical line each data row starts on."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator=lineterminator, quoting=quoting)
    writer.writerow(header)
    starts = []
    for row in rows:
        starts.append(buffer.getvalue().count("\n") + 1)
        writer.writerow(row)
    return buffer.getvalue(), starts


def expected_value(text: str) -> str | None:
    return text.strip() or None


@SETTINGS
@given(
    rows=st.lists(st.lists(cell_text, min_size=len(COLUMNS), max_size=len(COLUMNS)), min_size=1, max_size=8),
    lineterminator=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
)
@example(
    rows=[["2024-25", "01010", "00101", 'A "quoted", name\nover two lines', "007"]],
    lineterminator="\n",
    bom=False,
    quoting=csv.QUOTE_MINIMAL,
)
@example(
    rows=[["", " ", "\t", "\u3000", ""], [" 01010 ", "x", "y", "z", "0"]],
    lineterminator="\r\n",
    bom=True,
    quoting=csv.QUOTE_ALL,
)
@example(
    rows=[["a", "b", "c", "d\n\ne", "f"], ["g", "h", "i", "j", "k"]],
    lineterminator="\n",
    bom=False,
    quoting=csv.QUOTE_MINIMAL,
)
def test_values_written_by_the_csv_module_read_back_trimmed_with_their_physical_lines(
    tmp_path, rows, lineterminator, bom, quoting
):
    text, starts = write_csv(rows, COLUMNS, lineterminator, quoting)
    # Python 3.11's writer leaves a lone CR unquoted when the line ends are LF: such a
    # file is not a CSV of these values for any reader (Python's own splits the row there)
    assume(list(csv.reader(io.StringIO(text, newline="")))[1:] == rows)
    path = tmp_path / "enrollment_2024-25.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    result, got = read(path)
    expected = [
        (start, *(expected_value(v) for v in row))
        for start, row in zip(starts, rows, strict=True)
        if any(expected_value(v) for v in row)  # a row of empty cells is a blank line
    ]
    if not expected:
        assert [i.rule for i in result.issues] == ["empty_file"]
        return
    assert [i.rule for i in result.issues] == []
    assert got == expected


# Byte soup weighted towards what trips CSV parsers and decoders.
byte_tokens = st.sampled_from(
    [
        b",",
        b'"',
        b"\n",
        b"\r",
        b"\r\n",
        b" ",
        b"\t",
        b";",
        b"\x00",
        b"\xff",
        b"\xef\xbb\xbf",
        b"\xc3",
        b"\xa9",
        b"\xfe\xff",
        b"01010",
        b"2024-25",
        b"abc",
        b"\\",
        b"''",
    ]
)
soups = st.one_of(
    st.binary(max_size=400),
    st.lists(byte_tokens, max_size=60).map(b"".join),
    st.lists(byte_tokens, max_size=60).map(lambda t: (",".join(COLUMNS) + "\n").encode() + b"".join(t)),
)


@SETTINGS
@given(data=soups)
@example(data=b"")
@example(data=b"\x00" * 10)
@example(data=(",".join(COLUMNS) + '\n"').encode())
@example(data=(",".join(COLUMNS) + "\n\n\n,,,,\n \n").encode())
@example(data=b"\xff\xfe" + ",".join(COLUMNS).encode("utf-16-le"))
def test_arbitrary_bytes_never_crash_the_reader(tmp_path, data):
    path = tmp_path / "enrollment_2024-25.csv"
    path.write_bytes(data)
    result, rows = read(path)
    if result.usable:
        assert result.row_count == len(rows) > 0 or any(i.rule == "malformed_row" for i in result.issues)
        assert {i.rule for i in result.issues} <= ROW_RULES
        lines = [r[0] for r in rows]
        assert lines == sorted(set(lines)) and all(line >= 2 for line in lines)
    else:
        assert result.issues and result.issues[-1].rule in FILE_LEVEL_RULES
        assert all(i.severity == "error" and i.message for i in result.issues if i.rule in FILE_LEVEL_RULES)


def header_variants(names: list[str]):
    """Each name with random case and padding, maybe quoted; a random order; maybe a BOM."""

    def decorate(name: str):
        return st.tuples(
            st.lists(st.booleans(), min_size=len(name), max_size=len(name)),
            st.sampled_from(["", " ", "  ", "\t"]),
            st.sampled_from(["", " ", "\t "]),
            st.booleans(),
        ).map(
            lambda t: ('"{}"' if t[3] else "{}").format(
                t[1] + "".join(c.upper() if up else c.lower() for c, up in zip(name, t[0], strict=True)) + t[2]
            )
        )

    return st.tuples(st.permutations(range(len(names))), st.tuples(*(decorate(n) for n in names)), st.booleans())


@SETTINGS
@given(variant=header_variants(COLUMNS))
def test_header_case_padding_quoting_and_order_do_not_change_what_is_read(tmp_path, variant):
    order, decorated, bom = variant
    rows = [
        {
            "school_year": "2024-25",
            "district_code": "01010",
            "building_code": "00101",
            "building_name": "A, b",
            "student_count": "300",
        },
        {
            "school_year": "2024-25",
            "district_code": "01020",
            "building_code": "00201",
            "building_name": "C\nd",
            "student_count": "7",
        },
    ]
    header = ",".join(decorated[i] for i in order)
    body = "".join(",".join('"' + row[COLUMNS[i]].replace('"', '""') + '"' for i in order) + "\n" for row in rows)
    path = tmp_path / "enrollment_2024-25.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + (header + "\n" + body).encode())
    result, got = read(path)
    assert [i.rule for i in result.issues] == []
    assert got == [(2, *rows[0].values()), (3, *rows[1].values())]


# ------------------------------------------------- many files of a family in one read


def read_batch(paths: list[Path], family=ENROLLMENT, work_dir: Path | None = None):
    """read_landing_files over the files (index = position): per file its result and rows."""
    from flows.ingest.read_csv import BatchFile, read_landing_files

    con = duckdb.connect()
    try:
        batch = read_landing_files(
            con, [BatchFile(i, p) for i, p in enumerate(paths)], family, "b", work_dir=work_dir or paths[0].parent
        )
        rows = con.execute(
            f"select _file, _line, {', '.join(family.column_names)} from b order by _file, _line"
        ).fetchall()
        return [(batch.results[i], [r[1:] for r in rows if r[0] == i]) for i in range(len(paths))]
    finally:
        con.close()


def _verdict(result):
    return result.usable, result.row_count, [(i.rule, i.line, i.value, i.district_code) for i in result.issues]


one_file = st.one_of(
    # values the csv module writes (quotes, commas, line breaks, blank rows), either line ending
    st.tuples(
        st.lists(st.lists(cell_text, min_size=len(COLUMNS), max_size=len(COLUMNS)), min_size=1, max_size=5),
        st.sampled_from(["\n", "\r\n"]),
    ).map(lambda t: write_csv(t[0], COLUMNS, t[1])[0].encode("utf-8")),
    # one-line rows of plain values, the shape districts mostly send
    st.lists(
        st.lists(st.sampled_from(["2024-25", "01010", " 00101 ", "x", "", "12", "é"]), min_size=5, max_size=5),
        min_size=1,
        max_size=5,
    ).map(lambda rows: ("\n".join([",".join(COLUMNS), *(",".join(r) for r in rows)]) + "\n").encode()),
    soups,
)


@SETTINGS
@given(files=st.lists(one_file, min_size=1, max_size=6))
@example(files=[(",".join(COLUMNS) + "\n2024-25,01010,00101,A,5\n").encode()] * 3)
@example(files=[(",".join(COLUMNS) + "\n2024-25,01010,00101,A,5\n").encode(), (",".join(COLUMNS) + '\n"x\n').encode()])
def test_files_read_together_give_what_each_gives_read_alone(tmp_path, files):
    """The batch reader scans the data lines of many small files in one read; every file's
    rows (with their physical lines), issues and verdict are those of reading it alone."""
    paths = []
    for i, data in enumerate(files):
        path = tmp_path / f"enrollment_2024-25_{i:05d}.csv"
        path.write_bytes(data)
        paths.append(path)
    together = read_batch(paths)
    for path, (result, rows) in zip(paths, together, strict=True):
        alone, alone_rows = read(path)
        assert _verdict(result) == _verdict(alone), path.read_bytes()[:300]
        assert rows == alone_rows, path.read_bytes()[:300]


@pytest.mark.fast
def test_small_files_of_one_header_are_read_in_one_scan(tmp_path, monkeypatch):
    """A night of districts' own uploads: many one-line-row files cost one scan, not one
    read each (a DuckDB result left half-fetched once made every such scan fall back)."""
    import flows.ingest.read_csv as read_csv

    paths = []
    for i in range(40):
        path = tmp_path / f"enrollment_2024-25_{10000 + i:05d}.csv"
        path.write_text(
            f"{','.join(COLUMNS)}\n2024-25,{10000 + i:05d},00101,A,{i + 1}\n2024-25,{10000 + i:05d},00102,B,3\n"
        )
        paths.append(path)

    def one_by_one(*args, **kwargs):
        raise AssertionError("a file was read on its own")

    monkeypatch.setattr(read_csv, "read_landing_file", one_by_one)
    together = read_batch(paths)
    assert [r.row_count for r, _ in together] == [2] * 40
    assert together[7][1] == [(2, "2024-25", "10007", "00101", "A", "8"), (3, "2024-25", "10007", "00102", "B", "3")]


@pytest.mark.fast
def test_product_code_never_leaves_a_duckdb_result_half_fetched():
    """DuckDB 2 refuses the next statement on a connection whose last result was not
    fetched to the end (`fetchone()` leaves it open): flows.warehouse.db.scalar fetches it all."""
    root = Path(__file__).resolve().parent.parent
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for folder in ("flows", "bench")
        for path in sorted((root / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ".fetchone()" in line
    ]
    assert offenders == [], "use flows.warehouse.db.scalar (or fetchall) instead of fetchone(): " + ", ".join(offenders)
