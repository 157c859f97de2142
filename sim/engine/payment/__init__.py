"""Payment models: interchangeable parts behind one interface (:mod:`sim.engine.payment.base`).

``REGISTRY`` maps the name used in scenario files to the class. To add a model, add a module
with a :class:`~sim.engine.payment.base.PaymentModel` subclass and list it here.
"""

from sim.engine.payment.aco import ACO
from sim.engine.payment.all_payer_budget import AllPayerBudget
from sim.engine.payment.base import Claims, ContractParams, Panel, PaymentModel, Settlement
from sim.engine.payment.blended import Blended
from sim.engine.payment.bundled import Bundled
from sim.engine.payment.capitation import Capitation
from sim.engine.payment.cost_based import CostBased
from sim.engine.payment.episode import EpisodeBundle
from sim.engine.payment.ffs import FeeForService
from sim.engine.payment.home_health import PDGM, HomeHealthLegacy
from sim.engine.payment.readmission_penalty import ReadmissionPenalty
from sim.engine.payment.snf import PDPM, SNFLegacy
from sim.engine.payment.therapy_threshold import TherapyThreshold

REGISTRY: dict[str, type[PaymentModel]] = {
    cls.name: cls
    for cls in (
        FeeForService,
        Capitation,
        Bundled,
        Blended,
        HomeHealthLegacy,
        PDGM,
        EpisodeBundle,
        SNFLegacy,
        CostBased,
        ReadmissionPenalty,
        AllPayerBudget,
        ACO,
        TherapyThreshold,
        # new models go above PDPM: tests/project/test_howtos.py appends the how-to's after it
        PDPM,
    )
}

__all__ = ["REGISTRY", "Claims", "ContractParams", "Panel", "PaymentModel", "Settlement"]
