{{ config(materialized='view') }}

-- Latest submission wins: per (school_year, district_code) only the rows of the
-- enrollment file received last (greatest received_seq) are published.
with staged_enrollment as (
    select * from {{ ref('stg_district_files__enrollment') }}
),

published_enrollment as (
    {{ latest_submission('staged_enrollment') }}
)

select * from published_enrollment
