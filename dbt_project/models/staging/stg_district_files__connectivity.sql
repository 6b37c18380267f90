with source as (
    select * from {{ source('district_files', 'connectivity') }}
),

renamed as (
    select
        cast(school_year as varchar) as school_year,
        cast(district_code as varchar) as district_code,
        cast(internet_bandwidth_mbps as double) as internet_bandwidth_mbps,
        cast(wan_bandwidth_mbps as double) as wan_bandwidth_mbps,
        cast(wifi_classrooms_covered_pct as double) as wifi_classrooms_covered_pct,
        cast(monthly_internet_cost_usd as double) as monthly_internet_cost_usd,
        cast(erate_discount_pct as double) as erate_discount_pct,
        cast(students_without_home_internet as bigint) as students_without_home_internet,
        cast(hotspots_loaned as bigint) as hotspots_loaned,
        cast(_file_id as varchar) as file_id,
        cast(_received_seq as bigint) as received_seq,
        cast(_line as bigint) as source_line,
        cast(_run_id as varchar) as run_id
    from source
)

select * from renamed
