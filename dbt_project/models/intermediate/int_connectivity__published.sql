{{ config(materialized='view') }}

-- Latest submission wins: per (school_year, district_code) only the rows of the
-- connectivity file received last (greatest received_seq) are published.
with staged_connectivity as (
    select * from {{ ref('stg_district_files__connectivity') }}
),

published_connectivity as (
    {{ latest_submission('staged_connectivity') }}
)

select * from published_connectivity
