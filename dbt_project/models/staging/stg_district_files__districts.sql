with source as (
    select * from {{ source('district_files', 'districts') }}
),

renamed as (
    -- raw is typed by the load (flows/ingest/families.py owns each column's type): names only
    select
        district_code,
        district_name,
        district_type,
        isd_code,
        county,
        locale,
        data_contact_email,
        effective_school_year,
        {{ lineage_columns() }}
    from source
)

select * from renamed
