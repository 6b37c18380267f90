-- Slowly changing dimension, type 2: consecutive directory versions in which a
-- district keeps the same attributes collapse into one version of the district
-- (gaps and islands). A version ends the school year before the directory that
-- changes the district or leaves it out; it is open (valid_to null) while the
-- district is unchanged in the latest directory.
{%- set directory_attributes = [
    'district_name', 'district_type', 'isd_code', 'county', 'locale', 'data_contact_email'
] %}

with directory_versions as (
    select * from {{ ref('int_districts__directory_versions') }}
),

compared_with_previous_directory as (
    select
        *,
        {%- for attribute in directory_attributes %}
        lag({{ attribute }}) over district_directories as previous_{{ attribute }},
        {%- endfor %}
        lag(version_number) over district_directories as previous_version_number
    from directory_versions
    window district_directories as (partition by district_code order by version_number)
),

-- a district version starts where the district is new, comes back after being
-- absent from a directory, or has any attribute changed
version_starts as (
    select
        *,
        case
            when previous_version_number is null then 1
            when previous_version_number <> version_number - 1 then 1
            {%- for attribute in directory_attributes %}
            when ({{ attribute }} is distinct from previous_{{ attribute }}) then 1
            {%- endfor %}
            else 0
        end as starts_version
    from compared_with_previous_directory
),

numbered_district_versions as (
    select
        *,
        sum(starts_version) over (
            partition by district_code
            order by version_number
            rows between unbounded preceding and current row
        ) as district_version_number
    from version_starts
),

district_versions as (
    select
        district_code,
        district_version_number,
        {%- for attribute in directory_attributes %}
        {{ attribute }},
        {%- endfor %}
        min(effective_school_year) as valid_from_school_year,
        -- the directory after the version's last one; none when the version
        -- reaches the latest directory
        bool_or(next_effective_school_year is null) as in_latest_directory,
        max(next_effective_school_year) as next_directory_school_year
    from numbered_district_versions
    group by
        district_code,
        {%- for attribute in directory_attributes %}
        {{ attribute }},
        {%- endfor %}
        district_version_number
),

district_history as (
    select
        district_code || ':' || valid_from_school_year as k_district_version,
        district_code,
        {%- for attribute in directory_attributes %}
        {{ attribute }},
        {%- endfor %}
        valid_from_school_year,
        case
            when not in_latest_directory then {{ previous_school_year('next_directory_school_year') }}
        end as valid_to_school_year,
        in_latest_directory as is_current
    from district_versions
)

select * from district_history
