with source as (
    select * from {{ source('reference', 'objectives') }}
),

renamed as (
    select
        cast(objective_id as varchar) as objective_id,
        cast(parent_id as varchar) as parent_id,
        cast(strategy_id as varchar) as strategy_id,
        cast(strategy_title as varchar) as strategy_title,
        cast(level as varchar) as objective_level,
        cast(objective_text as varchar) as objective_text,
        cast(sort_order as integer) as sort_order
    from source
)

select * from renamed
