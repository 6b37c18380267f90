"""roadmap-demo-data: the demo and benchmark landing data of roadmap-warehouse.

A development tool, not part of the product: `make setup` installs it beside the product
in .venv (tools/pyproject.toml); the runtime image does not hold it. It writes the
landing files of a synthetic but believable Michigan, deterministic by seed, with the
defects and warnings districts really send mixed in on request, and a manifest of each
(used by `make demo`, bench/ and the tests).

    from roadmap_demo_data.generate import generate_landing   # the API
    roadmap generate --out DIR ...                            # the command (docs/INTERFACE.md)
    python -m roadmap_demo_data --out DIR ...                 # the same, without the product's CLI

It reads the product's contract (flows.ingest.families: the families, their columns and
domains; flows.school_years); the product never imports it.

Modules, in the order a generation runs: state (the synthetic state, from facts), writers
(a frame per family and year, and the file), defects (planning and injection), corrections
(clean resubmissions), bench_shapes (heavy warnings, per-district files), manifest (what
was written and injected), generate (`generate_landing`), cli (`roadmap generate`).
"""
