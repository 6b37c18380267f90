with source as (
    select * from {{ source('district_files', 'enrollment') }}
),

renamed as (
    select
        cast(school_year as varchar) as school_year,
        cast(district_code as varchar) as district_code,
        cast(building_code as varchar) as building_code,
        cast(building_name as varchar) as building_name,
        cast(student_count as bigint) as student_count,
        cast(_file_id as varchar) as file_id,
        cast(_received_seq as bigint) as received_seq,
        cast(_line as bigint) as source_line,
        cast(_run_id as varchar) as run_id
    from source
)

select * from renamed
