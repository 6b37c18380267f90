with source as (
    select * from {{ source('district_files', 'connectivity') }}
),

renamed as (
    -- raw is typed by the load (flows/ingest/families.py owns each column's type): names only
    select
        school_year,
        district_code,
        internet_bandwidth_mbps,
        wan_bandwidth_mbps,
        wifi_classrooms_covered_pct,
        monthly_internet_cost_usd,
        erate_discount_pct,
        students_without_home_internet,
        hotspots_loaned,
        {{ lineage_columns() }}
    from source
)

select * from renamed
