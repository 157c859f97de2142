"""Results: the tables a run writes and their data dictionary, summaries, health economics,
writing a results folder (and a sweep's dataset, a data package), and reading one back.
Never imports the experiment or publishing wings."""
