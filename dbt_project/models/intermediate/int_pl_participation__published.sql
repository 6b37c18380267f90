{{ config(materialized='view') }}

-- Latest submission wins: per (school_year, district_code) only the rows of the
-- pl_participation file received last (greatest received_seq) are published.
with staged_pl_participation as (
    select * from {{ ref('stg_district_files__pl_participation') }}
),

published_pl_participation as (
    {{ latest_submission('staged_pl_participation') }}
)

select * from published_pl_participation
