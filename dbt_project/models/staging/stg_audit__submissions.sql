-- The submissions of the yearly families, with the file's name and when it came.
with submissions as (
    select * from {{ source('audit', 'submissions') }}
),

files as (
    select * from {{ source('audit', 'files') }}
),

renamed as (
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
    where submissions.family in ('enrollment', 'staffing', 'devices', 'connectivity', 'pl_participation')
        and submissions.district_code is not null
        and submissions.school_year is not null
)

select * from renamed
