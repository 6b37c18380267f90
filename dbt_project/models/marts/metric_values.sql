-- Every metric of DATA_SPEC section 3 as one row per scope x district x metric x
-- school year, with the value of the school year just before, the change, and the
-- configured target (booleans as 1/0).
{%- set metrics = metric_names() %}

with district_metrics as (
    select
        'district' as scope,
        district_code,
        {%- for metric in metrics %}
        cast({{ metric }} as double) as {{ metric }},
        {%- endfor %}
        school_year
    from {{ ref('district_year_metrics') }}
),

state_metrics as (
    select
        'state' as scope,
        cast(null as varchar) as district_code,
        {%- for metric in metrics %}
        cast({{ metric }} as double) as {{ metric }},
        {%- endfor %}
        school_year
    from {{ ref('state_year_metrics') }}
),

metric_targets as (
    select * from {{ ref('stg_reference__metric_targets') }}
),

wide_metrics as (
    select * from district_metrics
    union all
    select * from state_metrics
),

long_metrics as (
    select
        scope,
        district_code,
        school_year,
        metric,
        metric_value
    from wide_metrics
    unpivot include nulls (
        metric_value for metric in ({{ metrics | join(', ') }})
    )
),

values_with_previous_year as (
    select
        this_year.scope,
        this_year.district_code,
        this_year.school_year,
        this_year.metric,
        this_year.metric_value,
        prior_year.metric_value as previous_value
    from long_metrics as this_year
    left join long_metrics as prior_year
        on this_year.scope = prior_year.scope
        and this_year.district_code is not distinct from prior_year.district_code
        and this_year.metric = prior_year.metric
        and prior_year.school_year = {{ previous_school_year('this_year.school_year') }}
),

final as (
    select
        cast(
            values_with_previous_year.scope
            || ':' || coalesce(values_with_previous_year.district_code, 'state')
            || ':' || values_with_previous_year.metric
            || ':' || values_with_previous_year.school_year
            as varchar
        ) as k_metric_value,
        cast(values_with_previous_year.scope as varchar) as scope,
        cast(values_with_previous_year.district_code as varchar) as district_code,
        cast(values_with_previous_year.school_year as varchar) as school_year,
        cast(values_with_previous_year.metric as varchar) as metric,
        cast(values_with_previous_year.metric_value as double) as value,
        cast(values_with_previous_year.previous_value as double) as previous_value,
        cast(values_with_previous_year.metric_value - values_with_previous_year.previous_value as double)
            as change_from_previous_year,
        cast(metric_targets.target as double) as target,
        cast(metric_targets.comparison as varchar) as comparison,
        cast({{ meets_target(
            'values_with_previous_year.metric_value', 'metric_targets.comparison', 'metric_targets.target'
        ) }} as boolean) as meets_target
    from values_with_previous_year
    left join metric_targets
        on values_with_previous_year.metric = metric_targets.metric
)

select * from final
