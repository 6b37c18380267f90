{#-
    The lineage columns every row of raw.<family> carries (docs/ARCHITECTURE.md), under
    their staging names: the file (SHA-256 of its bytes), its place in received order,
    the line of the file the row starts on, and the run that loaded it.
-#}
{% macro lineage_columns() -%}
    _file_id as file_id,
    _received_seq as received_seq,
    _line as source_line,
    _run_id as run_id
{%- endmacro %}
