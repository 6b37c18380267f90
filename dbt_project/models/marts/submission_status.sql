-- Submission tracking (DATA_SPEC section 5, "marts.submission_status"): one row per
-- district of the directory in effect that school year x school year x yearly family,
-- with what the district sent (its latest submission: when, which file), whether it
-- is published or held back (and by which rules), or missing, and the collection
-- deadline of config/roadmap.yml. School years: those on record, those any file was
-- received for, and those with a configured deadline (a year being collected shows
-- every district, even before its first file arrives).
{%- set families = ['enrollment', 'staffing', 'devices', 'connectivity', 'pl_participation'] %}

with submissions as (
    select * from {{ ref('int_submissions__received') }}
),

deadlines as (
    select * from {{ ref('stg_reference__collection_deadlines') }}
),

district_history as (
    select * from {{ ref('int_districts__history') }}
),

school_years as (
    select school_year from {{ ref('int_school_years') }}
    union
    select school_year from submissions
    union
    select school_year from deadlines
),

first_directory as (
    select min(valid_from_school_year) as first_directory_school_year
    from district_history
),

-- the directory in effect each year, as in int_district_years
district_years as (
    select
        district_history.district_code,
        school_years.school_year,
        district_history.district_name,
        district_history.district_type,
        district_history.isd_code
    from school_years
    cross join first_directory
    inner join district_history
        on greatest(school_years.school_year, first_directory.first_directory_school_year)
        >= district_history.valid_from_school_year
        and (
            district_history.valid_to_school_year is null
            or greatest(school_years.school_year, first_directory.first_directory_school_year)
            <= district_history.valid_to_school_year
        )
),

families as (
    select unnest(['{{ families | join("', '") }}']) as family
),

latest_submissions as (
    {{ latest_submission('submissions', key_columns=['school_year', 'district_code', 'family']) }}
),

published as (
    {%- for f in families %}
    select distinct school_year, district_code, '{{ f }}' as family
    from {{ ref('int_' ~ f ~ '__district_years') }}
    {{ "union all" if not loop.last }}
    {%- endfor %}
),

submission_status as (
    select
        district_years.district_code || ':' || district_years.school_year || ':' || families.family
            as k_submission,
        district_years.district_code,
        district_years.school_year,
        families.family,
        district_years.district_name,
        district_years.district_type,
        district_years.isd_code,
        case
            when latest_submissions.district_code is null then 'missing'
            when latest_submissions.submission_status = 'loaded' then 'published'
            else 'held_back'
        end as status,
        latest_submissions.district_code is not null as received,
        published.district_code is not null as published,
        latest_submissions.received_at,
        latest_submissions.file_name,
        latest_submissions.file_id,
        latest_submissions.rows_loaded,
        latest_submissions.rows_held_back,
        case when latest_submissions.submission_status = 'held' then latest_submissions.held_for end as held_for,
        deadlines.deadline
    from district_years
    cross join families
    left join latest_submissions
        on district_years.district_code = latest_submissions.district_code
        and district_years.school_year = latest_submissions.school_year
        and families.family = latest_submissions.family
    left join published
        on district_years.district_code = published.district_code
        and district_years.school_year = published.school_year
        and families.family = published.family
    left join deadlines
        on district_years.school_year = deadlines.school_year
        and families.family = deadlines.family
)

select * from submission_status
