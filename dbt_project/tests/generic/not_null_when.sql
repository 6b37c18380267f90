{#-
    Fails on every row where the condition holds and the column is null: e.g. a
    metric must be known when the families it needs are published.
-#}
{% test not_null_when(model, column_name, condition) %}
    select *
    from {{ model }}
    where ({{ condition }})
      and {{ column_name }} is null
{% endtest %}
