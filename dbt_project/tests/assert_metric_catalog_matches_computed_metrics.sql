-- Every metric of DATA_SPEC section 3 that the marts compute (macro metric_names)
-- is in the metric catalog of config/metrics.yml, and every catalog metric is
-- computed. Returns one row per metric on only one side.
with computed_metrics as (
    {%- for metric in metric_names() %}
    select '{{ metric }}' as metric
    {{ "union all" if not loop.last }}
    {%- endfor %}
),

catalog_metrics as (
    select metric from {{ ref('stg_reference__metrics') }}
),

mismatches as (
    select
        coalesce(computed_metrics.metric, catalog_metrics.metric) as metric,
        case
            when catalog_metrics.metric is null then 'computed but not in config/metrics.yml'
            else 'in config/metrics.yml but not computed'
        end as problem
    from computed_metrics
    full outer join catalog_metrics
        on computed_metrics.metric = catalog_metrics.metric
    where computed_metrics.metric is null
        or catalog_metrics.metric is null
)

select * from mismatches
