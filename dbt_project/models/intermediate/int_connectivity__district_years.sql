-- One connectivity row per district and year (tested on int_connectivity__published).
-- Kept although it only selects columns: every yearly family has an
-- int_<family>__district_years (submission_status and a singular test loop over them),
-- and as a table it applies latest-submission-wins once for its three readers.
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
