-- DATA_SPEC section 5: each objective's metrics, per school year, for every
-- district and for the state (marts.metric_values joined to the objective map).
with objective_metrics as (
    select * from {{ ref('stg_reference__objective_metrics') }}
),

metric_values as (
    select * from {{ ref('metric_values') }}
),

objective_progress as (
    select
        cast(objective_metrics.objective_id as varchar) as objective_id,
        cast(metric_values.metric as varchar) as metric,
        cast(metric_values.school_year as varchar) as school_year,
        cast(metric_values.scope as varchar) as scope,
        cast(metric_values.district_code as varchar) as district_code,
        cast(metric_values.value as double) as value,
        cast(metric_values.target as double) as target,
        cast(metric_values.meets_target as boolean) as meets_target,
        cast(metric_values.change_from_previous_year as double) as change_from_previous_year
    from objective_metrics
    inner join metric_values
        on objective_metrics.metric = metric_values.metric
)

select * from objective_progress
