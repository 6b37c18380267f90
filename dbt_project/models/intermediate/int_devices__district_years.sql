-- Device totals per district and year. Every total is 0, not null, when the
-- district published a devices file without such devices (e.g. only hotspots):
-- the family is published, so the count is known.
with published_devices as (
    select * from {{ ref('int_devices__published') }}
),

classified_devices as (
    select
        *,
        device_type in {{ sql_list(var('computing_device_types')) }} as is_computing_device
    from published_devices
),

district_devices as (
    select
        school_year,
        district_code,
        cast(coalesce(sum(device_count) filter (
            where is_computing_device and user_group = 'student'
        ), 0) as bigint) as student_devices,
        cast(coalesce(sum(take_home_count) filter (
            where is_computing_device and user_group = 'student'
        ), 0) as bigint) as student_take_home_devices,
        cast(coalesce(sum(device_count) filter (
            where is_computing_device and user_group = 'teacher'
        ), 0) as bigint) as teacher_devices,
        cast(coalesce(sum(device_count) filter (
            where is_computing_device
        ), 0) as bigint) as computing_devices,
        cast(coalesce(sum(devices_over_5_years) filter (
            where is_computing_device
        ), 0) as bigint) as computing_devices_over_5_years,
        cast(sum(device_count) as bigint) as all_devices
    from classified_devices
    group by school_year, district_code
)

select * from district_devices
