-- What each district sent of the yearly families: one row per file x district from
-- audit.submissions (the district's rows were read), and one per file x district for a
-- file held back or waiting whole whose issues name the district (an unreadable file,
-- a missing column, a school year to come: the district its name ends in), so that a
-- district that sent a file is never taken for one that did not.
{%- set yearly = "('enrollment', 'staffing', 'devices', 'connectivity', 'pl_participation')" %}

with submissions as (
    select * from {{ ref('stg_audit__submissions') }}
),

files as (
    select * from {{ ref('stg_audit__files') }}
),

issues as (
    select * from {{ ref('stg_audit__issues') }}
),

read_submissions as (
    select
        submissions.district_code,
        submissions.school_year,
        submissions.family,
        submissions.file_id,
        files.file_name,
        files.received_at,
        submissions.received_seq,
        submissions.submission_status,
        submissions.held_for,
        submissions.rows_loaded,
        submissions.rows_held_back
    from submissions
    left join files on submissions.file_id = files.file_id
    where submissions.family in {{ yearly }}
        and submissions.district_code is not null
        and submissions.school_year is not null
),

whole_files_held as (
    select
        issues.district_code,
        files.school_year,
        files.family,
        files.file_id,
        files.file_name,
        files.received_at,
        files.received_seq,
        'held' as submission_status,
        string_agg(distinct issues.rule, ',' order by issues.rule) as held_for,
        cast(0 as bigint) as rows_loaded,
        cast(null as bigint) as rows_held_back
    from files
    inner join issues
        on files.file_id = issues.file_id
        and issues.severity = 'error'
        and issues.district_code is not null
    where files.file_status in ('rejected', 'waiting')
        and files.family in {{ yearly }}
        and files.school_year is not null
        and not exists (
            select 1 from submissions
            where submissions.file_id = files.file_id and submissions.district_code = issues.district_code
        )
    group by
        issues.district_code, files.school_year, files.family, files.file_id, files.file_name,
        files.received_at, files.received_seq
)

select * from read_submissions
union all
select * from whole_files_held
