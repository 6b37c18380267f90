-- The plain-DuckDB floor of bench/run_bench.py: the work of a night written directly in
-- DuckDB SQL, with no orchestration, no validation framework and no dbt, on the same
-- landing files and by the same rules as the pipeline (DATA_SPEC sections 1-3):
--
--   read every file of a family in one scan per header layout, values trimmed of spaces,
--   empty -> NULL, educator IDs pseudonymised as they are read (HMAC-SHA256 as
--   flows/ingest/pseudonymize.py);
--   delete exact duplicate rows and repeated PL records (the first line stays);
--   check every blocking rule on every row, typed with try_cast, so a bad value is an
--   issue and never an error ('twelve' teachers is bad_type, not a crash);
--   hold back a district's rows of a file when any of them has a blocking error, the
--   whole file when such a row has no district, when a row cannot be parsed or the file
--   is not UTF-8 (bench/floor.py leaves out files without a usable header: empty,
--   missing or repeated columns);
--   latest submission wins per (family, school_year, district_code);
--   the directory in effect per school year, the district-year metrics of
--   marts.district_year_metrics and the state-year sums;
--   the cross-file warnings: year-over-year swings, PL leaders over staffing, rates over 100.
--
-- bench/floor.py fills in the placeholders (written between double at-signs): landing_files
-- (name, path, family, school_year, received order, usable header), scan_<family> (one SELECT of all
-- readable files of the family: filename, _g (header layout), _rn (row order), the
-- family's columns as text), rejected_files (paths with rows DuckDB could not parse),
-- ipad / opad (HMAC pads, hex), received_year (school year of a directory file without a
-- year in its name).

create or replace temp macro ok_int(v) as v is null or regexp_full_match(v, '-?[0-9]+');
create or replace temp macro ok_num(v) as v is null or regexp_full_match(v, '-?([0-9]+(\.[0-9]*)?|\.[0-9]+)');
create or replace temp macro ok_code(v) as v is null or regexp_full_match(v, '[0-9]{5}');
create or replace temp macro ok_date(v) as
    v is null or (regexp_full_match(v, '[0-9]{4}-[0-9]{2}-[0-9]{2}') and try_strptime(v, '%Y-%m-%d') is not null);
create or replace temp macro num(v) as try_cast(v as double);
create or replace temp macro day_num(v) as try_cast(strftime(try_strptime(v, '%Y-%m-%d'), '%Y%m%d') as integer);
create or replace temp macro sy_start(sy) as cast(left(sy, 4) || '0701' as integer);
create or replace temp macro sy_end(sy) as (cast(left(sy, 4) as integer) + 1) * 10000 + 630;
create or replace temp macro prev_sy(sy) as
    (cast(left(sy, 4) as integer) - 1)::varchar || '-' || lpad((cast(left(sy, 4) as integer) % 100)::varchar, 2, '0');
create or replace temp macro big(v) as cast(cast(v as hugeint) as bigint);

create or replace table landing_files as
select * from (values @@landing_files@@) t(file_name, filename, family, file_year, seq, usable);

create or replace table raw_districts as @@scan_districts@@;
create or replace table raw_enrollment as @@scan_enrollment@@;
create or replace table raw_staffing as @@scan_staffing@@;
create or replace table raw_connectivity as @@scan_connectivity@@;
create or replace table raw_devices as @@scan_devices@@;
create or replace table raw_pl as  -- educator IDs pseudonymised as they are read
select * replace (
    case when educator_id is null then null
    else sha256(unhex('@@opad@@') || unhex(sha256(unhex('@@ipad@@') || encode(coalesce(district_code, '') || ':' || educator_id))))
    end as educator_id
)
from @@scan_pl_participation@@;
create or replace table rejected_files as select distinct filename from (@@rejected_files@@);

-- ------------------------------------------------------------------ the directory
-- exact duplicate rows: the first line stays
delete from raw_districts r using (
    select filename, min(_rn) as first_rn, district_code, district_name, district_type, isd_code, county, locale,
        data_contact_email
    from raw_districts group by all having count(*) > 1
) d
where d.filename = r.filename and r._rn > d.first_rn
        and d.district_code is not distinct from r.district_code and d.district_name is not distinct from r.district_name
        and d.district_type is not distinct from r.district_type and d.isd_code is not distinct from r.isd_code
        and d.county is not distinct from r.county and d.locale is not distinct from r.locale
        and d.data_contact_email is not distinct from r.data_contact_email;

create or replace table checked_districts as
with isds as (select distinct filename, district_code from raw_districts where district_type = 'ISD'),
keys as (select filename, district_code from raw_districts where district_code is not null group by all having count(*) > 1)
select s.filename, s.district_code, s._rn,
    s.district_code is null or s.district_name is null or s.district_type is null or s.isd_code is null
        or s.locale is null as required_value_missing,
    not ok_code(s.district_code) or not ok_code(s.isd_code) as bad_code_format,
    s.district_type not in ('LEA', 'PSA', 'ISD') or s.locale not in ('city', 'suburb', 'town', 'rural') as value_not_allowed,
    s.data_contact_email is not null and not regexp_full_match(s.data_contact_email, '[^@\s]+@[^@\s]+\.[^@\s]+') as bad_type,
    s.isd_code is not null and i.district_code is null as unknown_isd,
    k.district_code is not null as duplicate_key_conflict
from raw_districts s
left join isds i on i.filename = s.filename and i.district_code = s.isd_code
left join keys k on k.filename = s.filename and k.district_code = s.district_code;

create or replace table issues as
select filename, _rn, district_code, 'error' as severity, unnest(list_filter([
        case when required_value_missing then 'required_value_missing' end, case when bad_code_format then 'bad_code_format' end,
        case when value_not_allowed then 'value_not_allowed' end, case when bad_type then 'bad_type' end,
        case when unknown_isd then 'unknown_isd' end, case when duplicate_key_conflict then 'duplicate_key_conflict' end
    ], lambda x: x is not null)) as rule, null::varchar as school_year
from checked_districts
where required_value_missing or bad_code_format or value_not_allowed or bad_type or unknown_isd or duplicate_key_conflict;

insert into issues  -- files held back whole: no usable header, or rows DuckDB could not parse (encoding, quoting)
select filename, null, null, 'error', 'file_held_back', file_year from landing_files where not usable
union all
select filename, null, null, 'error', 'file_held_back', null from rejected_files;

create or replace temp macro held_back(f, d) as
    f in (select filename from rejected_files)
    or f in (select filename from issues where severity = 'error' and district_code is null)
    or d is null
    or (f, d) in (select (filename, district_code) from issues where severity = 'error');

create or replace table districts as
select s.*, f.seq, coalesce(f.file_year, '@@received_year@@') as effective_school_year
from raw_districts s join landing_files f using (filename)
where not held_back(s.filename, s.district_code);

create or replace table known_districts as select distinct district_code from districts;

-- ------------------------------------------------------------------ enrollment
-- exact duplicate rows: the first line stays
delete from raw_enrollment r using (
    select filename, min(_rn) as first_rn, school_year, district_code, building_code, building_name, student_count
    from raw_enrollment group by all having count(*) > 1
) d
where d.filename = r.filename and r._rn > d.first_rn
        and d.school_year is not distinct from r.school_year and d.district_code is not distinct from r.district_code
        and d.building_code is not distinct from r.building_code and d.building_name is not distinct from r.building_name
        and d.student_count is not distinct from r.student_count;

insert into issues
with keys as (
    select filename, school_year, district_code, building_code from raw_enrollment
    where school_year is not null and district_code is not null and building_code is not null
    group by all having count(*) > 1
),
checked as (
    select s.filename, s._rn, s.district_code,
        s.school_year is null or s.district_code is null or s.building_code is null or s.student_count is null
            as required_value_missing,
        not ok_code(s.district_code) or not ok_code(s.building_code) as bad_code_format,
        s.school_year <> f.file_year as school_year_mismatch,
        not ok_int(s.student_count) as bad_type,
        num(s.student_count) < 0 as out_of_range,
        s.district_code is not null and s.district_code not in (select district_code from known_districts) as unknown_district,
        k.filename is not null as duplicate_key_conflict
    from raw_enrollment s
    join landing_files f using (filename)
    left join keys k on k.filename = s.filename and k.school_year = s.school_year and k.district_code = s.district_code
        and k.building_code = s.building_code
)
select filename, _rn, district_code, 'error', unnest(list_filter([
        case when required_value_missing then 'required_value_missing' end, case when bad_code_format then 'bad_code_format' end,
        case when school_year_mismatch then 'school_year_mismatch' end, case when bad_type then 'bad_type' end,
        case when out_of_range then 'out_of_range' end, case when unknown_district then 'unknown_district' end,
        case when duplicate_key_conflict then 'duplicate_key_conflict' end
    ], lambda x: x is not null)), null
from checked
where required_value_missing or bad_code_format or school_year_mismatch or bad_type or out_of_range or unknown_district
    or duplicate_key_conflict;

create or replace table enrollment as
with accepted as (
    select s.school_year, s.district_code, s.building_code, s.building_name, big(s.student_count) as student_count,
        s.filename, f.seq
    from raw_enrollment s join landing_files f using (filename)
    where not held_back(s.filename, s.district_code)
)
select a.* from accepted a
join (select school_year, district_code, max(seq) as seq from accepted group by all) l using (school_year, district_code, seq);

create or replace table known_buildings as select distinct school_year, district_code, building_code from enrollment;

-- ------------------------------------------------------------------ staffing
-- exact duplicate rows: the first line stays
delete from raw_staffing r using (
    select filename, min(_rn) as first_rn, school_year, district_code, teacher_count, building_leader_count,
        district_leader_count, tech_staff_count
    from raw_staffing group by all having count(*) > 1
) d
where d.filename = r.filename and r._rn > d.first_rn
        and d.school_year is not distinct from r.school_year and d.district_code is not distinct from r.district_code
        and d.teacher_count is not distinct from r.teacher_count
        and d.building_leader_count is not distinct from r.building_leader_count
        and d.district_leader_count is not distinct from r.district_leader_count
        and d.tech_staff_count is not distinct from r.tech_staff_count;

insert into issues
with keys as (
    select filename, school_year, district_code from raw_staffing
    where school_year is not null and district_code is not null group by all having count(*) > 1
),
checked as (
    select s.filename, s._rn, s.district_code,
        s.school_year is null or s.district_code is null or s.teacher_count is null or s.building_leader_count is null
            or s.district_leader_count is null or s.tech_staff_count is null as required_value_missing,
        not ok_code(s.district_code) as bad_code_format,
        s.school_year <> f.file_year as school_year_mismatch,
        not (ok_int(s.teacher_count) and ok_int(s.building_leader_count) and ok_int(s.district_leader_count)
            and ok_int(s.tech_staff_count)) as bad_type,
        num(s.teacher_count) < 0 or num(s.building_leader_count) < 0 or num(s.district_leader_count) < 0
            or num(s.tech_staff_count) < 0 as out_of_range,
        s.district_code is not null and s.district_code not in (select district_code from known_districts) as unknown_district,
        k.filename is not null as duplicate_key_conflict
    from raw_staffing s
    join landing_files f using (filename)
    left join keys k on k.filename = s.filename and k.school_year = s.school_year and k.district_code = s.district_code
)
select filename, _rn, district_code, 'error', unnest(list_filter([
        case when required_value_missing then 'required_value_missing' end, case when bad_code_format then 'bad_code_format' end,
        case when school_year_mismatch then 'school_year_mismatch' end, case when bad_type then 'bad_type' end,
        case when out_of_range then 'out_of_range' end, case when unknown_district then 'unknown_district' end,
        case when duplicate_key_conflict then 'duplicate_key_conflict' end
    ], lambda x: x is not null)), null
from checked
where required_value_missing or bad_code_format or school_year_mismatch or bad_type or out_of_range or unknown_district
    or duplicate_key_conflict;

create or replace table staffing as
with accepted as (
    select s.school_year, s.district_code, big(s.teacher_count) as teacher_count,
        big(s.building_leader_count) as building_leader_count, big(s.district_leader_count) as district_leader_count,
        big(s.tech_staff_count) as tech_staff_count, s.filename, f.seq
    from raw_staffing s join landing_files f using (filename)
    where not held_back(s.filename, s.district_code)
)
select a.* from accepted a
join (select school_year, district_code, max(seq) as seq from accepted group by all) l using (school_year, district_code, seq);

-- ------------------------------------------------------------------ connectivity
-- exact duplicate rows: the first line stays
delete from raw_connectivity r using (
    select filename, min(_rn) as first_rn, school_year, district_code, internet_bandwidth_mbps, wan_bandwidth_mbps,
        wifi_classrooms_covered_pct, monthly_internet_cost_usd, erate_discount_pct, students_without_home_internet,
        hotspots_loaned
    from raw_connectivity group by all having count(*) > 1
) d
where d.filename = r.filename and r._rn > d.first_rn
        and d.school_year is not distinct from r.school_year and d.district_code is not distinct from r.district_code
        and d.internet_bandwidth_mbps is not distinct from r.internet_bandwidth_mbps
        and d.wan_bandwidth_mbps is not distinct from r.wan_bandwidth_mbps
        and d.wifi_classrooms_covered_pct is not distinct from r.wifi_classrooms_covered_pct
        and d.monthly_internet_cost_usd is not distinct from r.monthly_internet_cost_usd
        and d.erate_discount_pct is not distinct from r.erate_discount_pct
        and d.students_without_home_internet is not distinct from r.students_without_home_internet
        and d.hotspots_loaned is not distinct from r.hotspots_loaned;

insert into issues
with keys as (
    select filename, school_year, district_code from raw_connectivity
    where school_year is not null and district_code is not null group by all having count(*) > 1
),
checked as (
    select s.filename, s._rn, s.district_code,
        s.school_year is null or s.district_code is null or s.internet_bandwidth_mbps is null
            or s.wifi_classrooms_covered_pct is null or s.monthly_internet_cost_usd is null
            or s.students_without_home_internet is null or s.hotspots_loaned is null as required_value_missing,
        not ok_code(s.district_code) as bad_code_format,
        s.school_year <> f.file_year as school_year_mismatch,
        not (ok_num(s.internet_bandwidth_mbps) and ok_num(s.wan_bandwidth_mbps) and ok_num(s.wifi_classrooms_covered_pct)
            and ok_num(s.monthly_internet_cost_usd) and ok_num(s.erate_discount_pct)
            and ok_int(s.students_without_home_internet) and ok_int(s.hotspots_loaned)) as bad_type,
        num(s.internet_bandwidth_mbps) <= 0 or num(s.wan_bandwidth_mbps) < 0
            or num(s.wifi_classrooms_covered_pct) not between 0 and 100 or num(s.monthly_internet_cost_usd) < 0
            or num(s.erate_discount_pct) not between 20 and 90 or num(s.students_without_home_internet) < 0
            or num(s.hotspots_loaned) < 0 as out_of_range,
        s.district_code is not null and s.district_code not in (select district_code from known_districts) as unknown_district,
        k.filename is not null as duplicate_key_conflict
    from raw_connectivity s
    join landing_files f using (filename)
    left join keys k on k.filename = s.filename and k.school_year = s.school_year and k.district_code = s.district_code
)
select filename, _rn, district_code, 'error', unnest(list_filter([
        case when required_value_missing then 'required_value_missing' end, case when bad_code_format then 'bad_code_format' end,
        case when school_year_mismatch then 'school_year_mismatch' end, case when bad_type then 'bad_type' end,
        case when out_of_range then 'out_of_range' end, case when unknown_district then 'unknown_district' end,
        case when duplicate_key_conflict then 'duplicate_key_conflict' end
    ], lambda x: x is not null)), null
from checked
where required_value_missing or bad_code_format or school_year_mismatch or bad_type or out_of_range or unknown_district
    or duplicate_key_conflict;

create or replace table connectivity as
with accepted as (
    select s.school_year, s.district_code, cast(s.internet_bandwidth_mbps as double) as internet_bandwidth_mbps,
        cast(s.wan_bandwidth_mbps as double) as wan_bandwidth_mbps,
        cast(s.wifi_classrooms_covered_pct as double) as wifi_classrooms_covered_pct,
        cast(s.monthly_internet_cost_usd as double) as monthly_internet_cost_usd,
        cast(s.erate_discount_pct as double) as erate_discount_pct,
        big(s.students_without_home_internet) as students_without_home_internet, big(s.hotspots_loaned) as hotspots_loaned,
        s.filename, f.seq
    from raw_connectivity s join landing_files f using (filename)
    where not held_back(s.filename, s.district_code)
)
select a.* from accepted a
join (select school_year, district_code, max(seq) as seq from accepted group by all) l using (school_year, district_code, seq);

-- ------------------------------------------------------------------ devices
-- exact duplicate rows: the first line stays
delete from raw_devices r using (
    select filename, min(_rn) as first_rn, school_year, district_code, building_code, device_type, user_group,
        device_count, devices_over_5_years, take_home_count
    from raw_devices group by all having count(*) > 1
) d
where d.filename = r.filename and r._rn > d.first_rn
        and d.school_year is not distinct from r.school_year and d.district_code is not distinct from r.district_code
        and d.building_code is not distinct from r.building_code and d.device_type is not distinct from r.device_type
        and d.user_group is not distinct from r.user_group and d.device_count is not distinct from r.device_count
        and d.devices_over_5_years is not distinct from r.devices_over_5_years
        and d.take_home_count is not distinct from r.take_home_count;

insert into issues
with keys as (
    select filename, school_year, district_code, building_code, device_type, user_group from raw_devices
    where school_year is not null and district_code is not null and building_code is not null and device_type is not null
        and user_group is not null
    group by all having count(*) > 1
),
checked as (
    select s.filename, s._rn, s.district_code,
        s.school_year is null or s.district_code is null or s.building_code is null or s.device_type is null
            or s.user_group is null or s.device_count is null or s.devices_over_5_years is null
            or s.take_home_count is null as required_value_missing,
        not ok_code(s.district_code) or not ok_code(s.building_code) as bad_code_format,
        s.school_year <> f.file_year as school_year_mismatch,
        s.device_type not in ('chromebook', 'laptop', 'tablet', 'desktop', 'hotspot', 'interactive_display')
            or s.user_group not in ('student', 'teacher', 'staff', 'shared') as value_not_allowed,
        not (ok_int(s.device_count) and ok_int(s.devices_over_5_years) and ok_int(s.take_home_count)) as bad_type,
        num(s.device_count) < 0 or num(s.devices_over_5_years) < 0 or num(s.take_home_count) < 0 as out_of_range,
        num(s.devices_over_5_years) > num(s.device_count) or num(s.take_home_count) > num(s.device_count)
            as count_exceeds_device_count,
        s.district_code is not null and s.district_code not in (select district_code from known_districts) as unknown_district,
        s.building_code is not null and (s.school_year, s.district_code, s.building_code) not in (
            select (school_year, district_code, building_code) from known_buildings
        ) as building_not_in_enrollment,
        k.filename is not null as duplicate_key_conflict
    from raw_devices s
    join landing_files f using (filename)
    left join keys k on k.filename = s.filename and k.school_year = s.school_year and k.district_code = s.district_code
        and k.building_code = s.building_code and k.device_type = s.device_type and k.user_group = s.user_group
)
select filename, _rn, district_code, 'error', unnest(list_filter([
        case when required_value_missing then 'required_value_missing' end, case when bad_code_format then 'bad_code_format' end,
        case when school_year_mismatch then 'school_year_mismatch' end, case when value_not_allowed then 'value_not_allowed' end,
        case when bad_type then 'bad_type' end, case when out_of_range then 'out_of_range' end,
        case when count_exceeds_device_count then 'count_exceeds_device_count' end,
        case when unknown_district then 'unknown_district' end,
        case when building_not_in_enrollment then 'building_not_in_enrollment' end,
        case when duplicate_key_conflict then 'duplicate_key_conflict' end
    ], lambda x: x is not null)), null
from checked
where required_value_missing or bad_code_format or school_year_mismatch or value_not_allowed or bad_type or out_of_range
    or count_exceeds_device_count or unknown_district or building_not_in_enrollment or duplicate_key_conflict;

create or replace table devices as
with accepted as (
    select s.school_year, s.district_code, s.building_code, s.device_type, s.user_group, big(s.device_count) as device_count,
        big(s.devices_over_5_years) as devices_over_5_years, big(s.take_home_count) as take_home_count, s.filename, f.seq
    from raw_devices s join landing_files f using (filename)
    where not held_back(s.filename, s.district_code)
)
select a.* from accepted a
join (select school_year, district_code, max(seq) as seq from accepted group by all) l using (school_year, district_code, seq);

-- ------------------------------------------------------------------ professional learning
-- repeated records (the same educator, activity and date; exact duplicates too): the first line stays
delete from raw_pl r using (
    select filename, min(_rn) as first_rn, school_year, district_code, educator_id, activity_id, completed_on
    from raw_pl group by all having count(*) > 1
) d
where d.filename = r.filename and r._rn > d.first_rn
    and d.school_year is not distinct from r.school_year and d.district_code is not distinct from r.district_code
    and d.educator_id is not distinct from r.educator_id and d.activity_id is not distinct from r.activity_id
    and d.completed_on is not distinct from r.completed_on;

insert into issues
with checked as (
    select s.filename, s._rn, s.district_code,
        s.school_year is null or s.district_code is null or s.educator_id is null or s.role is null or s.activity_id is null
            or s.activity_kind is null or s.provider is null or s.format is null or s.framework is null or s.hours is null
            or s.completed_on is null as required_value_missing,
        not ok_code(s.district_code) as bad_code_format,
        s.school_year <> f.file_year as school_year_mismatch,
        s.role not in ('teacher', 'building_leader', 'district_leader', 'tech_staff', 'support_staff')
            or s.activity_kind not in ('course', 'workshop', 'pln_meeting', 'coaching', 'skill_assessment')
            or s.provider not in ('REMC', 'TRIG', 'EduPaths', 'ISTE', 'MACUL', 'ISD', 'district', 'other')
            or s.format not in ('face_to_face', 'online', 'blended')
            or s.framework not in ('TPACK', 'SAMR', 'ISTE_Standards', 'OER', 'CBE', 'none') as value_not_allowed,
        not (ok_num(s.hours) and ok_date(s.completed_on)) as bad_type,
        num(s.hours) <= 0 or num(s.hours) > 40 as out_of_range,
        day_num(s.completed_on) not between sy_start(f.file_year) and sy_end(f.file_year) as date_outside_school_year,
        s.district_code is not null and s.district_code not in (select district_code from known_districts) as unknown_district
    from raw_pl s
    join landing_files f using (filename)
)
select filename, _rn, district_code, 'error', unnest(list_filter([
        case when required_value_missing then 'required_value_missing' end, case when bad_code_format then 'bad_code_format' end,
        case when school_year_mismatch then 'school_year_mismatch' end, case when value_not_allowed then 'value_not_allowed' end,
        case when bad_type then 'bad_type' end, case when out_of_range then 'out_of_range' end,
        case when date_outside_school_year then 'date_outside_school_year' end,
        case when unknown_district then 'unknown_district' end
    ], lambda x: x is not null)), null
from checked
where required_value_missing or bad_code_format or school_year_mismatch or value_not_allowed or bad_type or out_of_range
    or date_outside_school_year or unknown_district;

create or replace table pl as
with accepted as (
    select s.school_year, s.district_code, s.educator_id as educator_key, s.role, s.activity_id, s.activity_kind, s.format,
        s.framework, cast(s.hours as double) as hours, cast(s.completed_on as date) as completed_on, s.filename, f.seq
    from raw_pl s join landing_files f using (filename)
    where not held_back(s.filename, s.district_code)
)
select a.* from accepted a
join (select school_year, district_code, max(seq) as seq from accepted group by all) l using (school_year, district_code, seq);

-- ------------------------------------------------------------------ metrics
create or replace table district_years as
with school_years as (
    select school_year from enrollment union select school_year from staffing union select school_year from devices
    union select school_year from connectivity union select school_year from pl
),
versions as (  -- the directory file received last among those effective from each school year
    select effective_school_year, max(seq) as seq from districts group by all
),
in_effect as (
    select y.school_year, max(v.effective_school_year) as effective_school_year
    from school_years y
    join versions v on v.effective_school_year <= greatest(y.school_year, (select min(effective_school_year) from versions))
    group by all
)
select e.school_year, d.district_code, d.district_name, d.district_type, d.isd_code, d.county, d.locale
from in_effect e
join versions v using (effective_school_year)
join districts d on d.effective_school_year = v.effective_school_year and d.seq = v.seq;

create or replace table district_year_metrics as
with enr as (
    select school_year, district_code, sum(student_count) as student_count from enrollment group by all
),
dev as (
    select school_year, district_code,
        coalesce(sum(device_count) filter (where user_group = 'student' and device_type in ('chromebook', 'laptop', 'tablet', 'desktop')), 0) as student_devices,
        coalesce(sum(take_home_count) filter (where user_group = 'student' and device_type in ('chromebook', 'laptop', 'tablet', 'desktop')), 0) as student_take_home_devices,
        coalesce(sum(device_count) filter (where user_group = 'teacher' and device_type in ('chromebook', 'laptop', 'tablet', 'desktop')), 0) as teacher_devices,
        coalesce(sum(device_count) filter (where device_type in ('chromebook', 'laptop', 'tablet', 'desktop')), 0) as computing_devices,
        coalesce(sum(devices_over_5_years) filter (where device_type in ('chromebook', 'laptop', 'tablet', 'desktop')), 0) as computing_devices_over_5_years
    from devices group by all
),
stf as (
    select school_year, district_code, teacher_count, building_leader_count + district_leader_count as leader_count,
        tech_staff_count
    from staffing
),
educators as (
    select school_year, district_code, educator_key,
        bool_or(role in ('building_leader', 'district_leader')) as is_leader,
        bool_or(role = 'teacher') as is_teacher,
        bool_or(role = 'tech_staff') as is_tech_staff,
        bool_or(framework in ('TPACK', 'SAMR')) as in_tpack_samr,
        bool_or(role in ('building_leader', 'district_leader') and activity_kind = 'pln_meeting') as is_leader_in_pln,
        bool_or(framework = 'OER') as in_oer,
        bool_or(framework = 'CBE') as in_cbe,
        bool_or(activity_kind = 'skill_assessment') as took_skill_assessment,
        sum(cast(hours as decimal(38, 6))) filter (where format = 'face_to_face') as h_f2f,
        sum(cast(hours as decimal(38, 6))) filter (where format = 'online') as h_online,
        sum(cast(hours as decimal(38, 6))) filter (where format = 'blended') as h_blended
    from pl group by all
),
plagg as (
    select school_year, district_code,
        count(*) filter (where is_leader) as leaders_in_pl,
        count(*) filter (where is_teacher) as teachers_in_pl,
        count(*) filter (where is_tech_staff) as tech_staff_in_pl,
        cast(coalesce(sum(h_f2f), 0) as double) as pl_hours_face_to_face,
        cast(coalesce(sum(h_online), 0) as double) as pl_hours_online,
        cast(coalesce(sum(h_blended), 0) as double) as pl_hours_blended,
        count(*) filter (where in_tpack_samr) as tpack_samr_participants,
        count(*) filter (where is_leader_in_pln) as pln_leader_participants,
        count(*) filter (where in_oer) as oer_participants,
        count(*) filter (where in_cbe) as cbe_participants,
        count(*) filter (where took_skill_assessment) as skill_assessment_participants
    from educators group by all
)
select k.school_year, k.district_code, k.district_name, k.isd_code, k.district_type, k.locale, k.county,
    enr.student_count, dev.student_devices,
    1 * cast(enr.student_count as double) / nullif(cast(dev.student_devices as double), 0) as students_per_device,
    100 * cast(dev.teacher_devices as double) / nullif(cast(s.teacher_count as double), 0) as teacher_device_coverage_pct,
    100 * cast(dev.computing_devices_over_5_years as double) / nullif(cast(dev.computing_devices as double), 0) as aging_device_share_pct,
    100 * cast(dev.student_take_home_devices as double) / nullif(cast(dev.student_devices as double), 0) as take_home_share_pct,
    1000 * cast(c.internet_bandwidth_mbps as double) / nullif(cast(enr.student_count as double), 0) as kbps_per_student,
    1000 * cast(c.internet_bandwidth_mbps as double) / nullif(cast(enr.student_count as double), 0) >= 1000 as meets_bandwidth_target,
    c.wifi_classrooms_covered_pct,
    1 * cast(c.monthly_internet_cost_usd as double) / nullif(cast(c.internet_bandwidth_mbps as double), 0) as cost_per_mbps_usd,
    100 * cast(c.students_without_home_internet as double) / nullif(cast(enr.student_count as double), 0) as home_internet_gap_pct,
    100 * cast(c.hotspots_loaned as double) / nullif(cast(c.students_without_home_internet as double), 0) as hotspot_coverage_pct,
    100 * cast(p.leaders_in_pl as double) / nullif(cast(s.leader_count as double), 0) as leader_pl_rate_pct,
    100 * cast(p.teachers_in_pl as double) / nullif(cast(s.teacher_count as double), 0) as teacher_pl_rate_pct,
    100 * cast(p.tech_staff_in_pl as double) / nullif(cast(s.tech_staff_count as double), 0) as tech_staff_pl_rate_pct,
    p.pl_hours_face_to_face, p.pl_hours_online, p.pl_hours_blended, p.tpack_samr_participants,
    p.pln_leader_participants, p.oer_participants, p.cbe_participants, p.skill_assessment_participants,
    (enr.district_code is not null and s.district_code is not null and dev.district_code is not null
        and c.district_code is not null and p.district_code is not null) as data_complete,
    enr.district_code is not null as has_enrollment, s.district_code is not null as has_staffing,
    dev.district_code is not null as has_devices, c.district_code is not null as has_connectivity,
    p.district_code is not null as has_pl_participation,
    s.teacher_count, s.leader_count, s.tech_staff_count, dev.teacher_devices, p.leaders_in_pl, p.teachers_in_pl,
    p.tech_staff_in_pl, c.students_without_home_internet, c.hotspots_loaned, dev.computing_devices,
    dev.computing_devices_over_5_years, dev.student_take_home_devices, c.internet_bandwidth_mbps,
    c.monthly_internet_cost_usd
from district_years k
left join enr using (school_year, district_code)
left join dev using (school_year, district_code)
left join stf s using (school_year, district_code)
left join connectivity c using (school_year, district_code)
left join plagg p using (school_year, district_code);

create or replace table state_year_metrics as
select school_year, sum(student_count) as student_count, sum(student_devices) as student_devices,
    sum(student_count) filter (where student_devices is not null) * 1.0
        / nullif(sum(student_devices) filter (where student_count is not null), 0) as students_per_device,
    100.0 * sum(leaders_in_pl) filter (where leader_count is not null)
        / nullif(sum(leader_count) filter (where leaders_in_pl is not null), 0) as leader_pl_rate_pct,
    count(*) as districts_in_directory, count(*) filter (where data_complete) as districts_complete
from district_year_metrics group by all;

-- ------------------------------------------------------------------ warnings across files
insert into issues
with totals as (
    select 'enrollment' as family, school_year, district_code, any_value(filename) as filename, sum(student_count) as total
    from enrollment group by all
    union all
    select 'devices', school_year, district_code, any_value(filename), sum(device_count) from devices group by all
)
select cur.filename, null, cur.district_code, 'warning',
    case cur.family when 'enrollment' then 'yoy_student_count_swing' else 'yoy_device_total_swing' end, cur.school_year
from totals cur
join totals prev on prev.family = cur.family and prev.district_code = cur.district_code
    and prev.school_year = prev_sy(cur.school_year)
where prev.total > 0 and abs(cur.total - prev.total) > 0.5 * prev.total;

insert into issues
select p.filename, null, p.district_code, 'warning', 'pl_leaders_exceed_staffing', p.school_year
from (
    select school_year, district_code, any_value(filename) as filename,
        count(distinct educator_key) filter (where role in ('building_leader', 'district_leader')) as n
    from pl group by all
) p
join staffing s using (school_year, district_code)
where p.n > s.building_leader_count + s.district_leader_count;

insert into issues
select null, null, district_code, 'warning', 'rate_over_100', school_year
from district_year_metrics,
    unnest([teacher_device_coverage_pct, home_internet_gap_pct, hotspot_coverage_pct, leader_pl_rate_pct,
            teacher_pl_rate_pct, tech_staff_pl_rate_pct]) t(rate)
where rate > 100;
