"""`python -m roadmap_demo_data --out DIR ...`: `roadmap generate` without the product's CLI."""

from .cli import main

raise SystemExit(main())
