{{ config(materialized='view') }}

-- Latest submission wins: per (school_year, district_code) only the rows of the
-- devices file received last (greatest received_seq) are published.
with staged_devices as (
    select * from {{ ref('stg_district_files__devices') }}
),

published_devices as (
    {{ latest_submission('staged_devices') }}
)

select * from published_devices
