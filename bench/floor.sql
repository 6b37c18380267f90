-- The plain-DuckDB floor for bench/run_bench.py: the same loads and the same
-- district-year metrics as the pipeline, written directly in DuckDB SQL, with no
-- orchestration, no validation framework and no dbt. `{{files_<family>}}` and
-- `{{order}}` are filled in by the bench script (lists of file paths; a table of file
-- received order). Latest submission wins as in the pipeline. normalize_names turns
-- the reserved word `role` into `_role` (and `hours` into `_hours`).

create or replace table file_order as select * from ({order}) t(filename, seq);

create or replace table enrollment as
select e.*, o.seq from read_csv({files_enrollment}, header = true, normalize_names = true, union_by_name = true,
    filename = true, types = {{'district_code': 'VARCHAR', 'building_code': 'VARCHAR', 'student_count': 'BIGINT'}}) e
join file_order o using (filename)
qualify o.seq = max(o.seq) over (partition by school_year, district_code);

create or replace table staffing as
select s.*, o.seq from read_csv({files_staffing}, header = true, normalize_names = true, union_by_name = true,
    filename = true, types = {{'district_code': 'VARCHAR'}}) s
join file_order o using (filename)
qualify o.seq = max(o.seq) over (partition by school_year, district_code);

create or replace table devices as
select d.*, o.seq from read_csv({files_devices}, header = true, normalize_names = true, union_by_name = true,
    filename = true, types = {{'district_code': 'VARCHAR', 'building_code': 'VARCHAR'}}) d
join file_order o using (filename)
qualify o.seq = max(o.seq) over (partition by school_year, district_code);

create or replace table connectivity as
select c.*, o.seq from read_csv({files_connectivity}, header = true, normalize_names = true, union_by_name = true,
    filename = true, types = {{'district_code': 'VARCHAR'}}) c
join file_order o using (filename)
qualify o.seq = max(o.seq) over (partition by school_year, district_code);

create or replace table pl as
select p.* exclude (educator_id), sha256(p.district_code || ':' || p.educator_id) as educator_key, o.seq
from read_csv({files_pl_participation}, header = true, normalize_names = true, union_by_name = true,
    filename = true, types = {{'district_code': 'VARCHAR', 'educator_id': 'VARCHAR', 'completed_on': 'DATE'}}) p
join file_order o using (filename)
qualify o.seq = max(o.seq) over (partition by school_year, district_code);

create or replace table district_year_metrics as
with enr as (
    select school_year, district_code, sum(student_count) as student_count from enrollment group by all
),
dev as (
    select school_year, district_code,
        sum(device_count) filter (where user_group = 'student' and device_type in ('chromebook', 'laptop', 'tablet', 'desktop')) as student_devices,
        sum(device_count) filter (where user_group = 'teacher' and device_type in ('chromebook', 'laptop', 'tablet', 'desktop')) as teacher_devices,
        sum(devices_over_5_years) filter (where device_type in ('chromebook', 'laptop', 'tablet', 'desktop')) as aging,
        sum(device_count) filter (where device_type in ('chromebook', 'laptop', 'tablet', 'desktop')) as computing,
        sum(take_home_count) filter (where user_group = 'student' and device_type in ('chromebook', 'laptop', 'tablet', 'desktop')) as take_home
    from devices group by all
),
plagg as (
    select school_year, district_code,
        count(distinct educator_key) filter (where _role in ('building_leader', 'district_leader')) as leaders_in_pl,
        count(distinct educator_key) filter (where _role = 'teacher') as teachers_in_pl,
        count(distinct educator_key) filter (where _role = 'tech_staff') as tech_in_pl,
        sum(_hours) filter (where format = 'face_to_face') as h_f2f,
        sum(_hours) filter (where format = 'online') as h_online,
        sum(_hours) filter (where format = 'blended') as h_blended,
        count(distinct educator_key) filter (where framework in ('TPACK', 'SAMR')) as tpack_samr,
        count(distinct educator_key) filter (where activity_kind = 'pln_meeting' and _role in ('building_leader', 'district_leader')) as pln_leaders,
        count(distinct educator_key) filter (where framework = 'OER') as oer,
        count(distinct educator_key) filter (where framework = 'CBE') as cbe,
        count(distinct educator_key) filter (where activity_kind = 'skill_assessment') as skill
    from pl group by all
),
keys as (
    select school_year, district_code from enr union select school_year, district_code from dev
    union select school_year, district_code from staffing union select school_year, district_code from connectivity
    union select school_year, district_code from plagg
)
select k.school_year, k.district_code, enr.student_count, dev.student_devices,
    enr.student_count / nullif(dev.student_devices, 0) as students_per_device,
    100.0 * dev.teacher_devices / nullif(s.teacher_count, 0) as teacher_device_coverage_pct,
    100.0 * dev.aging / nullif(dev.computing, 0) as aging_device_share_pct,
    100.0 * dev.take_home / nullif(dev.student_devices, 0) as take_home_share_pct,
    c.internet_bandwidth_mbps * 1000 / nullif(enr.student_count, 0) as kbps_per_student,
    c.internet_bandwidth_mbps * 1000 / nullif(enr.student_count, 0) >= 1000 as meets_bandwidth_target,
    c.wifi_classrooms_covered_pct,
    c.monthly_internet_cost_usd / nullif(c.internet_bandwidth_mbps, 0) as cost_per_mbps_usd,
    100.0 * c.students_without_home_internet / nullif(enr.student_count, 0) as home_internet_gap_pct,
    100.0 * c.hotspots_loaned / nullif(c.students_without_home_internet, 0) as hotspot_coverage_pct,
    100.0 * p.leaders_in_pl / nullif(s.building_leader_count + s.district_leader_count, 0) as leader_pl_rate_pct,
    100.0 * p.teachers_in_pl / nullif(s.teacher_count, 0) as teacher_pl_rate_pct,
    100.0 * p.tech_in_pl / nullif(s.tech_staff_count, 0) as tech_staff_pl_rate_pct,
    p.h_f2f, p.h_online, p.h_blended, p.tpack_samr, p.pln_leaders, p.oer, p.cbe, p.skill,
    (enr.district_code is not null and dev.district_code is not null and s.district_code is not null
        and c.district_code is not null and p.district_code is not null) as data_complete
from keys k
left join enr using (school_year, district_code)
left join dev using (school_year, district_code)
left join staffing s using (school_year, district_code)
left join connectivity c using (school_year, district_code)
left join plagg p using (school_year, district_code);

create or replace table state_year_metrics as
select school_year, sum(student_count) as student_count, sum(student_devices) as student_devices,
    count(*) filter (where data_complete) as districts_complete
from district_year_metrics group by all;
