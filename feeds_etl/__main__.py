"""`python -m feeds_etl ...`: what the make targets run."""

from feeds_etl.cli import main

raise SystemExit(main())
