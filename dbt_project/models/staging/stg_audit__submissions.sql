-- The submissions of the yearly families, with the file's name and when it came: one
-- row per file x district from audit.submissions (the district's rows were read), and
-- one per file x district for a file held back or waiting whole that names the district
-- (an unreadable file, a missing column, a school year to come: its issues carry the
-- district its name ends in), so that a district that sent a file is never "missing".
{%- set yearly = "('enrollment', 'staffing', 'devices', 'connectivity', 'pl_participation')" %}

with submissions as (
    select * from {{ source('audit', 'submissions') }}
),

files as (
    select * from {{ source('audit', 'files') }}
),

issues as (
    select * from {{ source('audit', 'issues') }}
),

read_submissions as (
    select
        cast(submissions.district_code as varchar) as district_code,
        cast(submissions.school_year as varchar) as school_year,
        cast(submissions.family as varchar) as family,
        cast(submissions.file_id as varchar) as file_id,
        cast(files.file_name as varchar) as file_name,
        cast(files.received_at as timestamp with time zone) as received_at,
        cast(submissions.received_seq as bigint) as received_seq,
        cast(submissions.status as varchar) as submission_status,
        cast(submissions.held_for as varchar) as held_for,
        cast(submissions.rows_loaded as bigint) as rows_loaded,
        cast(submissions.rows_quarantined as bigint) as rows_held_back
    from submissions
    left join files on submissions.file_id = files.file_id
    where submissions.family in {{ yearly }}
        and submissions.district_code is not null
        and submissions.school_year is not null
),

whole_files_held as (
    select
        cast(issues.district_code as varchar) as district_code,
        cast(files.school_year as varchar) as school_year,
        cast(files.family as varchar) as family,
        cast(files.file_id as varchar) as file_id,
        cast(files.file_name as varchar) as file_name,
        cast(files.received_at as timestamp with time zone) as received_at,
        cast(files.received_seq as bigint) as received_seq,
        'held' as submission_status,
        string_agg(distinct issues.rule, ',' order by issues.rule) as held_for,
        cast(0 as bigint) as rows_loaded,
        cast(null as bigint) as rows_held_back
    from files
    inner join issues
        on files.file_id = issues.file_id
        and issues.severity = 'error'
        and issues.district_code is not null
    where files.status in ('rejected', 'waiting')
        and files.family in {{ yearly }}
        and files.school_year is not null
        and not exists (
            select 1 from submissions
            where submissions.file_id = files.file_id and submissions.district_code = issues.district_code
        )
    group by all
)

select * from read_submissions
union all
select * from whole_files_held
