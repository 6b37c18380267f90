with source as (
    select * from {{ source('reference', 'objective_unmeasured') }}
),

renamed as (
    select
        cast(objective_id as varchar) as objective_id,
        cast(reason as varchar) as unmeasured_reason
    from source
)

select * from renamed
