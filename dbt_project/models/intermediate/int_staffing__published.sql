{{ config(materialized='view') }}

-- Latest submission wins: per (school_year, district_code) only the rows of the
-- staffing file received last (greatest received_seq) are published.
with staged_staffing as (
    select * from {{ ref('stg_district_files__staffing') }}
),

published_staffing as (
    {{ latest_submission('staged_staffing') }}
)

select * from published_staffing
