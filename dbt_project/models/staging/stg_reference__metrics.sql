with source as (
    select * from {{ source('reference', 'metrics') }}
),

renamed as (
    select
        cast(metric as varchar) as metric,
        cast(label as varchar) as metric_label,
        cast(unit as varchar) as metric_unit,
        cast(description as varchar) as metric_description,
        cast(source_families as varchar) as source_families
    from source
)

select * from renamed
