-- The objective catalog of config/roadmap_goal4.yml, each objective with the
-- metrics that measure it or the reason none can.
{%- set metrics = metric_names() %}

with catalog as (
    select * from {{ ref('stg_reference__objectives') }}
),

objective_metrics as (
    select * from {{ ref('stg_reference__objective_metrics') }}
),

unmeasured_objectives as (
    select * from {{ ref('stg_reference__objective_unmeasured') }}
),

metrics_per_objective as (
    select
        objective_id,
        -- in the order of DATA_SPEC section 3 (the list of every metric renders
        -- as one long line)
        string_agg(
            metric, ', '
            order by list_position(['{{ metrics | join("', '") }}'], metric), metric  -- noqa: LT05
        ) as metrics
    from objective_metrics
    group by objective_id
),

final as (
    select
        cast(catalog.objective_id as varchar) as objective_id,
        cast(catalog.parent_id as varchar) as parent_id,
        cast(catalog.strategy_id as varchar) as strategy_id,
        cast(catalog.strategy_title as varchar) as strategy_title,
        cast(catalog.objective_level as varchar) as level,
        cast(catalog.objective_text as varchar) as objective_text,
        cast(catalog.sort_order as integer) as sort_order,
        cast(metrics_per_objective.metrics is not null as boolean) as is_measured,
        cast(metrics_per_objective.metrics as varchar) as metrics,
        cast(unmeasured_objectives.unmeasured_reason as varchar) as unmeasured_reason
    from catalog
    left join metrics_per_objective
        on catalog.objective_id = metrics_per_objective.objective_id
    left join unmeasured_objectives
        on catalog.objective_id = unmeasured_objectives.objective_id
)

select * from final
