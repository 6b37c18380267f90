with source as (
    select * from {{ source('district_files', 'districts') }}
),

renamed as (
    select
        cast(district_code as varchar) as district_code,
        cast(district_name as varchar) as district_name,
        cast(district_type as varchar) as district_type,
        cast(isd_code as varchar) as isd_code,
        cast(county as varchar) as county,
        cast(locale as varchar) as locale,
        cast(data_contact_email as varchar) as data_contact_email,
        cast(effective_school_year as varchar) as effective_school_year,
        cast(_file_id as varchar) as file_id,
        cast(_received_seq as bigint) as received_seq,
        cast(_line as bigint) as source_line,
        cast(_run_id as varchar) as run_id
    from source
)

select * from renamed
