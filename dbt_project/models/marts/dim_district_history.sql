with district_history as (
    select * from {{ ref('int_districts__history') }}
),

final as (
    select
        cast(k_district_version as varchar) as k_district_version,
        cast(district_code as varchar) as district_code,
        cast(district_name as varchar) as district_name,
        cast(district_type as varchar) as district_type,
        cast(isd_code as varchar) as isd_code,
        cast(county as varchar) as county,
        cast(locale as varchar) as locale,
        cast(data_contact_email as varchar) as data_contact_email,
        cast(valid_from_school_year as varchar) as valid_from_school_year,
        cast(valid_to_school_year as varchar) as valid_to_school_year,
        cast(is_current as boolean) as is_current
    from district_history
)

select * from final
