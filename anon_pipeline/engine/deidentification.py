"""The attributes that declare what de-identification was applied (PS3.15 §E.1.1, PS3.3 C.7.1.1)."""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.sr.codedict import codes

from anon_pipeline import __version__
from anon_pipeline.engine.rules import Action, RuleSet


def mark_deidentified(dataset: Dataset, rule_set: RuleSet) -> None:
    """Set PatientIdentityRemoved, DeidentificationMethod(+CodeSequence) from the rule set."""
    dataset.PatientIdentityRemoved = "YES"
    # LO holds 64 characters: name the tool and the rule-set version, nothing else.
    dataset.DeidentificationMethod = (
        f"anon_pipeline {__version__} {rule_set.name} {rule_set.version}"
    )
    items = []
    for option in rule_set.options:
        code = getattr(codes.cid7050, option)
        item = Dataset()
        item.CodeValue = code.value
        item.CodingSchemeDesignator = code.scheme_designator
        item.CodeMeaning = code.meaning
        items.append(item)
    dataset.DeidentificationMethodCodeSequence = Sequence(items)
    if any(rule.action is Action.SHIFT_DATE for rule in rule_set.by_keyword.values()):
        dataset.LongitudinalTemporalInformationModified = "MODIFIED"
