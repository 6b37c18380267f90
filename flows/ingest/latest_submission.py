"""Latest submission wins (DATA_SPEC section 2), for the Python code that needs it
before dbt has built the models, or outside them.

dbt owns the rule for everything published: the macro `latest_submission`
(dbt_project/macros/latest_submission.sql) and the `int_<family>__published` models
built with it. Some steps need the same rule over `raw` itself: validation checks a
device row against the buildings of the latest enrollment *during* the load, before
any dbt build; alerts and reminders address each district's data contact of the latest
directory file that lists it. They all take the rule from `latest_submission_sql`
below, which writes the same SQL as the macro (one aggregate over the key, one join
back); a test renders the macro and runs both on random submission sequences in DuckDB.
"""

from __future__ import annotations

from collections.abc import Sequence


def latest_submission_sql(
    relation: str,
    key_columns: Sequence[str] = ("school_year", "district_code"),
    sequence_column: str = "_received_seq",
) -> str:
    """A select of the rows of `relation` that belong to the latest submission of each
    key: the rows with the greatest `sequence_column` of their key (a later file
    replaces the earlier rows whole, even when it has fewer rows). Rows whose key holds
    a NULL never match, as in the macro. `relation` is a table name or a parenthesised
    subquery."""
    if not key_columns:
        raise ValueError("latest_submission_sql needs at least one key column")
    keys = ", ".join(key_columns)
    matches = " and ".join(f"submitted_rows.{c} = latest_submissions.{c}" for c in key_columns)
    return (
        f"select submitted_rows.* from {relation} as submitted_rows "
        f"inner join (select {keys}, max({sequence_column}) as latest_{sequence_column} "
        f"from {relation} group by {keys}) as latest_submissions "
        f"on {matches} and submitted_rows.{sequence_column} = latest_submissions.latest_{sequence_column}"
    )


def latest_directory_sql(columns: Sequence[str] = ("district_code", "district_name", "data_contact_email")) -> str:
    """Each district's row of the latest directory file that lists it (raw.districts):
    the district's current name and data contact for e-mails."""
    return f"select {', '.join(columns)} from ({latest_submission_sql('raw.districts', ('district_code',))})"
