{#-
    Latest submission wins (DATA_SPEC section 2): for one (family, school_year,
    district_code) the published rows are those of the file received last, i.e.
    with the greatest received_seq present. A later file replaces the earlier rows
    whole, even when it has fewer rows.

    Set-based: one aggregate over the key, then one hash join back; no window over
    the whole family and no per-row subquery.

    relation: a relation or CTE name with school_year, district_code, received_seq.
-#}
{% macro latest_submission(relation, key_columns=['school_year', 'district_code'], sequence_column='received_seq') %}
    select submitted_rows.*
    from {{ relation }} as submitted_rows
    inner join (
        select
            {{ key_columns | join(', ') }},
            max({{ sequence_column }}) as latest_{{ sequence_column }}
        from {{ relation }}
        group by {{ key_columns | join(', ') }}
    ) as latest_submissions
        on {% for column in key_columns -%}
            submitted_rows.{{ column }} = latest_submissions.{{ column }}
            and {% endfor -%}
            submitted_rows.{{ sequence_column }} = latest_submissions.latest_{{ sequence_column }}
{% endmacro %}
