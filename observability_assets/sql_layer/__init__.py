"""The SQL model layer: `dbt_like_sql/` files as Dagster assets (see `observability_assets.sql_layer.build`).

- `headers`: the comment block that documents a model or seed (description, owner, columns, tests).
- `project`: reads the files, finds each model's upstream tables with sqlglot, checks the graph.
- `materialize`: runs a model or loads a seed inside one short warehouse write.
- `assets`: turns the project into Dagster assets.
- `checks`: the header tests as asset checks, run with Great Expectations.
"""
