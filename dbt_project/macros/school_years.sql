{#-
    School years are written YYYY-YY (2024-25 runs 2024-07-01 to 2025-06-30) and
    sort correctly as text.

    previous_school_year('2024-25') -> '2023-24'
-#}
{% macro previous_school_year(school_year) -%}
    (
        cast(cast(left({{ school_year }}, 4) as integer) - 1 as varchar)
        || '-'
        || lpad(cast(cast(left({{ school_year }}, 4) as integer) % 100 as varchar), 2, '0')
    )
{%- endmacro %}
