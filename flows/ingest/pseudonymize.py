"""Privacy at ingestion (DATA_SPEC section 4): `educator_id` is replaced by
HMAC-SHA256(key, "district_code:educator_id") before anything is written to the
warehouse, so one person is still counted once but cannot be named.

The HMAC is computed inside DuckDB (RFC 2104 from its sha256 function), so millions of
PL rows are hashed without a Python loop; `hmac_hex` is the reference implementation
the tests compare it with.
"""

from __future__ import annotations

import hashlib
import hmac

import duckdb

from ..warehouse.db import run

_BLOCK = 64  # SHA-256 block size in bytes


class MissingPseudonymKey(Exception):
    pass


MISSING_KEY_MESSAGE = (
    "ROADMAP_PSEUDONYM_KEY is not set, so professional-learning files cannot be loaded: "
    "educator IDs must be replaced by a keyed hash before they reach the warehouse. "
    "Set ROADMAP_PSEUDONYM_KEY to a long random secret kept outside the repository "
    "(e.g. `export ROADMAP_PSEUDONYM_KEY=$(python -c 'import secrets; print(secrets.token_hex(32))')`) "
    "and keep the same key every night, or pseudonyms will not match across years."
)


def hmac_hex(key: bytes, district_code: str, educator_id: str) -> str:
    return hmac.new(key, f"{district_code}:{educator_id}".encode(), hashlib.sha256).hexdigest()


def _pads(key: bytes) -> tuple[bytes, bytes]:
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def hmac_sql(message_sql: str) -> str:
    """SQL expression of HMAC-SHA256 (hex) of `message_sql`, with parameters $ipad, $opad."""
    return f"sha256($opad || unhex(sha256($ipad || encode({message_sql}))))"


def pseudonymize_table(con: duckdb.DuckDBPyConnection, table: str, key: bytes | None) -> None:
    """Replace column educator_id of `table` by educator_key (64 hex characters)."""
    if key is None:
        raise MissingPseudonymKey(MISSING_KEY_MESSAGE)
    ipad, opad = _pads(key)
    message = "coalesce(district_code, '') || ':' || educator_id"
    run(
        con,
        f"""
        create or replace temp table {table} as
        select * replace (
            case when educator_id is null then null else {hmac_sql(message)} end as educator_id
        )
        from {table}
        """.replace("$ipad", "$ipad::blob").replace("$opad", "$opad::blob"),
        {"ipad": ipad, "opad": opad},
    )
    run(con, f"alter table {table} rename column educator_id to educator_key")
