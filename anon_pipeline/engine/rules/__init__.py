"""The rules and their actions: rule files and their validation (`rule_set`), applying
a rule set to a dataset (`transform`), keyed UIDs and pseudonyms, date shifts, the holds,
and the de-identification marks. Imports only `dicom`."""

from anon_pipeline.engine.rules.rule_set import (
    DECIDABLE,
    SHIPPED_RULES_DIR,
    RuleError,
    RuleSet,
    load_rule_set,
    load_shipped_rule_set,
)

__all__ = [
    "DECIDABLE",
    "SHIPPED_RULES_DIR",
    "RuleError",
    "RuleSet",
    "load_rule_set",
    "load_shipped_rule_set",
]
