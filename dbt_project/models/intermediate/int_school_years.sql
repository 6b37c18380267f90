-- The school years on record: a year with published rows in any yearly family.
with published_school_years as (
    select school_year from {{ ref('int_enrollment__district_years') }}
    union
    select school_year from {{ ref('int_staffing__district_years') }}
    union
    select school_year from {{ ref('int_devices__district_years') }}
    union
    select school_year from {{ ref('int_connectivity__district_years') }}
    union
    select school_year from {{ ref('int_pl_participation__district_years') }}
),

school_years as (
    select
        school_year,
        {{ previous_school_year('school_year') }} as previous_school_year
    from published_school_years
)

select * from school_years
