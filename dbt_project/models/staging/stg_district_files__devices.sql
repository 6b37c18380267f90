with source as (
    select * from {{ source('district_files', 'devices') }}
),

renamed as (
    -- raw is typed by the load (flows/ingest/families.py owns each column's type): names only
    select
        school_year,
        district_code,
        building_code,
        device_type,
        user_group,
        device_count,
        devices_over_5_years,
        take_home_count,
        {{ lineage_columns() }}
    from source
)

select * from renamed
