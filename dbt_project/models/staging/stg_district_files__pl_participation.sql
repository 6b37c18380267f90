with source as (
    select * from {{ source('district_files', 'pl_participation') }}
),

renamed as (
    select
        cast(school_year as varchar) as school_year,
        cast(district_code as varchar) as district_code,
        cast(educator_key as varchar) as educator_key,
        cast(role as varchar) as educator_role,
        cast(activity_id as varchar) as activity_id,
        cast(activity_title as varchar) as activity_title,
        cast(activity_kind as varchar) as activity_kind,
        cast(provider as varchar) as provider,
        cast(format as varchar) as activity_format,
        cast(framework as varchar) as framework,
        cast(hours as double) as hours,
        cast(completed_on as date) as completed_on,
        cast(_file_id as varchar) as file_id,
        cast(_received_seq as bigint) as received_seq,
        cast(_line as bigint) as source_line,
        cast(_run_id as varchar) as run_id
    from source
)

select * from renamed
