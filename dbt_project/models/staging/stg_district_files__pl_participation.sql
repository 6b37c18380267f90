with source as (
    select * from {{ source('district_files', 'pl_participation') }}
),

renamed as (
    -- raw is typed by the load (flows/ingest/families.py owns each column's type): names only
    select
        school_year,
        district_code,
        educator_key,
        role as educator_role,
        activity_id,
        activity_title,
        activity_kind,
        provider,
        format as activity_format,
        framework,
        hours,
        completed_on,
        {{ lineage_columns() }}
    from source
)

select * from renamed
