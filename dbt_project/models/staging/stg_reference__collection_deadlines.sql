with source as (
    select * from {{ source('reference', 'collection_deadlines') }}
),

renamed as (
    select
        cast(school_year as varchar) as school_year,
        cast(family as varchar) as family,
        cast(deadline as date) as deadline,
        cast(remind_days_before as integer) as remind_days_before
    from source
)

select * from renamed
