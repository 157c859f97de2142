"""Every public module, function and class of the package has a docstring."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SIM = Path(__file__).resolve().parent.parent / "sim"

#: modules being rewritten elsewhere (the month pipeline): their docstrings are added there;
#: each entry names what was missing when this test was written (no new gaps are allowed)
PENDING: dict[str, set[str]] = {
    "population.py": {"Population.members_by"},
    "payment/base.py": {"PaymentModel.describe"},
    "payment/blended.py": {"BlendedParams", "Blended", "Blended.marginal_revenue",
                           "Blended.settle"},
    "payment/bundled.py": {"BundledParams", "Bundled", "Bundled.marginal_revenue",
                           "Bundled.expected_allowed", "Bundled.settle"},
    "payment/capitation.py": {"CapitationParams", "Capitation", "Capitation.marginal_revenue",
                              "Capitation.settle"},
    "payment/casemix.py": {"CaseMixParams", "CaseMix.weight"},
    "payment/episode.py": {"EpisodeParams", "EpisodeBundle", "EpisodeBundle.downside_share",
                           "EpisodeBundle.marginal_revenue", "EpisodeBundle.expected_allowed",
                           "EpisodeBundle.stay_payment", "EpisodeBundle.reconcile_pathway",
                           "EpisodeBundle.settle"},
    "payment/ffs.py": {"FFSParams", "FeeForService", "FeeForService.marginal_revenue",
                       "FeeForService.settle"},
    "payment/home_health.py": {"HomeHealthParams", "LegacyParams", "HomeHealthLegacy",
                               "HomeHealthLegacy.marginal_revenue", "HomeHealthLegacy.thresholds",
                               "HomeHealthLegacy.expected_allowed", "HomeHealthLegacy.settle",
                               "PDGMParams", "PDGM", "PDGM.marginal_revenue", "PDGM.thresholds",
                               "PDGM.period_price", "PDGM.expected_allowed", "PDGM.settle"},
    "payment/snf.py": {"SkilledNursing.expected_allowed", "SkilledNursing.settle",
                       "LegacyParams", "SNFLegacy.stay_month", "PDPMParams",
                       "PDPM.stay_month"},
    "scenario.py": {"RegionConfig", "ConditionConfig", "PopulationConfig", "PayerConfig",
                    "AdverseEventConfig", "DistributionConfig.mean", "ProvidersConfig",
                    "ProvidersConfig.resolved_count", "SettingConfig", "BehaviourConfig",
                    "ContractConfig.params", "ArmConfig", "OutputsConfig", "Scenario",
                    "Scenario.arm", "validate_scenario"},
}  # fmt: skip


def undocumented(path: Path) -> set[str]:
    """Public functions, methods and classes of a module without a docstring."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set() if ast.get_docstring(tree) else {"<module>"}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if child.name.startswith("_"):
                    continue
                if not ast.get_docstring(child):
                    out.add(prefix + child.name)
                if isinstance(child, ast.ClassDef):
                    visit(child, prefix + child.name + ".")

    visit(tree, "")
    return out


@pytest.mark.parametrize(
    "path", sorted(SIM.rglob("*.py")), ids=lambda p: p.relative_to(SIM).as_posix()
)
def test_public_names_have_docstrings(path):
    """No public name lacks a docstring, beyond the pending list of modules under rewrite."""
    rel = path.relative_to(SIM).as_posix()
    missing = undocumented(path)
    pending = PENDING.get(rel, set())
    assert missing <= pending, f"add docstrings: {sorted(missing - pending)}"
