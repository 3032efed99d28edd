"""The one decision table: what a rule set does to an element of a given tag and VR.

Both walks ask it: the pydicom walk over a Dataset (`transform.RuleWalk`) and the
byte-level streaming walk over element offsets (`files.streaming.walk`), which memoises
the answer per tag and VR. They differ only in how they carry a decision out: the
dataset-level actions are `RuleWalk`'s; the byte-level fast ones (a kept element copied
as a slice, a plain UID hashed, an unlisted value removed without conversion) are the
streaming walk's, and a differential test holds both to the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

from anon_pipeline.engine.rules.rule_set import Action, Rule, RuleSet


class Decision(Enum):
    """What happens to one element, in the order the table tests."""

    REMOVE_PRIVATE = "remove private"  # the rule set removes private attributes
    WALK_PRIVATE_SEQUENCE = "walk private sequence"  # kept private: its items walked
    KEEP_PRIVATE = "keep private"  # kept private leaf (a rule set that keeps them)
    DROP_GROUP_LENGTH = "drop group length"  # retired (PS3.5 §7.2): would be stale
    KEEP = "keep"  # a leaf kept as it is (its value checked)
    WALK_SEQUENCE = "walk sequence"  # a kept sequence, or an unlisted one recursed into
    APPLY = "apply rule"  # the rule's action changes or removes the element
    QUEUE_UNLISTED = "queue unlisted"  # no rule: removed and queued for a reviewer
    REMOVE_UNLISTED_SEQUENCE = "remove unlisted sequence"  # no rule, no review: removed


def decide(rule_set: RuleSet, tag: int, rule: Rule | None, vr_of: Callable[[], str]) -> Decision:
    """The decision for an element; `rule` is the rule set's for the tag (None for
    private tags and group lengths), `vr_of` gives its VR, asked only when it matters
    (a caller may have to convert the element to know it)."""
    if tag >> 16 & 1:
        if rule_set.removes_private:
            return Decision.REMOVE_PRIVATE
        return Decision.WALK_PRIVATE_SEQUENCE if vr_of() == "SQ" else Decision.KEEP_PRIVATE
    if tag & 0xFFFF == 0:
        return Decision.DROP_GROUP_LENGTH
    if rule is None:
        if vr_of() == "SQ":
            if rule_set.recurses_unlisted_sequences:
                return Decision.WALK_SEQUENCE
            if not rule_set.reviews_unlisted:
                return Decision.REMOVE_UNLISTED_SEQUENCE
        return Decision.QUEUE_UNLISTED if rule_set.reviews_unlisted else Decision.KEEP
    if rule.action is not Action.KEEP:
        return Decision.APPLY
    return Decision.WALK_SEQUENCE if vr_of() == "SQ" else Decision.KEEP
