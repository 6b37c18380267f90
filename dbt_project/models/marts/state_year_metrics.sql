-- The metrics for the whole state, per school year on record. Counts are summed
-- over the districts that published them; rates divide the sum of numerators by
-- the sum of denominators over the districts where both are published (DATA_SPEC
-- section 3), so a district missing one family does not distort the other side.
-- The rule is the macro area_metric_aggregates, shared with isd_year_metrics.
with school_years as (
    select school_year from {{ ref('int_school_years') }}
),

district_metrics as (
    select * from {{ ref('district_year_metrics') }}
),

bandwidth_target as (
    select
        comparison,
        target
    from {{ ref('stg_reference__metric_targets') }}
    where metric = 'kbps_per_student'
),

state_sums as (
    select
        school_year,
        {{ area_metric_aggregates() }}
    from district_metrics
    group by school_year
),

state_metrics as (
    select
        school_years.school_year,
        -- the school year comes from school_years (a year with no district row too)
        state_sums.* exclude (school_year),  -- noqa: RF02
        {{ meets_target('state_sums.kbps_per_student', 'bandwidth_target.comparison', 'bandwidth_target.target') }}
            as meets_bandwidth_target
    from school_years
    left join state_sums
        on school_years.school_year = state_sums.school_year
    left join bandwidth_target on true
),

final as (
    select
        cast(school_year as varchar) as school_year,
        {{ area_metric_columns() }}
    from state_metrics
)

select * from final
