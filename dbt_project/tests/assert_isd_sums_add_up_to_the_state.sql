-- Counts of isd_year_metrics summed over the ISDs equal the state's, per school
-- year. Returns one row per (school_year, count) that differs.
{%- set counts = [
    'student_count', 'teacher_count', 'leader_count', 'tech_staff_count',
    'districts_in_directory', 'districts_reporting', 'districts_complete',
    'districts_with_bandwidth_data', 'districts_meeting_short_term_goal',
    'districts_meeting_long_term_goal', 'students_with_bandwidth_data',
    'students_meeting_short_term_goal', 'students_meeting_long_term_goal',
    'districts_with_wan_data', 'districts_meeting_wan_goal', 'districts_with_cost_data',
    'districts_above_affordable_cost', 'districts_below_long_term_goal',
    'districts_could_meet_goal_within_budget',
] %}

with isd_totals as (
    select
        {%- for c in counts %}
        sum({{ c }}) as {{ c }},
        {%- endfor %}
        school_year
    from {{ ref('isd_year_metrics') }}
    group by school_year
),

state as (
    select * from {{ ref('state_year_metrics') }}
    where districts_in_directory > 0
),

differences as (
    {%- for c in counts %}
    select
        state.school_year,
        '{{ c }}' as count_name,
        state.{{ c }} as state_value,
        isd_totals.{{ c }} as isd_sum
    from state
    left join isd_totals on state.school_year = isd_totals.school_year
    where state.{{ c }} is distinct from isd_totals.{{ c }}
        and not (state.{{ c }} = 0 and isd_totals.{{ c }} is null)
    {{ "union all" if not loop.last }}
    {%- endfor %}
)

select * from differences
