with source as (
    select * from {{ source('audit', 'files') }}
),

renamed as (
    select
        cast(file_id as varchar) as file_id,
        cast(file_name as varchar) as file_name,
        cast(family as varchar) as family,
        cast(school_year as varchar) as school_year,
        cast(received_seq as bigint) as received_seq,
        cast(received_at as timestamp with time zone) as received_at,
        cast(status as varchar) as file_status
    from source
)

select * from renamed
