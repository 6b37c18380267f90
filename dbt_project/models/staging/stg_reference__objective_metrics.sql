with source as (
    select * from {{ source('reference', 'objective_metrics') }}
),

renamed as (
    select
        cast(objective_id as varchar) as objective_id,
        cast(metric as varchar) as metric
    from source
)

select * from renamed
