-- One row per district of the directory in effect that school year, for every
-- school year on record, with the directory attributes of that year (who was in
-- which ISD in which year). School years before the first directory version use
-- the first version: a directory received later (e.g. districts.csv without a
-- year) still places the earlier years' data.
with school_years as (
    select school_year from {{ ref('int_school_years') }}
),

district_history as (
    select * from {{ ref('int_districts__history') }}
),

first_directory as (
    select min(valid_from_school_year) as first_directory_school_year
    from district_history
),

school_years_with_directory_year as (
    select
        school_years.school_year,
        greatest(school_years.school_year, first_directory.first_directory_school_year)
            as directory_school_year
    from school_years
    cross join first_directory
),

district_years as (
    select
        district_history.district_code || ':' || school_years_with_directory_year.school_year
            as k_district_year,
        district_history.district_code,
        school_years_with_directory_year.school_year,
        district_history.k_district_version,
        district_history.district_name,
        district_history.district_type,
        district_history.isd_code,
        district_history.county,
        district_history.locale
    from school_years_with_directory_year
    inner join district_history
        on school_years_with_directory_year.directory_school_year >= district_history.valid_from_school_year
        and (
            district_history.valid_to_school_year is null
            or school_years_with_directory_year.directory_school_year <= district_history.valid_to_school_year
        )
)

select * from district_years
