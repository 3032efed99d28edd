"""The attributes that declare what de-identification was applied (PS3.15 §E.1.1, PS3.3 C.7.1.1)."""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.sr.codedict import codes

from anon_pipeline import __version__
from anon_pipeline.engine.rules.rule_set import Action, RuleSet

TOOL_MARK = "anon_pipeline "


def mark_deidentified(dataset: Dataset, rule_set: RuleSet, complete: bool = True) -> None:
    """Set PatientIdentityRemoved, DeidentificationMethod(+CodeSequence) from the rule set.
    Stage 1 (`complete=False`) sets only DeidentificationMethod: the file is not yet
    de-identified, but a later stage 1 must know it was blacklisted (`processed_before`)."""
    # LO holds 64 characters: name the tool and the rule-set version, nothing else.
    dataset.DeidentificationMethod = f"{TOOL_MARK}{__version__} {rule_set.name} {rule_set.version}"
    if not complete:
        return
    dataset.PatientIdentityRemoved = "YES"
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


def processed_before(dataset: Dataset) -> bool:
    """Whether this tool already processed the file (its stage 1, or a released file):
    blacklisting it again would pseudonymise its pseudonyms and shift its dates twice."""
    method = dataset.get("DeidentificationMethod")
    values = [method] if isinstance(method, str) else list(method or [])
    return any(str(value).startswith(TOOL_MARK) for value in values)
