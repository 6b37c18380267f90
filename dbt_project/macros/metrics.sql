{#-
    The metrics of DATA_SPEC section 3, in the order of the spec. marts.metric_values
    unpivots exactly these columns of district_year_metrics and state_year_metrics,
    and a singular test checks the list against reference.metrics (config/metrics.yml).
-#}
{% macro metric_names() %}
    {{ return([
        'student_count',
        'student_devices',
        'students_per_device',
        'teacher_device_coverage_pct',
        'aging_device_share_pct',
        'take_home_share_pct',
        'kbps_per_student',
        'meets_bandwidth_target',
        'wifi_classrooms_covered_pct',
        'cost_per_mbps_usd',
        'home_internet_gap_pct',
        'hotspot_coverage_pct',
        'leader_pl_rate_pct',
        'teacher_pl_rate_pct',
        'tech_staff_pl_rate_pct',
        'pl_hours_face_to_face',
        'pl_hours_online',
        'pl_hours_blended',
        'tpack_samr_participants',
        'pln_leader_participants',
        'oer_participants',
        'cbe_participants',
        'skill_assessment_participants',
        'data_complete',
    ]) }}
{% endmacro %}


{#-
    multiplier x numerator / denominator as DOUBLE. Null when either side is null
    (a family it needs has no published rows) or the denominator is 0. Not capped.
-#}
{% macro ratio(numerator, denominator, multiplier=1) -%}
    ({{ multiplier }} * cast({{ numerator }} as double) / nullif(cast({{ denominator }} as double), 0))
{%- endmacro %}


{#-
    The state's ratio: numerators and denominators summed over the districts where
    both are published (DATA_SPEC section 3), then divided. Use in an aggregate
    query over district rows. Summed as decimals: a sum of doubles depends on the
    order DuckDB's parallel aggregation adds them in (the last bits of
    cost_per_mbps_usd differed between two builds of the same data), a decimal sum
    does not, so every build of the same data gives the same figures.
-#}
{% macro summed_ratio(numerator, denominator, multiplier=1) -%}
    {%- set both_published = numerator ~ ' is not null and ' ~ denominator ~ ' is not null' -%}
    {{ ratio(
        'sum(cast(' ~ numerator ~ ' as decimal(38, 6))) filter (where ' ~ both_published ~ ')',
        'sum(cast(' ~ denominator ~ ' as decimal(38, 6))) filter (where ' ~ both_published ~ ')',
        multiplier
    ) }}
{%- endmacro %}


{#-
    Whether a value meets its configured target (reference.metric_targets):
    null without a value or a target.
-#}
{% macro meets_target(value, comparison, target) -%}
    case
        when {{ value }} is null or {{ target }} is null then null
        when {{ comparison }} = '>=' then {{ value }} >= {{ target }}
        when {{ comparison }} = '<=' then {{ value }} <= {{ target }}
    end
{%- endmacro %}


{#- A SQL list literal from a list of strings: ('a', 'b') -#}
{% macro sql_list(values) -%}
    ({% for value in values %}'{{ value }}'{% if not loop.last %}, {% endif %}{% endfor %})
{%- endmacro %}


{#-
    One row with a column per national connectivity benchmark of
    reference.connectivity_benchmarks (config/metrics.yml), named as there, except
    wan_kbps_per_student_goal (the district column wan_kbps_per_student is the figure).
-#}
{% macro connectivity_benchmark_values() -%}
    select
        max(value) filter (where benchmark = 'short_term_kbps_per_student') as short_term_kbps_per_student,
        max(value) filter (where benchmark = 'long_term_kbps_per_student') as long_term_kbps_per_student,
        max(value) filter (where benchmark = 'wan_kbps_per_student') as wan_kbps_per_student_goal,
        max(value) filter (where benchmark = 'affordable_cost_per_mbps_usd') as affordable_cost_per_mbps_usd
    from {{ ref('stg_reference__connectivity_benchmarks') }}
{%- endmacro %}
