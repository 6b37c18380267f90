{#-
    The rule for an area (the state, an ISD): every metric of DATA_SPEC section 3 over
    the area's districts, counts summed over the districts that published them, rates
    as the sum of their numerators over the sum of their denominators where both are
    published (summed_ratio). One owner: marts.state_year_metrics and
    marts.isd_year_metrics both aggregate marts.district_year_metrics with these, so
    the two levels can never follow different rules.

    area_metric_aggregates(): the aggregate expressions, for a query over
    district_year_metrics grouped by the area's key.
    area_metric_columns(): the typed output columns of those aggregates (after the
    area's key and meets_bandwidth_target's inputs), in the contract's order.
-#}
{% macro area_metric_aggregates() -%}
        sum(student_count) as student_count,
        sum(student_devices) as student_devices,
        {{ summed_ratio('student_count', 'student_devices') }} as students_per_device,
        {{ summed_ratio('teacher_devices', 'teacher_count', 100) }} as teacher_device_coverage_pct,
        {{ summed_ratio('computing_devices_over_5_years', 'computing_devices', 100) }} as aging_device_share_pct,
        {{ summed_ratio('student_take_home_devices', 'student_devices', 100) }} as take_home_share_pct,
        {{ summed_ratio('internet_bandwidth_mbps', 'student_count', 1000) }} as kbps_per_student,
        -- submitted per district without classroom counts: the mean of the
        -- districts' percentages (each district's figure over a denominator of 1)
        cast(avg(cast(wifi_classrooms_covered_pct as decimal(38, 6))) as double) as wifi_classrooms_covered_pct,
        {{ summed_ratio('monthly_internet_cost_usd', 'internet_bandwidth_mbps') }} as cost_per_mbps_usd,
        {{ summed_ratio('students_without_home_internet', 'student_count', 100) }} as home_internet_gap_pct,
        {{ summed_ratio('hotspots_loaned', 'students_without_home_internet', 100) }} as hotspot_coverage_pct,
        {{ summed_ratio('leaders_in_pl', 'leader_count', 100) }} as leader_pl_rate_pct,
        {{ summed_ratio('teachers_in_pl', 'teacher_count', 100) }} as teacher_pl_rate_pct,
        {{ summed_ratio('tech_staff_in_pl', 'tech_staff_count', 100) }} as tech_staff_pl_rate_pct,
        cast(sum(cast(pl_hours_face_to_face as decimal(38, 6))) as double) as pl_hours_face_to_face,
        cast(sum(cast(pl_hours_online as decimal(38, 6))) as double) as pl_hours_online,
        cast(sum(cast(pl_hours_blended as decimal(38, 6))) as double) as pl_hours_blended,
        sum(tpack_samr_participants) as tpack_samr_participants,
        sum(pln_leader_participants) as pln_leader_participants,
        sum(oer_participants) as oer_participants,
        sum(cbe_participants) as cbe_participants,
        sum(skill_assessment_participants) as skill_assessment_participants,
        bool_and(data_complete) as data_complete,

        sum(teacher_count) as teacher_count,
        sum(leader_count) as leader_count,
        sum(tech_staff_count) as tech_staff_count,
        sum(teacher_devices) as teacher_devices,
        sum(leaders_in_pl) as leaders_in_pl,
        sum(teachers_in_pl) as teachers_in_pl,
        sum(tech_staff_in_pl) as tech_staff_in_pl,
        sum(students_without_home_internet) as students_without_home_internet,
        sum(hotspots_loaned) as hotspots_loaned,
        sum(computing_devices) as computing_devices,
        sum(computing_devices_over_5_years) as computing_devices_over_5_years,
        sum(student_take_home_devices) as student_take_home_devices,
        cast(sum(cast(internet_bandwidth_mbps as decimal(38, 6))) as double) as internet_bandwidth_mbps,
        cast(sum(cast(monthly_internet_cost_usd as decimal(38, 6))) as double) as monthly_internet_cost_usd,

        count(*) as districts_in_directory,
        count(*) filter (
            where has_enrollment or has_staffing or has_devices or has_connectivity or has_pl_participation
        ) as districts_reporting,
        count(*) filter (where data_complete) as districts_complete,
        count(*) filter (where kbps_per_student is not null) as districts_with_bandwidth_data,
        count(*) filter (where meets_bandwidth_target) as districts_meeting_bandwidth_target,

        -- the national connectivity benchmarks: districts and students meeting each
        -- (students: enrolled in the districts meeting it over enrolled in the
        -- districts with a bandwidth figure)
        count(*) filter (where meets_short_term_bandwidth_goal) as districts_meeting_short_term_goal,
        count(*) filter (where meets_long_term_bandwidth_goal) as districts_meeting_long_term_goal,
        sum(student_count) filter (where kbps_per_student is not null) as students_with_bandwidth_data,
        sum(student_count) filter (where meets_short_term_bandwidth_goal) as students_meeting_short_term_goal,
        sum(student_count) filter (where meets_long_term_bandwidth_goal) as students_meeting_long_term_goal,
        count(*) filter (where wan_kbps_per_student is not null) as districts_with_wan_data,
        count(*) filter (where meets_wan_goal) as districts_meeting_wan_goal,
        -- cost per Mbps: its spread over the districts with a figure, and the
        -- affordability line
        count(cost_per_mbps_usd) as districts_with_cost_data,
        quantile_cont(cost_per_mbps_usd, 0.25) as cost_per_mbps_usd_q1,
        quantile_cont(cost_per_mbps_usd, 0.5) as cost_per_mbps_usd_median,
        quantile_cont(cost_per_mbps_usd, 0.75) as cost_per_mbps_usd_q3,
        count(*) filter (where above_affordable_cost) as districts_above_affordable_cost,
        count(*) filter (where meets_long_term_bandwidth_goal = false) as districts_below_long_term_goal,
        count(*) filter (where could_meet_goal_within_budget) as districts_could_meet_goal_within_budget
{%- endmacro %}


{% macro area_metric_columns() -%}
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
        cast(coalesce(districts_in_directory, 0) as bigint) as districts_in_directory,
        cast(coalesce(districts_reporting, 0) as bigint) as districts_reporting,
        cast(coalesce(districts_complete, 0) as bigint) as districts_complete,
        cast(coalesce(districts_with_bandwidth_data, 0) as bigint) as districts_with_bandwidth_data,
        cast(coalesce(districts_meeting_bandwidth_target, 0) as bigint) as districts_meeting_bandwidth_target,
        cast(coalesce(districts_meeting_short_term_goal, 0) as bigint) as districts_meeting_short_term_goal,
        cast(coalesce(districts_meeting_long_term_goal, 0) as bigint) as districts_meeting_long_term_goal,
        cast({{ ratio('districts_meeting_short_term_goal', 'districts_with_bandwidth_data', 100) }} as double)
            as districts_meeting_short_term_goal_pct,
        cast({{ ratio('districts_meeting_long_term_goal', 'districts_with_bandwidth_data', 100) }} as double)
            as districts_meeting_long_term_goal_pct,
        cast(students_with_bandwidth_data as bigint) as students_with_bandwidth_data,
        cast(coalesce(students_meeting_short_term_goal, case when students_with_bandwidth_data is not null then 0 end) as bigint)
            as students_meeting_short_term_goal,
        cast(coalesce(students_meeting_long_term_goal, case when students_with_bandwidth_data is not null then 0 end) as bigint)
            as students_meeting_long_term_goal,
        cast({{ ratio('coalesce(students_meeting_short_term_goal, 0)', 'students_with_bandwidth_data', 100) }} as double)
            as students_meeting_short_term_goal_pct,
        cast({{ ratio('coalesce(students_meeting_long_term_goal, 0)', 'students_with_bandwidth_data', 100) }} as double)
            as students_meeting_long_term_goal_pct,
        cast(coalesce(districts_with_wan_data, 0) as bigint) as districts_with_wan_data,
        cast(coalesce(districts_meeting_wan_goal, 0) as bigint) as districts_meeting_wan_goal,
        cast({{ ratio('districts_meeting_wan_goal', 'districts_with_wan_data', 100) }} as double)
            as districts_meeting_wan_goal_pct,
        cast(coalesce(districts_with_cost_data, 0) as bigint) as districts_with_cost_data,
        cast(cost_per_mbps_usd_q1 as double) as cost_per_mbps_usd_q1,
        cast(cost_per_mbps_usd_median as double) as cost_per_mbps_usd_median,
        cast(cost_per_mbps_usd_q3 as double) as cost_per_mbps_usd_q3,
        cast(coalesce(districts_above_affordable_cost, 0) as bigint) as districts_above_affordable_cost,
        cast({{ ratio('districts_above_affordable_cost', 'districts_with_cost_data', 100) }} as double)
            as districts_above_affordable_cost_pct,
        cast(coalesce(districts_below_long_term_goal, 0) as bigint) as districts_below_long_term_goal,
        cast(coalesce(districts_could_meet_goal_within_budget, 0) as bigint) as districts_could_meet_goal_within_budget
{%- endmacro %}
