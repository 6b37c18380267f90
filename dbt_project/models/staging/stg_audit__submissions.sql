with source as (
    select * from {{ source('audit', 'submissions') }}
),

renamed as (
    select
        cast(file_id as varchar) as file_id,
        cast(family as varchar) as family,
        cast(school_year as varchar) as school_year,
        cast(district_code as varchar) as district_code,
        cast(received_seq as bigint) as received_seq,
        cast(status as varchar) as submission_status,
        cast(held_for as varchar) as held_for,
        cast(rows_loaded as bigint) as rows_loaded,
        cast(rows_quarantined as bigint) as rows_held_back
    from source
)

select * from renamed
