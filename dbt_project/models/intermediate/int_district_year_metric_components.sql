-- The numerators and denominators behind every metric, per district of the
-- directory and school year. A component is null when the family it comes from
-- has no published rows for that district and year (unknown, never 0), so a
-- metric built on it is null, and the state sums only districts where both its
-- numerator and denominator are published.
with district_years as (
    select * from {{ ref('int_district_years') }}
),

enrollment as (
    select * from {{ ref('int_enrollment__district_years') }}
),

staffing as (
    select * from {{ ref('int_staffing__district_years') }}
),

devices as (
    select * from {{ ref('int_devices__district_years') }}
),

connectivity as (
    select * from {{ ref('int_connectivity__district_years') }}
),

pl_participation as (
    select * from {{ ref('int_pl_participation__district_years') }}
),

metric_components as (
    select
        district_years.k_district_year,
        district_years.district_code,
        district_years.school_year,

        enrollment.district_code is not null as has_enrollment,
        staffing.district_code is not null as has_staffing,
        devices.district_code is not null as has_devices,
        connectivity.district_code is not null as has_connectivity,
        pl_participation.district_code is not null as has_pl_participation,

        enrollment.student_count,

        devices.student_devices,
        devices.student_take_home_devices,
        devices.teacher_devices,
        devices.computing_devices,
        devices.computing_devices_over_5_years,

        staffing.teacher_count,
        staffing.leader_count,
        staffing.tech_staff_count,

        connectivity.internet_bandwidth_mbps,
        connectivity.wan_bandwidth_mbps,
        connectivity.wifi_classrooms_covered_pct,
        connectivity.monthly_internet_cost_usd,
        connectivity.students_without_home_internet,
        connectivity.hotspots_loaned,

        pl_participation.leaders_in_pl,
        pl_participation.teachers_in_pl,
        pl_participation.tech_staff_in_pl,
        pl_participation.pl_hours_face_to_face,
        pl_participation.pl_hours_online,
        pl_participation.pl_hours_blended,
        pl_participation.tpack_samr_participants,
        pl_participation.pln_leader_participants,
        pl_participation.oer_participants,
        pl_participation.cbe_participants,
        pl_participation.skill_assessment_participants
    from district_years
    left join enrollment
        on district_years.school_year = enrollment.school_year
        and district_years.district_code = enrollment.district_code
    left join staffing
        on district_years.school_year = staffing.school_year
        and district_years.district_code = staffing.district_code
    left join devices
        on district_years.school_year = devices.school_year
        and district_years.district_code = devices.district_code
    left join connectivity
        on district_years.school_year = connectivity.school_year
        and district_years.district_code = connectivity.district_code
    left join pl_participation
        on district_years.school_year = pl_participation.school_year
        and district_years.district_code = pl_participation.district_code
)

select * from metric_components
