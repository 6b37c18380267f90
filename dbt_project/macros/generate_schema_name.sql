{#-
    Models land in schemas named exactly as configured (`staging`, `intermediate`,
    `marts`), not dbt's default `<target schema>_<custom schema>`: analysts and the
    report read `marts.district_year_metrics`, whatever the target.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
