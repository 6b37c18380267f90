"""A table of dictionary-encoded text columns, cheap to edit cell by cell (the defect
injector, the corrections) and fast to write (as Arrow dictionary columns, with DuckDB).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


class Frame:
    """Columns as (codes, values): codes is an int32 array indexing the list `values`
    (-1 = empty field). Editing a cell appends its new text to `values`. `district`
    holds the district index of each row (-1 for a district in no directory)."""

    def __init__(self, cols: dict[str, tuple[np.ndarray, list[str]]], district: np.ndarray):
        self.cols: dict[str, list] = {k: [np.asarray(c, dtype=np.int32), v] for k, (c, v) in cols.items()}
        self.district = np.asarray(district, dtype=np.int64)

    @property
    def n(self) -> int:
        return int(self.district.shape[0])

    @property
    def names(self) -> list[str]:
        return list(self.cols)

    def rows_of(self, d: int) -> np.ndarray:
        return np.flatnonzero(self.district == d)

    def take(self, idx: np.ndarray) -> Frame:
        """The rows `idx`, with dictionaries cut down to the values they use."""
        cols = {}
        for k, (codes, values) in self.cols.items():
            sub = codes[idx]
            used = np.unique(sub)
            used = used[used >= 0]
            lookup = np.full(len(values) or 1, -1, dtype=np.int32)
            lookup[used] = np.arange(len(used), dtype=np.int32)
            cols[k] = (np.where(sub >= 0, lookup[np.maximum(sub, 0)], -1), [values[i] for i in used.tolist()])
        return Frame(cols, self.district[idx].copy())

    def get(self, i: int, col: str) -> str | None:
        codes, values = self.cols[col]
        code = int(codes[i])
        return None if code < 0 else values[code]

    def get_int(self, i: int, col: str) -> int:
        return int(self.get(i, col))  # type: ignore[arg-type]

    def set(self, i: int, col: str, value: str | None) -> None:
        codes, values = self.cols[col]
        if value is None:
            codes[i] = -1
        else:
            values.append(value)
            codes[i] = len(values) - 1

    def row(self, i: int) -> dict[str, str | None]:
        return {k: self.get(i, k) for k in self.cols}

    def append(self, row: dict[str, str | None], district: int) -> int:
        """Append a row at the end; returns its index."""
        for k, entry in self.cols.items():
            codes, values = entry
            value = row.get(k)
            if value is None:
                code = -1
            else:
                values.append(value)
                code = len(values) - 1
            entry[0] = np.append(codes, np.int32(code))
        self.district = np.append(self.district, district)
        return self.n - 1

    def drop(self, col: str) -> None:
        del self.cols[col]

    def add_column(self, col: str, values: list[str | None]) -> None:
        uniq = sorted({v for v in values if v is not None})
        index = {v: i for i, v in enumerate(uniq)}
        codes = np.array([-1 if v is None else index[v] for v in values], dtype=np.int32)
        self.cols[col] = [codes, list(uniq)]

    def batches(self, cols: list[str], names: list[str], chunk: int = 262_144) -> pa.RecordBatchReader:
        """The frame as a stream of Arrow record batches (dictionary-encoded strings)."""
        dicts = [pa.array(self.cols[c][1] or [""], type=pa.string()) for c in cols]
        schema = pa.schema([pa.field(n, pa.dictionary(pa.int32(), pa.string())) for n in names])

        def gen():
            for lo in range(0, self.n, chunk):
                arrays = []
                for c, values in zip(cols, dicts, strict=True):
                    codes = self.cols[c][0][lo : lo + chunk]
                    mask = codes < 0
                    idx = pa.array(np.where(mask, 0, codes), type=pa.int32(), mask=mask if mask.any() else None)
                    arrays.append(pa.DictionaryArray.from_arrays(idx, values))
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)

        return pa.RecordBatchReader.from_batches(schema, gen())


def dict_col(codes: np.ndarray, values: list[str]) -> tuple[np.ndarray, list[str]]:
    return np.asarray(codes, dtype=np.int32), list(values)


def const_col(value: str, n: int) -> tuple[np.ndarray, list[str]]:
    return np.zeros(n, dtype=np.int32), [value]


def int_col(values: np.ndarray, empty: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    values = np.asarray(values, dtype=np.int64)
    uniq, inv = np.unique(values, return_inverse=True)
    codes = inv.astype(np.int32)
    if empty is not None:
        codes[empty] = -1
    return codes, [str(v) for v in uniq.tolist()]


def fmt_col(values: np.ndarray, fmt: str, empty: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """Numbers formatted with `fmt` (values already rounded to what the format shows)."""
    values = np.asarray(values, dtype=np.float64)
    uniq, inv = np.unique(values, return_inverse=True)
    codes = inv.astype(np.int32)
    if empty is not None:
        codes[empty] = -1
    return codes, [fmt_number(v, fmt) for v in uniq.tolist()]


def fmt_number(v: float, fmt: str) -> str:
    if fmt == "g":
        text = f"{v:.2f}".rstrip("0").rstrip(".")
        return text or "0"
    return format(v, fmt)
