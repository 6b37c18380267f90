-- One connectivity row per district and year (tested on int_connectivity__published).
with published_connectivity as (
    select * from {{ ref('int_connectivity__published') }}
),

district_connectivity as (
    select
        school_year,
        district_code,
        internet_bandwidth_mbps,
        wan_bandwidth_mbps,
        wifi_classrooms_covered_pct,
        monthly_internet_cost_usd,
        erate_discount_pct,
        students_without_home_internet,
        hotspots_loaned
    from published_connectivity
)

select * from district_connectivity
