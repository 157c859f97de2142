"""Publishing: figures, the report (``sim report``), the monthly trends and the generated
reference documentation. Reads results folders through :mod:`sim.results`; never imports the
experiment wing."""
