-- Professional learning per district and year. Aggregated in two steps so that
-- distinct educators (by educator_key) are counted without count(distinct) over
-- the full record table: first one row per educator, then one per district.
with published_records as (
    select * from {{ ref('int_pl_participation__published') }}
),

educator_years as (
    select
        school_year,
        district_code,
        educator_key,
        bool_or(educator_role in {{ sql_list(var('leader_roles')) }}) as is_leader,
        bool_or(educator_role = 'teacher') as is_teacher,
        bool_or(educator_role = 'tech_staff') as is_tech_staff,
        bool_or(framework in ('TPACK', 'SAMR')) as in_tpack_samr,
        bool_or(
            educator_role in {{ sql_list(var('leader_roles')) }} and activity_kind = 'pln_meeting'
        ) as is_leader_in_pln,
        bool_or(framework = 'OER') as in_oer,
        bool_or(framework = 'CBE') as in_cbe,
        bool_or(activity_kind = 'skill_assessment') as took_skill_assessment,
        sum(cast(hours as decimal(38, 6))) filter (where activity_format = 'face_to_face') as hours_face_to_face,
        sum(cast(hours as decimal(38, 6))) filter (where activity_format = 'online') as hours_online,
        sum(cast(hours as decimal(38, 6))) filter (where activity_format = 'blended') as hours_blended,
        count(*) as pl_records
    from published_records
    group by school_year, district_code, educator_key
),

district_pl as (
    select
        school_year,
        district_code,
        count(*) as educators_in_pl,
        count(*) filter (where is_leader) as leaders_in_pl,
        count(*) filter (where is_teacher) as teachers_in_pl,
        count(*) filter (where is_tech_staff) as tech_staff_in_pl,
        cast(coalesce(sum(hours_face_to_face), 0) as double) as pl_hours_face_to_face,
        cast(coalesce(sum(hours_online), 0) as double) as pl_hours_online,
        cast(coalesce(sum(hours_blended), 0) as double) as pl_hours_blended,
        count(*) filter (where in_tpack_samr) as tpack_samr_participants,
        count(*) filter (where is_leader_in_pln) as pln_leader_participants,
        count(*) filter (where in_oer) as oer_participants,
        count(*) filter (where in_cbe) as cbe_participants,
        count(*) filter (where took_skill_assessment) as skill_assessment_participants,
        cast(sum(pl_records) as bigint) as pl_records
    from educator_years
    group by school_year, district_code
)

select * from district_pl
