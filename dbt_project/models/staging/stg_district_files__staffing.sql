with source as (
    select * from {{ source('district_files', 'staffing') }}
),

renamed as (
    select
        cast(school_year as varchar) as school_year,
        cast(district_code as varchar) as district_code,
        cast(teacher_count as bigint) as teacher_count,
        cast(building_leader_count as bigint) as building_leader_count,
        cast(district_leader_count as bigint) as district_leader_count,
        cast(tech_staff_count as bigint) as tech_staff_count,
        cast(_file_id as varchar) as file_id,
        cast(_received_seq as bigint) as received_seq,
        cast(_line as bigint) as source_line,
        cast(_run_id as varchar) as run_id
    from source
)

select * from renamed
