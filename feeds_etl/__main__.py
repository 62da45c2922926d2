import gc

# Start-up (Dagster, the libraries, the definitions, the Dagster instance) only creates objects that live as long
# as the process, yet the cyclic garbage collector would re-scan them in each of its collections meanwhile (0.4 s)
# and in every full collection of the run after. So they load with the collector off; `cli.materialize` exempts
# them from it (`gc.freeze`) and turns it back on before the run.
gc.disable()
from feeds_etl.cli import main  # noqa: E402

status = main()
# The interpreter's last collections would walk every object the run left behind (0.7 s for Dagster's and
# the libraries' graphs); the process is about to end, so skip them.
gc.freeze()
raise SystemExit(status)
