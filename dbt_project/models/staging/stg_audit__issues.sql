with source as (
    select * from {{ source('audit', 'issues') }}
),

renamed as (
    select
        cast(file_id as varchar) as file_id,
        cast(district_code as varchar) as district_code,
        cast(rule as varchar) as rule,
        cast(severity as varchar) as severity
    from source
)

select * from renamed
