with source as (
    select * from {{ source('district_files', 'devices') }}
),

renamed as (
    select
        cast(school_year as varchar) as school_year,
        cast(district_code as varchar) as district_code,
        cast(building_code as varchar) as building_code,
        cast(device_type as varchar) as device_type,
        cast(user_group as varchar) as user_group,
        cast(device_count as bigint) as device_count,
        cast(devices_over_5_years as bigint) as devices_over_5_years,
        cast(take_home_count as bigint) as take_home_count,
        cast(_file_id as varchar) as file_id,
        cast(_received_seq as bigint) as received_seq,
        cast(_line as bigint) as source_line,
        cast(_run_id as varchar) as run_id
    from source
)

select * from renamed
