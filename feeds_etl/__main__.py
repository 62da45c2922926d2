import gc

from feeds_etl.cli import main

status = main()
# The interpreter's last collections would walk every object the run left behind (0.7 s for Dagster's and
# the libraries' graphs); the process is about to end, so skip them.
gc.freeze()
raise SystemExit(status)
