with source as (
    select * from {{ source('reference', 'connectivity_benchmarks') }}
),

renamed as (
    select
        cast(benchmark as varchar) as benchmark,
        cast(value as double) as value,
        cast(label as varchar) as label,
        cast(source as varchar) as source
    from source
)

select * from renamed
