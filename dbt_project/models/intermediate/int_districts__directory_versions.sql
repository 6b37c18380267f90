-- The directory in effect from each effective school year: the district rows of
-- the directory file received last among those effective from that year. A newer
-- directory file replaces the older one whole (DATA_SPEC section 1).
with staged_directory as (
    select * from {{ ref('stg_district_files__districts') }}
),

latest_file_per_effective_year as (
    select
        effective_school_year,
        max(received_seq) as received_seq
    from staged_directory
    group by effective_school_year
),

directory_versions as (
    select
        effective_school_year,
        received_seq,
        row_number() over (order by effective_school_year) as version_number,
        lead(effective_school_year) over (order by effective_school_year) as next_effective_school_year
    from latest_file_per_effective_year
),

district_rows_in_effect as (
    select
        staged_directory.district_code || ':' || directory_versions.effective_school_year
            as k_district_directory_version,
        staged_directory.district_code,
        staged_directory.district_name,
        staged_directory.district_type,
        staged_directory.isd_code,
        staged_directory.county,
        staged_directory.locale,
        staged_directory.data_contact_email,
        directory_versions.version_number,
        directory_versions.effective_school_year,
        directory_versions.next_effective_school_year,
        staged_directory.file_id,
        staged_directory.received_seq
    from staged_directory
    inner join directory_versions
        on staged_directory.effective_school_year = directory_versions.effective_school_year
        and staged_directory.received_seq = directory_versions.received_seq
)

select * from district_rows_in_effect
