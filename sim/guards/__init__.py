"""Guards: checks made before any work starts (input files, output folders, scale, seeds),
the optional extras' imports, and the package's own files. Imports nothing else of ``sim``
but :mod:`sim.errors`."""
