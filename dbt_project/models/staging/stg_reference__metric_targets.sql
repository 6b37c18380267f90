with source as (
    select * from {{ source('reference', 'metric_targets') }}
),

renamed as (
    select
        cast(metric as varchar) as metric,
        cast(comparison as varchar) as comparison,
        cast(target as double) as target,
        cast(target_source as varchar) as target_source
    from source
)

select * from renamed
