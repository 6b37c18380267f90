{#-
    Fails on every combination of the given columns that occurs on more than one
    row (nulls compare equal, so the state's null district_code is one value).
    Returns one row per duplicated combination; failures = duplicated combinations.
-#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
    with grouped_rows as (
        select
            {{ combination_of_columns | join(', ') }},
            count(*) as rows_with_this_combination
        from {{ model }}
        group by {{ combination_of_columns | join(', ') }}
    )

    select *
    from grouped_rows
    where rows_with_this_combination > 1
{% endtest %}
