"""The engine: what a simulated month is.

``model`` wires a run (the Mesa model; ``step()`` is the month's stages in order), ``world``
holds the state a month acts on, ``month/`` has one module per stage, ``features/`` the
optional mechanisms behind one hook protocol, ``payment/`` one module per payment model
behind one interface. The engine imports nothing from the experiment, results or publishing
wings (``tests/project/test_architecture.py``).
"""
