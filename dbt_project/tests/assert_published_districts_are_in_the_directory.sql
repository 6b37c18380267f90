-- Districts with published rows for a school year that are not in the directory
-- in effect that year. Their data is in raw but in no mart and no state figure.
-- Returns one row per district, school year and family.
{%- set families = ['enrollment', 'staffing', 'devices', 'connectivity', 'pl_participation'] %}

with published_district_years as (
    {%- for family in families %}
    select '{{ family }}' as family, school_year, district_code
    from {{ ref('int_' ~ family ~ '__district_years') }}
    {{ "union all" if not loop.last }}
    {%- endfor %}
),

district_years as (
    select * from {{ ref('int_district_years') }}
),

districts_outside_directory as (
    select published_district_years.*
    from published_district_years
    left join district_years
        on published_district_years.school_year = district_years.school_year
        and published_district_years.district_code = district_years.district_code
    where district_years.district_code is null
)

select * from districts_outside_directory
