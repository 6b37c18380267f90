{#-
    Fails on every row for which the SQL boolean expression is not true (false or
    null). Used at model level, or at column level where the expression may use the
    column's name. Returns the failing rows.
-#}
{% test expression_is_true(model, expression, column_name=none) %}
    select *
    from {{ model }}
    where not coalesce(({{ expression }}), false)
{% endtest %}
