-- The metrics for each intermediate school district (ISD) and school year: the
-- districts whose isd_code (from the directory in effect that year) names the ISD,
-- the ISD itself included. Exactly the state's rule (macro area_metric_aggregates,
-- shared with state_year_metrics): counts summed, rates as sums of numerators over
-- sums of denominators over the districts where both are published.
with district_metrics as (
    select * from {{ ref('district_year_metrics') }}
),

bandwidth_target as (
    select
        comparison,
        target
    from {{ ref('stg_reference__metric_targets') }}
    where metric = 'kbps_per_student'
),

isd_sums as (
    select
        isd_code,
        school_year,
        {{ area_metric_aggregates() }}
    from district_metrics
    where isd_code is not null
    group by isd_code, school_year
),

isd_names as (
    -- the ISD's own row of the directory that year (null when the ISD is not listed)
    select
        district_code as isd_code,
        school_year,
        district_name as isd_name
    from district_metrics
),

isd_metrics as (
    select
        isd_sums.*,
        isd_names.isd_name,
        {{ meets_target('isd_sums.kbps_per_student', 'bandwidth_target.comparison', 'bandwidth_target.target') }}
            as meets_bandwidth_target
    from isd_sums
    left join isd_names
        on isd_sums.isd_code = isd_names.isd_code
        and isd_sums.school_year = isd_names.school_year
    left join bandwidth_target on true
),

final as (
    select
        cast(isd_code || ':' || school_year as varchar) as k_isd_year,
        cast(isd_code as varchar) as isd_code,
        cast(school_year as varchar) as school_year,
        cast(isd_name as varchar) as isd_name,
        {{ area_metric_columns() }}
    from isd_metrics
)

select * from final
