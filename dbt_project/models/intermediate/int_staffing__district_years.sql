-- One staffing row per district and year (tested on int_staffing__published).
with published_staffing as (
    select * from {{ ref('int_staffing__published') }}
),

district_staffing as (
    select
        school_year,
        district_code,
        teacher_count,
        building_leader_count,
        district_leader_count,
        building_leader_count + district_leader_count as leader_count,
        tech_staff_count
    from published_staffing
)

select * from district_staffing
