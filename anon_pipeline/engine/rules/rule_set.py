"""Rule sets: which action each DICOM attribute gets in a stage.

Rule files are YAML (data, not code) and are validated on load against pydicom's
data dictionary, so a typo or an action that cannot fit the attribute stops the
run before a single file is written. Errors name the file, the line and the entry.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydicom import config as pydicom_config
from pydicom.datadict import (
    REPEATER_KEYWORDS,
    RepeatersDictionary,
    dictionary_has_tag,
    dictionary_VR,
    keyword_for_tag,
    tag_for_keyword,
)
from pydicom.sr.codedict import codes
from pydicom.valuerep import validate_value

from anon_pipeline.engine.dicom.rawparse import tag_of
from anon_pipeline.engine.rules.holds import HOLDS
from anon_pipeline.engine.rules.scope import SOP_CLASS_BY_KEYWORD, scope_uids
from anon_pipeline.engine.rules.value_forms import FORM_VRS, Terms

SHIPPED_RULES_DIR = Path(__file__).resolve().parents[2] / "rules"  # anon_pipeline/rules/
TAG_PATTERN = re.compile(r"^\(([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\)$")
PSEUDONYM_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"})
PROFILE_OPTIONS = frozenset(codes.cid7050.concepts)
ICON_IMAGE_SEQUENCE_TAG = tag_of("IconImageSequence")
# Overlay planes (60xx), curves (50xx, retired) and icon images can draw text, a name
# among it, over or beside the image: every rule set removes them, at any depth, and no
# rule may keep them (PS3.15 Annex E: X for all three).
ALWAYS_REMOVED_WHAT = "overlay, curve or icon image"


class Action(StrEnum):
    KEEP = "keep"  # on a sequence: keep it and apply the same rules inside its items
    REMOVE = "remove"
    EMPTY = "empty"
    REPLACE = "replace"
    HASH_UID = "hash_uid"
    PSEUDONYMIZE = "pseudonymize"
    SHIFT_DATE = "shift_date"


# What a reviewer may decide for an attribute (a replacement value is a rule-file change).
DECIDABLE = tuple(action.value for action in Action if action is not Action.REPLACE)


class RuleError(ValueError):
    """A rule file is invalid; the message names the file, the line and the entry."""


@dataclass(frozen=True)
class Rule:
    """One attribute's action in a rule set."""

    name: str  # the keyword, or (gggg,eeee) for tags without one
    vr: str
    action: Action
    replacement: Any = None
    line: int = 0


@dataclass(frozen=True)
class RuleSet:
    """A validated rule file. `version` is a content hash: equal rules, equal version."""

    name: str
    source: str
    version: str
    removes_private: bool
    reviews_unlisted: bool  # True: unlisted attributes are removed and queued for review
    recurses_unlisted_sequences: bool
    options: tuple[str, ...]
    holds: frozenset[str] = frozenset(HOLDS)  # which kinds of files are held (holds.py)
    # The SOP class UIDs this release is for (`scope.py`); None: every class
    scope: frozenset[str] | None = None
    decisions: tuple[Rule, ...] = ()  # reviewers' decisions layered over the file
    # keyword -> why the rule departs from PS3.15 Table E.1-1 (`profile.py` judges)
    profile_exceptions: Mapping[str, str] = field(default_factory=dict)
    # keyword -> the defined terms its kept values must be (`value_forms.py`)
    value_terms: Mapping[str, Terms] = field(default_factory=dict)
    by_keyword: Mapping[str, Rule] = field(default_factory=dict)
    by_tag: Mapping[int, Rule] = field(default_factory=dict)

    @property
    def checks_kept_values(self) -> bool:
        """A whitelist checks every value it keeps against its form (`value_forms.py`)."""
        return self.reviews_unlisted

    def rule_for(self, tag: int) -> Rule | None:
        """The rule for a (public) tag, matched by keyword first so repeating groups match."""
        if always_removed(tag):
            return ALWAYS_REMOVED
        keyword = cached_keyword(tag)
        if keyword and keyword in self.by_keyword:
            return self.by_keyword[keyword]
        return self.by_tag.get(tag)


ALWAYS_REMOVED = Rule(name=ALWAYS_REMOVED_WHAT, vr="", action=Action.REMOVE)


def always_removed(tag: int) -> bool:
    """Whether `tag` is an overlay or curve element (even groups 60xx and 50xx) or the
    Icon Image Sequence, which no rule may keep."""
    return tag == ICON_IMAGE_SEQUENCE_TAG or (tag >> 16) & 0xFF01 in (0x5000, 0x6000)


@lru_cache(maxsize=8192)
def cached_keyword(tag: int) -> str:
    """The dictionary keyword of a tag ('' when the dictionary has none)."""
    return keyword_for_tag(tag)


def load_shipped_rule_set(name: str) -> RuleSet:
    """Load `anon_pipeline/rules/<name>.yaml`."""
    return load_rule_set(SHIPPED_RULES_DIR / f"{name}.yaml")


def load_rule_set(path: Path | str, reviewed: Path | str | None = None) -> RuleSet:
    """Parse and validate a rule file, with a reviewer's decisions layered over it when
    a reviewed-rules file exists; raise RuleError naming file, line and entry."""
    source, root = compose_yaml(Path(path))
    rule_set = RuleFileParser(source).parse(root)
    if reviewed is not None and Path(reviewed).exists():
        reviewed_source, reviewed_root = compose_yaml(Path(reviewed))
        decisions = RuleFileParser(reviewed_source).parse_decisions(reviewed_root)
        rule_set = layer_decisions(rule_set, decisions, reviewed_source)
    return rule_set


def compose_yaml(path: Path) -> tuple[str, yaml.Node | None]:
    source = path.name if path.parent == SHIPPED_RULES_DIR else str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RuleError(f"{source}: cannot read rule file ({error.strerror})") from None
    try:
        return source, yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise RuleError(f"{source}{where}: not valid YAML ({error})") from None


def layer_decisions(rule_set: RuleSet, decisions: list[Rule], source: str) -> RuleSet:
    """The rule set with reviewed decisions added. A decision may only cover an attribute
    the rule file leaves open: changing a shipped rule is a change to the rule file."""
    by_keyword, by_tag = dict(rule_set.by_keyword), dict(rule_set.by_tag)
    for decision in decisions:
        tag = rule_tag(decision.name)
        existing = rule_set.rule_for(tag) if tag else None
        existing = existing or rule_set.by_keyword.get(decision.name)
        if existing is not None:
            raise RuleError(
                f"{source}:{decision.line}: '{decision.name}' already has a rule in "
                f"{rule_set.source} (line {existing.line}); change it there"
            )
        index_rule(decision, by_keyword, by_tag)
    canonical = json.dumps(
        [rule_set.version, sorted([d.name, d.action.value, d.replacement] for d in decisions)],
        default=str,
    )
    return replace(
        rule_set,
        version=hashlib.sha256(canonical.encode()).hexdigest()[:16],
        by_keyword=by_keyword,
        by_tag=by_tag,
        decisions=tuple(decisions),
    )


def index_rule(rule: Rule, by_keyword: dict[str, Rule], by_tag: dict[int, Rule]) -> None:
    """File a rule under its keyword (repeating groups match by keyword) and its tag."""
    tag = rule_tag(rule.name)
    if not TAG_PATTERN.match(rule.name):
        by_keyword[rule.name] = rule
    if tag is not None:
        by_tag[tag] = rule


def rule_tag(name: str) -> int | None:
    """The tag a rule name stands for (None for repeating-group keywords)."""
    return parse_tag(name) if TAG_PATTERN.match(name) else tag_for_keyword(name)


class RuleFileParser:
    """Walks the YAML node tree (not the loaded dict) so errors carry line numbers
    and duplicate keys, which plain YAML loading would silently merge, are caught."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, node: yaml.Node | None, message: str) -> RuleError:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        return RuleError(f"{self.source}{line}: {message}")

    def mapping(self, node: yaml.Node | None, what: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        entries: list[tuple[str, yaml.Node, yaml.Node]] = []
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                raise self.fail(
                    key_node, f"'{key}' appears twice in {what} (first on line {seen[key]})"
                )
            seen[key] = key_node.start_mark.line + 1
            entries.append((key, key_node, value_node))
        return entries

    def scalar(self, node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, f"{what} must be a single value")
        return str(node.value)

    def parse(self, root: yaml.Node | None) -> RuleSet:
        top = dict(
            (key, (key_node, value)) for key, key_node, value in self.mapping(root, "the file")
        )
        sections = {
            "rule_set",
            "options",
            "defaults",
            "hold",
            "release_scope",
            "profile_exceptions",
            "value_terms",
            "rules",
        }
        unknown = set(top) - sections
        if unknown:
            name = sorted(unknown)[0]
            raise self.fail(
                top[name][0],
                f"unknown section '{name}' (expected {', '.join(sorted(sections))})",
            )
        for required in ("rule_set", "defaults", "rules"):
            if required not in top:
                raise self.fail(root, f"missing section '{required}'")
        name = self.scalar(top["rule_set"][1], "rule_set")
        defaults = self.parse_defaults(top["defaults"][1])
        options = self.parse_options(top["options"][1]) if "options" in top else ()
        holds = self.parse_holds(top["hold"][1]) if "hold" in top else frozenset(HOLDS)
        scope = self.parse_scope(top["release_scope"][1]) if "release_scope" in top else None
        rules = [
            self.parse_rule(key, key_node, value)
            for key, key_node, value in self.mapping(top["rules"][1], "rules")
        ]
        if defaults["unlisted"] == "review" and defaults["private"] != "remove":
            raise self.fail(
                top["defaults"][1], "a whitelist (unlisted: review) must have private: remove"
            )

        by_keyword: dict[str, Rule] = {}
        by_tag: dict[int, Rule] = {}
        for rule in rules:
            tag = rule_tag(rule.name)
            same = by_keyword.get(rule.name) or (by_tag.get(tag) if tag is not None else None)
            if tag is not None and same is None and cached_keyword(tag):
                same = by_keyword.get(cached_keyword(tag))
            if same is not None:
                raise RuleError(
                    f"{self.source}:{rule.line}: '{rule.name}' has a second rule "
                    f"(first on line {same.line} as '{same.name}')"
                )
            index_rule(rule, by_keyword, by_tag)
        exceptions = (
            self.parse_exceptions(top["profile_exceptions"][1], by_keyword)
            if "profile_exceptions" in top
            else {}
        )
        terms = self.parse_terms(top["value_terms"][1], by_keyword) if "value_terms" in top else {}

        canonical = json.dumps(
            {
                "rule_set": name,
                "defaults": defaults,
                "options": list(options),
                "holds": sorted(holds),
                "release_scope": sorted(scope) if scope is not None else None,
                "rules": sorted([r.name, r.action.value, r.replacement] for r in rules),
                "value_terms": {name: terms[name].canonical() for name in sorted(terms)},
                "always_removed": ALWAYS_REMOVED_WHAT,
            },
            sort_keys=True,
            default=str,
        )
        return RuleSet(
            name=name,
            source=self.source,
            version=hashlib.sha256(canonical.encode()).hexdigest()[:16],
            removes_private=defaults["private"] == "remove",
            reviews_unlisted=defaults["unlisted"] == "review",
            recurses_unlisted_sequences=defaults["sequence"] == "recurse",
            options=options,
            holds=holds,
            scope=scope,
            profile_exceptions=exceptions,
            value_terms=terms,
            by_keyword=by_keyword,
            by_tag=by_tag,
        )

    def parse_defaults(self, node: yaml.Node) -> dict[str, str]:
        allowed = {
            "private": {"keep", "remove"},
            "unlisted": {"keep", "review"},
            "sequence": {"recurse", "remove"},
        }
        values: dict[str, str] = {}
        for key, key_node, value_node in self.mapping(node, "defaults"):
            if key not in allowed:
                raise self.fail(
                    key_node, f"unknown default '{key}' (expected {', '.join(allowed)})"
                )
            value = self.scalar(value_node, f"defaults.{key}")
            if value not in allowed[key]:
                raise self.fail(
                    value_node,
                    f"defaults.{key} must be one of {sorted(allowed[key])}, not '{value}'",
                )
            values[key] = value
        missing = set(allowed) - set(values)
        if missing:
            raise self.fail(node, f"defaults must set {', '.join(sorted(missing))}")
        return values

    def parse_decisions(self, root: yaml.Node | None) -> list[Rule]:
        """decisions: {KEYWORD: {action: ..., reviewer: ..., decided_at: ..., note: ...}}"""
        top = {key: value for key, _, value in self.mapping(root, "the file")}
        if "decisions" not in top:
            raise self.fail(root, "missing section 'decisions'")
        decisions = []
        for name, key_node, value_node in self.mapping(top["decisions"], "decisions"):
            fields = {
                key: (key_node_, value) for key, key_node_, value in self.mapping(value_node, name)
            }
            for required in ("action", "reviewer", "decided_at"):
                if required not in fields:
                    raise self.fail(value_node, f"'{name}': a decision needs '{required}'")
            decisions.append(self.parse_rule(name, key_node, fields["action"][1]))
        return decisions

    def parse_holds(self, node: yaml.Node) -> frozenset[str]:
        """hold: {burned_in_annotation: true, secondary_capture: true, non_image_objects: true};
        a hold left out stays on: releasing such files must be a decision, not an omission."""
        enabled = set(HOLDS)
        for key, key_node, value_node in self.mapping(node, "hold"):
            if key not in HOLDS:
                raise self.fail(key_node, f"unknown hold '{key}' (expected {', '.join(HOLDS)})")
            value = self.scalar(value_node, f"hold.{key}").lower()
            if value not in ("true", "false"):
                raise self.fail(value_node, f"hold.{key} must be true or false, not '{value}'")
            if value == "false":
                enabled.discard(key)
        return frozenset(enabled)

    def parse_scope(self, node: yaml.Node) -> frozenset[str]:
        """release_scope: [CTImageStorage, ...]: SOP class keywords of pydicom's dictionary."""
        if isinstance(node, yaml.SequenceNode) and not node.value:
            raise self.fail(node, "release_scope must name at least one SOP class")
        keywords = self.keyword_list(
            node, "release_scope", "a SOP class keyword", SOP_CLASS_BY_KEYWORD.keys()
        )
        return scope_uids(keywords)

    def parse_exceptions(self, node: yaml.Node, by_keyword: Mapping[str, Rule]) -> dict[str, str]:
        """profile_exceptions: {Keyword: why the rule departs from PS3.15 Table E.1-1}."""
        exceptions = {}
        for name, key_node, value_node in self.mapping(node, "profile_exceptions"):
            if name not in by_keyword:
                raise self.fail(key_node, f"profile_exceptions: '{name}' has no rule in this file")
            reason = self.scalar(value_node, f"the reason for '{name}'").strip()
            if not reason:
                raise self.fail(value_node, f"profile_exceptions: '{name}' needs its reason")
            exceptions[name] = reason
        return exceptions

    def parse_terms(self, node: yaml.Node, by_keyword: Mapping[str, Rule]) -> dict[str, Terms]:
        """value_terms: {Keyword: [terms]} for every value, or {Keyword: {1: [terms], ...}}
        by value position; only for attributes this file keeps, each term of the VR's form."""
        terms = {}
        for name, key_node, value_node in self.mapping(node, "value_terms"):
            rule = by_keyword.get(name)
            if rule is None or rule.action is not Action.KEEP or rule.vr not in FORM_VRS:
                raise self.fail(
                    key_node, f"value_terms: '{name}' is not a text attribute this file keeps"
                )
            if isinstance(value_node, yaml.MappingNode):
                positions = []
                for position, position_node, list_node in self.mapping(value_node, name):
                    if not position.isdigit() or int(position) < 1:
                        raise self.fail(position_node, f"'{name}': {position} is not a position")
                    positions.append((int(position), self.term_list(name, rule.vr, list_node)))
                terms[name] = Terms(None, tuple(sorted(positions)))
            else:
                terms[name] = Terms(self.term_list(name, rule.vr, value_node))
        return terms

    def term_list(self, name: str, vr: str, node: yaml.Node) -> frozenset[str]:
        words = self.keyword_list(node, f"value_terms.{name}", f"a value of VR {vr}", None)
        for word, item in zip(words, node.value, strict=True):
            try:
                validate_value(vr, word, pydicom_config.RAISE)
            except ValueError:
                raise self.fail(item, f"'{name}': '{word}' is not of VR {vr}'s form") from None
        return frozenset(words)

    def parse_options(self, node: yaml.Node) -> tuple[str, ...]:
        return self.keyword_list(
            node, "options", "a PS3.15 CID 7050 de-identification option", PROFILE_OPTIONS
        )

    def keyword_list(
        self, node: yaml.Node, section: str, what: str, known: Iterable[str] | None
    ) -> tuple[str, ...]:
        """A YAML list of keywords, each one of `known` (None: any); errors name the line."""
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{section} must be a list, each entry {what}")
        allowed, keywords = None if known is None else set(known), []
        for item in node.value:
            keyword = self.scalar(item, what)
            if allowed is not None and keyword not in allowed:
                raise self.fail(item, f"'{keyword}' is not {what}")
            keywords.append(keyword)
        return tuple(keywords)

    def parse_rule(self, name: str, key_node: yaml.Node, value_node: yaml.Node) -> Rule:
        line = key_node.start_mark.line + 1
        vr = self.dictionary_vr(name, key_node)
        replacement = None
        if isinstance(value_node, yaml.MappingNode):
            entries = self.mapping(value_node, f"the rule for '{name}'")
            if len(entries) != 1 or entries[0][0] != Action.REPLACE:
                raise self.fail(
                    value_node, f"'{name}': a mapping rule must be {{replace: <value>}}"
                )
            action = Action.REPLACE
            replacement = self.replacement(name, vr, entries[0][2])
        else:
            text = self.scalar(value_node, f"the rule for '{name}'")
            try:
                action = Action(text)
            except ValueError:
                choices = ", ".join(a.value for a in Action)
                raise self.fail(
                    value_node, f"'{name}': unknown action '{text}' (expected {choices})"
                ) from None
            if action is Action.REPLACE:
                raise self.fail(value_node, f"'{name}': write replace as {{replace: <value>}}")
        self.check_fits(name, vr, action, key_node)
        return Rule(name=name, vr=vr, action=action, replacement=replacement, line=line)

    def dictionary_vr(self, name: str, node: yaml.Node) -> str:
        match = TAG_PATTERN.match(name)
        if match:
            tag = parse_tag(name)
            if int(match.group(1), 16) % 2 == 1:
                raise self.fail(
                    node,
                    f"'{name}' is private; private attributes follow defaults.private",
                )
            if tag & 0xFFFF == 0:
                raise self.fail(node, f"'{name}' is a group length; those are always recomputed")
            if always_removed(tag):
                raise self.always_removed_error(name, node)
            return dictionary_VR(tag) if dictionary_has_tag(tag) else "UN"
        if name in REPEATER_KEYWORDS:
            mask, entry = next(
                (mask, entry) for mask, entry in RepeatersDictionary.items() if entry[4] == name
            )
            if always_removed(int(mask.replace("x", "0"), 16)):
                raise self.always_removed_error(name, node)
            return entry[0]
        keyword_tag = tag_for_keyword(name)
        if keyword_tag is None:
            raise self.fail(node, f"'{name}' is not a DICOM keyword in pydicom's data dictionary")
        tag = keyword_tag
        if always_removed(tag):
            raise self.always_removed_error(name, node)
        if tag >> 16 == 0x0002:
            raise self.fail(node, f"'{name}' is file meta information, which the engine rebuilds")
        return dictionary_VR(tag)

    def always_removed_error(self, name: str, node: yaml.Node) -> RuleError:
        return self.fail(
            node,
            f"'{name}': overlays (60xx), curves (50xx) and icon images are always removed, "
            "since they can draw text (a name among it) over the image; no rule may name them",
        )

    def check_fits(self, name: str, vr: str, action: Action, node: yaml.Node) -> None:
        needs = {
            Action.HASH_UID: {"UI"},
            Action.SHIFT_DATE: {"DA", "DT"},
            Action.PSEUDONYMIZE: PSEUDONYM_VRS,
        }.get(action)
        if needs is not None and vr not in needs:
            raise self.fail(
                node,
                f"'{name}': action '{action}' needs VR {'/'.join(sorted(needs))}, {name} is {vr}",
            )
        if action is Action.REPLACE and vr == "SQ":
            raise self.fail(
                node, f"'{name}': a sequence cannot be replaced by a value; use empty or remove"
            )

    def replacement(self, name: str, vr: str, node: yaml.Node) -> Any:
        text = self.scalar(node, f"the replacement for '{name}'")
        value: Any = text
        try:
            if vr in {"US", "SS", "UL", "SL", "UV", "SV", "US or SS"}:
                value = int(text)
            elif vr in {"FL", "FD"}:
                value = float(text)
            validate_value(vr.split(" or ")[0], value, pydicom_config.RAISE)
        except ValueError as error:
            raise self.fail(node, f"'{name}': replacement does not fit VR {vr} ({error})") from None
        return value


def parse_tag(text: str) -> int:
    """'(0008,0080)' -> 0x00080080."""
    match = TAG_PATTERN.match(text)
    if match is None:
        raise ValueError(f"not a tag: {text}")
    return int(match.group(1) + match.group(2), 16)
