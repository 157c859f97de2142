"""Payment models: interchangeable parts behind one interface (:mod:`sim.payment.base`).

``REGISTRY`` maps the name used in scenario files to the class. To add a model, add a module
with a :class:`~sim.payment.base.PaymentModel` subclass and list it here.
"""

from sim.payment.aco import ACO
from sim.payment.all_payer_budget import AllPayerBudget
from sim.payment.base import Claims, ContractParams, Panel, PaymentModel, Settlement
from sim.payment.blended import Blended
from sim.payment.bundled import Bundled
from sim.payment.capitation import Capitation
from sim.payment.cost_based import CostBased
from sim.payment.episode import EpisodeBundle
from sim.payment.ffs import FeeForService
from sim.payment.home_health import PDGM, HomeHealthLegacy
from sim.payment.readmission_penalty import ReadmissionPenalty
from sim.payment.snf import PDPM, SNFLegacy
from sim.payment.therapy_threshold import TherapyThreshold

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
        # new models go above PDPM: tests/test_howtos.py appends the how-to's after it
        PDPM,
    )
}

__all__ = ["REGISTRY", "Claims", "ContractParams", "Panel", "PaymentModel", "Settlement"]
