"""Apply a rule set to one dataset, at every depth, in place.

What to do with each element is `plan.decide`'s (the table the streaming walk asks
too); how to do it to a Dataset is this walk's. What it reports (UID pairs,
attributes queued for review, dates that could not be shifted) is the complete record
of what a stage did to a file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache, partial

from pydicom.datadict import dictionary_has_tag, dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag

from anon_pipeline.engine.dicom.dicomfile import check_raw_value
from anon_pipeline.engine.dicom.identifiers import MIN_IDENTIFIER_LENGTH
from anon_pipeline.engine.rules.plan import Decision, decide
from anon_pipeline.engine.rules.pseudonyms import date_offset_days, pseudonymize, shift_da, shift_dt
from anon_pipeline.engine.rules.rule_set import Action, Rule, RuleSet, cached_keyword
from anon_pipeline.engine.rules.uids import hash_uid
from anon_pipeline.engine.rules.value_forms import FORM_VRS, element_text, refusal

SAMPLE_LENGTH = 64
TEXT_VRS = frozenset(
    {
        "AE",
        "AS",
        "CS",
        "DA",
        "DS",
        "DT",
        "IS",
        "LO",
        "LT",
        "PN",
        "SH",
        "ST",
        "TM",
        "UC",
        "UI",
        "UR",
        "UT",
    }
)
# Shifted dates are left out: in a large batch one patient's shifted date can equal
# another's original, which would make the leak check cry wolf.
CHANGES_VALUE = frozenset({Action.REMOVE, Action.EMPTY, Action.REPLACE, Action.PSEUDONYMIZE})
WALKED = frozenset({Decision.WALK_SEQUENCE, Decision.WALK_PRIVATE_SEQUENCE})
VRS_FOR_ACTION = {
    Action.HASH_UID: frozenset({"UI"}),
    Action.SHIFT_DATE: frozenset({"DA", "DT"}),
    Action.PSEUDONYMIZE: frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"}),
}


NO_RULE = "no rule"
REFUSED_ACTION = "remove refused value"


@dataclass(frozen=True)
class UnlistedAttribute:
    """An attribute a whitelist removed and queued for review: no rule names it, or the
    value it kept is not of the attribute's form (`reason`)."""

    tag: str  # (gggg,eeee)
    keyword: str
    vr: str
    path: str  # keyword path from the top, e.g. RequestAttributesSequence>ContrastBolusAgent
    sample: str | None  # a value, for the secure review queue only
    reason: str = NO_RULE  # or why a kept value was refused (`value_forms.refusal`)


@dataclass
class TransformLog:
    """What applying a rule set to one file did; holds PHI (samples, original UIDs)."""

    uid_pairs: dict[str, str] = field(default_factory=dict)
    unlisted: list[UnlistedAttribute] = field(default_factory=list)
    # (keyword, original value) of text that a rule removed or replaced: the values
    # the leak checks later search for in every output.
    identifiers: set[tuple[str, str]] = field(default_factory=set)
    actions: Counter[str] = field(default_factory=Counter)


def apply_rules(dataset: Dataset, rule_set: RuleSet, key: bytes) -> TransformLog:
    """Transform `dataset` in place with `rule_set`; dates shift by the patient's offset."""
    patient_reference = str(dataset.get("PatientID", "") or "")
    walk = RuleWalk(rule_set, key, date_offset_days(patient_reference, key))
    walk.transform(dataset, path="")
    return walk.log


@lru_cache(maxsize=16384)
def format_tag(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def sample_of(element: DataElement) -> str | None:
    if element.VR not in TEXT_VRS or element.value is None:
        return None
    return str(element.value)[:SAMPLE_LENGTH]


class RuleWalk:
    """One recursive pass over a dataset with one rule set."""

    def __init__(self, rule_set: RuleSet, key: bytes, date_offset: int) -> None:
        self.rule_set = rule_set
        self.key = key
        self.date_offset = date_offset
        self.log = TransformLog()

    def transform(self, dataset: Dataset, path: str) -> None:
        # Elements a rule keeps are never converted from their raw bytes: pydicom
        # writes raw elements back byte for byte, which keeps untouched values
        # exactly as they were and makes the walk cheap (most elements are kept).
        rule_set = self.rule_set
        for tag in list(dataset.keys()):
            rule = None if tag.is_private or tag.element == 0 else rule_set.rule_for(tag)
            decision = decide(rule_set, tag, rule, partial(self.vr_of, dataset, tag))
            if decision is Decision.KEEP:
                self.check_kept(dataset, tag, path)
            elif decision is Decision.APPLY and rule is not None:
                self.apply(dataset, dataset[tag], rule, path)
            elif decision in WALKED:
                self.transform_items(dataset[tag], path)
            elif decision is Decision.REMOVE_PRIVATE:
                del dataset[tag]
                self.log.actions["remove private"] += 1
            elif decision is Decision.DROP_GROUP_LENGTH:
                del dataset[tag]
            elif decision is not Decision.KEEP_PRIVATE:  # unlisted: queued, or removed
                self.remove_unlisted(dataset, tag, path, decision)

    def check_kept(self, dataset: Dataset, tag: BaseTag, path: str) -> None:
        """A kept value: bytes its VR cannot hold fail the file; a value not of its
        attribute's form is removed and queued (a whitelist's, `value_forms.refusal`)."""
        element, vr = dataset.get_item(tag), self.vr_of(dataset, tag)
        check_raw_value(tag, element, vr)
        if not self.rule_set.checks_kept_values or vr not in FORM_VRS:
            return
        name = cached_keyword(tag) or format_tag(tag)
        text = element_text(element.value, vr, dataset._character_set)
        reason = refusal(name, vr, text, self.rule_set.value_terms.get(name))
        if reason is not None:
            self.refuse(dataset, tag, path, reason)

    def refuse(self, dataset: Dataset, tag: BaseTag, path: str, reason: str) -> None:
        element = dataset[tag]
        keyword = cached_keyword(tag)
        name = keyword or format_tag(tag)
        self.log.unlisted.append(
            UnlistedAttribute(
                format_tag(tag), keyword, element.VR, path + name, sample_of(element), reason
            )
        )
        self.log.actions[REFUSED_ACTION] += 1
        del dataset[tag]

    @staticmethod
    def vr_of(dataset: Dataset, tag: BaseTag) -> str:
        """The element's VR without converting its value where the file or the
        dictionary already says it (implicit VR files carry no VR of their own)."""
        element = dataset.get_item(tag)
        if element.VR:
            return element.VR
        if dictionary_has_tag(tag):
            return dictionary_VR(tag)
        return dataset[tag].VR

    def transform_items(self, sequence: DataElement, path: str) -> None:
        keyword = cached_keyword(sequence.tag) or format_tag(sequence.tag)
        for item in sequence.value:
            self.transform(item, f"{path}{keyword}>")

    def apply_default(self, dataset: Dataset, tag: BaseTag, path: str) -> None:
        """An element no rule names, as the decision table says (the streaming walk
        hands single elements here)."""
        decision = decide(self.rule_set, tag, None, lambda: self.vr_of(dataset, tag))
        if decision is Decision.WALK_SEQUENCE:
            self.transform_items(dataset[tag], path)
        elif decision is Decision.KEEP:
            check_raw_value(tag, dataset.get_item(tag), self.vr_of(dataset, tag))
        else:
            self.remove_unlisted(dataset, tag, path, decision)

    def remove_unlisted(
        self, dataset: Dataset, tag: BaseTag, path: str, decision: Decision
    ) -> None:
        """Remove an element no rule names: queued for a reviewer (QUEUE_UNLISTED, with a
        sample for the secure queue), or a sequence removed unreviewed."""
        if decision is Decision.QUEUE_UNLISTED:
            element = dataset[tag]
            keyword = cached_keyword(tag)
            self.log.unlisted.append(
                UnlistedAttribute(
                    tag=format_tag(tag),
                    keyword=keyword,
                    vr=element.VR,
                    path=path + (keyword or format_tag(tag)),
                    sample=sample_of(element),
                )
            )
            self.log.actions["remove unlisted"] += 1
        else:
            self.log.actions["remove unlisted sequence"] += 1
        del dataset[tag]

    def apply(self, dataset: Dataset, element: DataElement, rule: Rule, path: str) -> None:
        action = rule.action
        allowed = VRS_FOR_ACTION.get(action)
        if allowed is not None and element.VR not in allowed:
            # The file encodes the attribute with another VR than the dictionary's
            # (e.g. UN): the action cannot be applied safely, so the value goes.
            del dataset[element.tag]
            self.log.actions[f"{rule.name}: removed (VR {element.VR} does not fit {action})"] += 1
            return
        if action is Action.KEEP:
            if element.VR == "SQ":
                self.transform_items(element, path)
            return
        self.log.actions[f"{rule.name}: {action}"] += 1
        if action in CHANGES_VALUE and element.VR in TEXT_VRS and element.VR != "UI":
            self.record_identifier(rule.name, element)
        if action is Action.REMOVE:
            del dataset[element.tag]
        elif action is Action.SHIFT_DATE:
            shift = shift_da if element.VR == "DA" else shift_dt
            shifted = self.map_values(element.value, lambda v: shift(str(v), self.date_offset))
            if shifted is None:  # emptied, not removed: dates are Type 2 in their modules
                element.value = element.empty_value
                self.log.actions[f"{rule.name}: emptied (not a shiftable date)"] += 1
            else:
                element.value = shifted
        else:
            element.value = self.changed_value(element, rule)

    def changed_value(self, element: DataElement, rule: Rule) -> object:
        """The value an EMPTY, REPLACE, HASH_UID or PSEUDONYMIZE rule gives the element."""
        action = rule.action
        if action is Action.EMPTY:
            return element.empty_value
        if action is Action.REPLACE:
            return rule.replacement
        if action is Action.HASH_UID:
            return self.map_values(element.value, self.hash_uid)
        if action is Action.PSEUDONYMIZE:
            return self.map_values(element.value, lambda v: pseudonymize(str(v), self.key))
        raise ValueError(f"{rule.name}: no value for action {action}")

    def record_identifier(self, name: str, element: DataElement) -> None:
        value = element.value
        values = value if isinstance(value, MultiValue | list) else [value]
        for item in values:
            text = str(item).strip() if item is not None else ""
            if len(text) >= MIN_IDENTIFIER_LENGTH:
                self.log.identifiers.add((name, text))

    def hash_uid(self, uid: object) -> str:
        original = str(uid)
        hashed = hash_uid(original, self.key)
        if hashed != original:
            self.log.uid_pairs[original.strip().rstrip("\0")] = hashed
        return hashed

    @staticmethod
    def map_values(value: object, function: Callable[[object], str | None]) -> object:
        """Apply `function` to each value of a possibly multi-valued element; an empty
        value stays empty; None from `function` means the whole element must go."""
        if value is None or value == "":
            return value
        values = list(value) if isinstance(value, MultiValue | list) else [value]
        mapped = [function(item) if str(item) != "" else item for item in values]
        if any(item is None for item in mapped):
            return None
        return mapped if len(mapped) > 1 else mapped[0]
