-- Every metric of DATA_SPEC section 3 per district of the directory in effect and
-- school year on record. Rates are not capped; null when a family they need has
-- no published rows for the district and year, or their denominator is 0.
with district_years as (
    select * from {{ ref('int_district_years') }}
),

metric_components as (
    select * from {{ ref('int_district_year_metric_components') }}
),

bandwidth_target as (
    select
        comparison,
        target
    from {{ ref('stg_reference__metric_targets') }}
    where metric = 'kbps_per_student'
),

connectivity_benchmarks as (
    {{ connectivity_benchmark_values() }}
),

district_metrics as (
    select
        district_years.k_district_year,
        district_years.k_district_version,
        district_years.district_code,
        district_years.school_year,
        district_years.district_name,
        district_years.isd_code,
        district_years.district_type,
        district_years.locale,
        district_years.county,

        metric_components.student_count,
        metric_components.student_devices,
        {{ ratio('metric_components.student_count', 'metric_components.student_devices') }}
            as students_per_device,
        {{ ratio('metric_components.teacher_devices', 'metric_components.teacher_count', 100) }}
            as teacher_device_coverage_pct,
        {{ ratio('metric_components.computing_devices_over_5_years', 'metric_components.computing_devices', 100) }}
            as aging_device_share_pct,
        {{ ratio('metric_components.student_take_home_devices', 'metric_components.student_devices', 100) }}
            as take_home_share_pct,
        {{ ratio('metric_components.internet_bandwidth_mbps', 'metric_components.student_count', 1000) }}
            as kbps_per_student,
        metric_components.wifi_classrooms_covered_pct,
        {{ ratio('metric_components.monthly_internet_cost_usd', 'metric_components.internet_bandwidth_mbps') }}
            as cost_per_mbps_usd,
        {{ ratio('metric_components.students_without_home_internet', 'metric_components.student_count', 100) }}
            as home_internet_gap_pct,
        {{ ratio('metric_components.hotspots_loaned', 'metric_components.students_without_home_internet', 100) }}
            as hotspot_coverage_pct,
        {{ ratio('metric_components.leaders_in_pl', 'metric_components.leader_count', 100) }}
            as leader_pl_rate_pct,
        {{ ratio('metric_components.teachers_in_pl', 'metric_components.teacher_count', 100) }}
            as teacher_pl_rate_pct,
        {{ ratio('metric_components.tech_staff_in_pl', 'metric_components.tech_staff_count', 100) }}
            as tech_staff_pl_rate_pct,
        metric_components.pl_hours_face_to_face,
        metric_components.pl_hours_online,
        metric_components.pl_hours_blended,
        metric_components.tpack_samr_participants,
        metric_components.pln_leader_participants,
        metric_components.oer_participants,
        metric_components.cbe_participants,
        metric_components.skill_assessment_participants,
        (
            metric_components.has_enrollment
            and metric_components.has_staffing
            and metric_components.has_devices
            and metric_components.has_connectivity
            and metric_components.has_pl_participation
        ) as data_complete,

        metric_components.has_enrollment,
        metric_components.has_staffing,
        metric_components.has_devices,
        metric_components.has_connectivity,
        metric_components.has_pl_participation,

        metric_components.teacher_count,
        metric_components.leader_count,
        metric_components.tech_staff_count,
        metric_components.teacher_devices,
        metric_components.leaders_in_pl,
        metric_components.teachers_in_pl,
        metric_components.tech_staff_in_pl,
        metric_components.students_without_home_internet,
        metric_components.hotspots_loaned,
        metric_components.computing_devices,
        metric_components.computing_devices_over_5_years,
        metric_components.student_take_home_devices,
        metric_components.internet_bandwidth_mbps,
        metric_components.monthly_internet_cost_usd,
        metric_components.wan_bandwidth_mbps
    from district_years
    inner join metric_components
        on district_years.k_district_year = metric_components.k_district_year
),

district_metrics_with_bandwidth_target as (
    select
        district_metrics.*,
        {{ meets_target('district_metrics.kbps_per_student', 'bandwidth_target.comparison', 'bandwidth_target.target') }}
            as meets_bandwidth_target,
        -- the national connectivity benchmarks (reference.connectivity_benchmarks)
        {{ meets_target('district_metrics.kbps_per_student', "'>='", 'connectivity_benchmarks.short_term_kbps_per_student') }}
            as meets_short_term_bandwidth_goal,
        {{ meets_target('district_metrics.kbps_per_student', "'>='", 'connectivity_benchmarks.long_term_kbps_per_student') }}
            as meets_long_term_bandwidth_goal,
        {{ ratio('district_metrics.wan_bandwidth_mbps', 'district_metrics.student_count', 1000) }}
            as wan_kbps_per_student,
        {{ ratio('district_metrics.monthly_internet_cost_usd', 'connectivity_benchmarks.affordable_cost_per_mbps_usd') }}
            as affordable_bandwidth_mbps,
        connectivity_benchmarks.*
    from district_metrics
    left join bandwidth_target on true
    left join connectivity_benchmarks on true
),

district_metrics_with_benchmarks as (
    select
        district_metrics_with_bandwidth_target.*,
        {{ meets_target('wan_kbps_per_student', "'>='", 'wan_kbps_per_student_goal') }}
            as meets_wan_goal,
        {{ meets_target('cost_per_mbps_usd', "'<='", 'affordable_cost_per_mbps_usd') }} = false
            as above_affordable_cost,
        {{ ratio('affordable_bandwidth_mbps', 'student_count', 1000) }} as affordable_kbps_per_student,
        -- the affordability gap: asked only of districts below the long-term goal
        case
            when district_metrics_with_bandwidth_target.meets_long_term_bandwidth_goal = false
                then {{ meets_target(ratio('affordable_bandwidth_mbps', 'student_count', 1000), "'>='", 'long_term_kbps_per_student') }}
        end as could_meet_goal_within_budget
    from district_metrics_with_bandwidth_target
),

final as (
    select
        cast(k_district_year as varchar) as k_district_year,
        cast(district_code as varchar) as district_code,
        cast(school_year as varchar) as school_year,
        cast(district_name as varchar) as district_name,
        cast(isd_code as varchar) as isd_code,
        cast(district_type as varchar) as district_type,
        cast(locale as varchar) as locale,
        cast(county as varchar) as county,
        cast(k_district_version as varchar) as k_district_version,
        cast(student_count as bigint) as student_count,
        cast(student_devices as bigint) as student_devices,
        cast(students_per_device as double) as students_per_device,
        cast(teacher_device_coverage_pct as double) as teacher_device_coverage_pct,
        cast(aging_device_share_pct as double) as aging_device_share_pct,
        cast(take_home_share_pct as double) as take_home_share_pct,
        cast(kbps_per_student as double) as kbps_per_student,
        cast(meets_bandwidth_target as boolean) as meets_bandwidth_target,
        cast(wifi_classrooms_covered_pct as double) as wifi_classrooms_covered_pct,
        cast(cost_per_mbps_usd as double) as cost_per_mbps_usd,
        cast(home_internet_gap_pct as double) as home_internet_gap_pct,
        cast(hotspot_coverage_pct as double) as hotspot_coverage_pct,
        cast(leader_pl_rate_pct as double) as leader_pl_rate_pct,
        cast(teacher_pl_rate_pct as double) as teacher_pl_rate_pct,
        cast(tech_staff_pl_rate_pct as double) as tech_staff_pl_rate_pct,
        cast(pl_hours_face_to_face as double) as pl_hours_face_to_face,
        cast(pl_hours_online as double) as pl_hours_online,
        cast(pl_hours_blended as double) as pl_hours_blended,
        cast(tpack_samr_participants as bigint) as tpack_samr_participants,
        cast(pln_leader_participants as bigint) as pln_leader_participants,
        cast(oer_participants as bigint) as oer_participants,
        cast(cbe_participants as bigint) as cbe_participants,
        cast(skill_assessment_participants as bigint) as skill_assessment_participants,
        cast(data_complete as boolean) as data_complete,
        cast(has_enrollment as boolean) as has_enrollment,
        cast(has_staffing as boolean) as has_staffing,
        cast(has_devices as boolean) as has_devices,
        cast(has_connectivity as boolean) as has_connectivity,
        cast(has_pl_participation as boolean) as has_pl_participation,
        cast(teacher_count as bigint) as teacher_count,
        cast(leader_count as bigint) as leader_count,
        cast(tech_staff_count as bigint) as tech_staff_count,
        cast(teacher_devices as bigint) as teacher_devices,
        cast(leaders_in_pl as bigint) as leaders_in_pl,
        cast(teachers_in_pl as bigint) as teachers_in_pl,
        cast(tech_staff_in_pl as bigint) as tech_staff_in_pl,
        cast(students_without_home_internet as bigint) as students_without_home_internet,
        cast(hotspots_loaned as bigint) as hotspots_loaned,
        cast(computing_devices as bigint) as computing_devices,
        cast(computing_devices_over_5_years as bigint) as computing_devices_over_5_years,
        cast(student_take_home_devices as bigint) as student_take_home_devices,
        cast(internet_bandwidth_mbps as double) as internet_bandwidth_mbps,
        cast(monthly_internet_cost_usd as double) as monthly_internet_cost_usd,
        cast(meets_short_term_bandwidth_goal as boolean) as meets_short_term_bandwidth_goal,
        cast(meets_long_term_bandwidth_goal as boolean) as meets_long_term_bandwidth_goal,
        cast(wan_bandwidth_mbps as double) as wan_bandwidth_mbps,
        cast(wan_kbps_per_student as double) as wan_kbps_per_student,
        cast(meets_wan_goal as boolean) as meets_wan_goal,
        cast(above_affordable_cost as boolean) as above_affordable_cost,
        cast(affordable_bandwidth_mbps as double) as affordable_bandwidth_mbps,
        cast(affordable_kbps_per_student as double) as affordable_kbps_per_student,
        cast(could_meet_goal_within_budget as boolean) as could_meet_goal_within_budget
    from district_metrics_with_benchmarks
)

select * from final
