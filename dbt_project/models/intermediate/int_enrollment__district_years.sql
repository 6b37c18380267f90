with published_enrollment as (
    select * from {{ ref('int_enrollment__published') }}
),

district_enrollment as (
    select
        school_year,
        district_code,
        cast(sum(student_count) as bigint) as student_count,
        count(*) as buildings_reported
    from published_enrollment
    group by school_year, district_code
)

select * from district_enrollment
