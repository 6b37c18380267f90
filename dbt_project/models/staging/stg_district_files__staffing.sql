with source as (
    select * from {{ source('district_files', 'staffing') }}
),

renamed as (
    -- raw is typed by the load (flows/ingest/families.py owns each column's type): names only
    select
        school_year,
        district_code,
        teacher_count,
        building_leader_count,
        district_leader_count,
        tech_staff_count,
        {{ lineage_columns() }}
    from source
)

select * from renamed
