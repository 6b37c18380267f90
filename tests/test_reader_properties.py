"""Properties of the CSV reader (flows/read_csv.py), checked on generated files:

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
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from flows.families import FAMILIES
from flows.read_csv import read_landing_file

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
