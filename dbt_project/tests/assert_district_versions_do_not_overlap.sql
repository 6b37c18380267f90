-- No two versions of one district in dim_district_history cover the same school
-- year. Returns one row per overlapping pair.
with district_history as (
    select * from {{ ref('dim_district_history') }}
),

overlapping_versions as (
    select
        earlier.district_code,
        earlier.k_district_version as earlier_version,
        later.k_district_version as later_version
    from district_history as earlier
    inner join district_history as later
        on earlier.district_code = later.district_code
        and earlier.valid_from_school_year < later.valid_from_school_year
        and (
            earlier.valid_to_school_year is null
            or earlier.valid_to_school_year >= later.valid_from_school_year
        )
)

select * from overlapping_versions
