"""The report's sections, in the order report.html shows them.

``SECTIONS`` lists them. Each is a module with a ``build(ctx)`` function and a
:class:`~sim.publish.report.context.Section` named ``SECTION``; to add a figure or a table,
add a module here and one line to the list (docs/howto/add-a-report-figure.md).
"""

from sim.publish.report.context import Section
from sim.publish.report.sections import (
    decomposition,
    economics,
    key_measures,
    life,
    outcomes,
    parameters,
    sensitivity,
    subgroups,
    trends,
    value,
)

SECTIONS: tuple[Section, ...] = (
    key_measures.SECTION,
    trends.SECTION,
    subgroups.SECTION,
    life.SECTION,
    economics.SECTION,
    decomposition.SECTION,
    parameters.SECTION,
    sensitivity.SECTION,
    value.SECTION,
    # new sections go above the tables of every outcome, which close the report
    outcomes.SECTION,
)

__all__ = ["SECTIONS"]
