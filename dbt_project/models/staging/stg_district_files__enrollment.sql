with source as (
    select * from {{ source('district_files', 'enrollment') }}
),

renamed as (
    -- raw is typed by the load (flows/ingest/families.py owns each column's type): names only
    select
        school_year,
        district_code,
        building_code,
        building_name,
        student_count,
        {{ lineage_columns() }}
    from source
)

select * from renamed
