"""The element walk: what happens to each element (its plan), kept elements copied as
slices, changed ones through the rule walk and pydicom, sequences item by item, and
whole runs of top-level elements replayed.
"""

from __future__ import annotations

import struct
from typing import Any

from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

from anon_pipeline.engine.dicom.dicomfile import (
    check_raw_bytes,
    content_hash,
)
from anon_pipeline.engine.dicom.rawparse import (
    LONG_VRS,
    PIXEL_REPRESENTATION_TAG,
    PIXEL_TAGS,
    RUN_MAX_BYTES,
    UNDEFINED_LENGTH,
    Element,
    Part10,
    Span,
    Unsupported,
)
from anon_pipeline.engine.files.inventory import MAX_VALUE_LENGTH, value_text
from anon_pipeline.engine.files.streaming.encoding import (
    ITEM_DELIMITER,
    SEQUENCE_DELIMITER,
    SEQUENCE_VR,
    encode_element,
    item_header,
)
from anon_pipeline.engine.files.streaming.facts import (
    CHARSET_TAG,
    CHECKED_VRS,
    META_SOURCE_TAGS,
    convert,
    encodings_for,
    plain_uid,
    plain_value_text,
    raw_element,
)
from anon_pipeline.engine.files.streaming.memo import (
    CHANGE,
    CHARSET,
    KEEP,
    PRIVATE,
    SEQUENCE,
    SKIP,
    Effect,
    Entry,
    InventoryRow,
    Memo,
    Plan,
    Previous,
    Replay,
    TopEntry,
    add_to_log,
    merged_log,
)
from anon_pipeline.engine.rules.plan import Decision, decide
from anon_pipeline.engine.rules.rule_set import Action, Rule, cached_keyword
from anon_pipeline.engine.rules.transform import (
    REFUSED_ACTION,
    SAMPLE_LENGTH,
    TEXT_VRS,
    RuleWalk,
    TransformLog,
    UnlistedAttribute,
    format_tag,
    sample_of,
)
from anon_pipeline.engine.rules.uids import hash_uid
from anon_pipeline.engine.rules.value_forms import FORM_VRS, element_text, refusal


class StreamWalk:
    """The rule walk over element offsets instead of a Dataset, asking the same decision
    table (`plan.decide`) as `transform.RuleWalk`; with the rule set and key of the
    worker's memo."""

    def __init__(
        self,
        part: Part10,
        data: bytes,
        memo: Memo,
        charset: bytes | None,
        date_offset: int,
        whitelist: bool,
    ) -> None:
        self.part, self.data, self.view = part, data, memoryview(data)
        self.rule_set, self.key, self.memo = memo.rule_set, memo.key, memo
        self.charset_key = charset
        self.encodings = encodings_for(charset)
        self.date_offset = date_offset
        self.whitelist = whitelist
        self.log = TransformLog()
        self.kept_pixels: dict[int, str] = {}
        self.output_pixels: set[int] = set()  # pixel data elements the output holds
        self.context = (charset, date_offset, part.implicit, whitelist)
        # Implicit files: ambiguous VRs follow PixelRepresentation, from anywhere in the file.
        representation = part.by_tag.get(PIXEL_REPRESENTATION_TAG) if part.implicit else None
        self.run_context = (*self.context, representation and part.value(data, representation))
        self.entries_at: list[TopEntry | None] = []  # by span index, for `Previous`
        self.logged_at: list[Replay | None] = []

    def top_level(self, previous: Previous | None) -> list[TopEntry]:
        """`dataset` for the top level. A run of elements with the bytes of the previous
        file's (`Part10.runs`), in the same context, gives what it gave there; any other
        element is `replayed` or walked."""
        entries: list[TopEntry] = []
        spans, run_logs = self.part.spans, self.memo.run_logs
        done = 0
        if previous is not None and previous.context == self.run_context:
            for first, template_first, count in self.part.runs:
                self.replayed(spans[done:first], entries)
                taken = previous.entries[template_first : template_first + count]
                self.entries_at += taken
                entries += filter(None, taken)
                logged = previous.logged[template_first : template_first + count]
                self.logged_at += logged
                replays = tuple(filter(None, logged))
                if replays:
                    run_log = run_logs.get(replays)
                    if run_log is None:
                        run_log = run_logs[replays] = merged_log(replays)
                    self.add_replay(run_log)
                done = first + count
        self.replayed(spans[done:], entries)
        return entries

    def replayed(self, spans: list[Span], entries: list[TopEntry]) -> None:
        """Add the output entries of `spans` to `entries`: an element whose bytes (and
        the file's context) were met before is replayed instead of walked, since the
        slices of a series share most of their elements. Pixel data and large elements
        are always walked."""
        append, entries_at, logged_at = entries.append, self.entries_at, self.logged_at
        part, data = self.part, self.data
        replays = self.memo.replays.setdefault(self.context, {})
        for span in spans:
            tag, vr, start, _, end, _ = span
            size = end - start
            if tag in PIXEL_TAGS or size > RUN_MAX_BYTES:  # walked anew in every file
                walked = None
                for entry in self.dataset([part.element(data, span)], "", "", "", top_level=True):
                    chunk = entry.chunks[0] if len(entry.chunks) == 1 else b"".join(entry.chunks)
                    walked = (tag, chunk, entry.rows, entry.value)
                    append(walked)
                    if tag in PIXEL_TAGS:
                        self.output_pixels.add(tag)
                entries_at.append(walked)
                logged_at.append(None)  # never part of a run
                continue
            raw = data[start:end]
            replay_key = (vr, raw) if part.implicit else raw  # implicit: the resolved VR
            replay = replays.get(replay_key)
            if replay is None:
                replay = self.recorded(part.element(data, span), raw)
                replays[replay_key] = replay
                self.memo.replay_entries += 1
                self.memo.replay_bytes += size + len(replay.output or b"")
            elif replay.logs:
                self.add_replay(replay)
            logged_at.append(replay if replay.logs else None)
            if replay.removed:
                entries_at.append(None)
                continue
            output = replay.output
            top_entry = (tag, raw if output is None else output, replay.rows, replay.value)
            append(top_entry)
            entries_at.append(top_entry)

    def add_replay(self, replay: Replay) -> None:
        if replay.uid_pairs or replay.identifiers or replay.unlisted:
            add_to_log(self.log, replay)
        else:
            actions = self.log.actions
            for action, count in replay.actions:
                actions[action] += count

    def recorded(self, element: Element, raw: bytes) -> Replay:
        """Walk one top-level element and record what it gave, log entries included."""
        entry = None
        if self.plan(element.tag, element.vr) is KEEP and not self.refusal(element):
            entry = self.kept(element, "", "", top_level=True)
        if entry is not None:  # a kept leaf logs nothing
            return Replay(
                removed=False,
                output=None,
                rows=tuple(entry.rows),
                value=entry.value,
                logs=False,
                uid_pairs=(),
                identifiers=(),
                unlisted=(),
                actions=(),
            )
        outer, self.log = self.log, TransformLog()
        try:
            produced = self.dataset([element], "", "", "", top_level=True)
        finally:
            captured, self.log = self.log, outer
        add_to_log(outer, captured)
        uid_pairs = tuple(captured.uid_pairs.items())
        identifiers = tuple(captured.identifiers)
        unlisted = tuple(captured.unlisted)
        actions = tuple(captured.actions.items())
        logs = bool(uid_pairs or identifiers or unlisted or actions)
        output: bytes | None = None
        rows: tuple = ()
        value: bytes | None = None
        if produced:
            entry = produced[0]
            joined = b"".join(entry.chunks)
            output = None if joined == raw else joined
            rows, value = tuple(entry.rows), entry.value
        return Replay(
            removed=not produced,
            output=output,
            rows=rows,
            value=value,
            logs=logs,
            uid_pairs=uid_pairs,
            identifiers=identifiers,
            unlisted=unlisted,
            actions=actions,
        )

    def rule_for(self, tag: int) -> Rule | None:
        rules = self.memo.rules
        if tag not in rules:
            rules[tag] = self.rule_set.rule_for(tag)
        return rules[tag]

    def plan(self, tag: int, vr: str) -> Plan:
        """How the walk carries out the decision table's answer for elements of this tag
        and VR (`plan.decide`), decided once per worker. (stream_file declines a rule set
        that keeps private attributes, so no private element is kept here.)"""
        plan = self.memo.plans.get((tag, vr))
        if plan is None:
            rule = None if tag >> 16 & 1 or tag & 0xFFFF == 0 else self.rule_for(tag)
            decision = decide(self.rule_set, tag, rule, lambda: vr)
            if tag == CHARSET_TAG:  # kept (stream_file checks), and only at the top level
                plan = CHARSET
            elif decision is Decision.REMOVE_PRIVATE:
                plan = PRIVATE
            elif decision is Decision.DROP_GROUP_LENGTH:
                plan = SKIP
            elif vr == "SQ":
                plan = SEQUENCE
            elif decision is Decision.KEEP:
                plan = KEEP
            else:
                plan = CHANGE
            self.memo.plans[(tag, vr)] = plan
        return plan

    def dataset(
        self,
        elements: list[Element],
        path: str,
        tag_prefix: str,
        keyword_prefix: str,
        top_level: bool = False,
    ) -> list[Entry]:
        entries = []
        plans = self.memo.plans
        for element in elements:
            tag = element.tag
            plan = plans.get((tag, element.vr)) or self.plan(tag, element.vr)
            if plan is KEEP or plan is CHARSET:
                if plan is CHARSET and not top_level:
                    raise Unsupported("character set inside a sequence item")
                kept = self.kept(element, tag_prefix, keyword_prefix, top_level)
                if kept is not None:  # None: a value refused for its form
                    entries.append(kept)
                continue
            if top_level and element.vr in CHECKED_VRS:  # every top-level value, as pydicom's path
                self.check(element)
            if plan is PRIVATE:
                self.log.actions["remove private"] += 1
                continue
            if plan is SKIP:
                continue
            rule = self.rule_for(tag)
            if plan is SEQUENCE:
                entry = self.sequence(element, rule, path, tag_prefix, keyword_prefix)
            else:
                entry = self.changed(element, rule, path, tag_prefix, keyword_prefix)
            if entry is not None:
                entries.append(entry)
        return entries

    def check(self, element: Element) -> None:
        check_raw_bytes(element.tag, self.data[element.value_start : element.value_end], element.vr)

    def kept(
        self, element: Element, tag_prefix: str, keyword_prefix: str, top_level: bool
    ) -> Entry | None:
        """An element copied as it is: its header and value as one slice of the input.
        A value seen before (same tag, VR, bytes, character set) was checked then, and
        its inventory text is known. None: a value not of its attribute's form, removed
        and queued as `RuleWalk.check_kept` does."""
        tag, vr = element.tag, element.vr
        value = known = None
        if vr in CHECKED_VRS:
            value = self.data[element.value_start : element.value_end]
            memo_key = (tag, vr, value, self.charset_key)
            known = self.memo.texts.get(memo_key)
            if known is None:
                check_raw_bytes(tag, value, vr)
                known = self.converted(element) if self.whitelist else (vr, None)
                self.memo.texts[memo_key] = known
                reason = self.refusal(element)
                if reason is not None:  # kept with the text, cleared with it
                    self.memo.refusals[memo_key] = reason
            refusals = self.memo.refusals
            if refusals and memo_key in refusals:  # rare: a dictionary lookup otherwise
                self.refuse(element, keyword_prefix, refusals[memo_key])
                return None
        if element.undefined_length and tag not in PIXEL_TAGS:
            raise Unsupported("undefined length outside pixel data")
        if tag in PIXEL_TAGS and top_level:
            pixels = self.view[element.value_start : element.value_end]
            self.kept_pixels[tag] = content_hash(pixels)
        rows = []
        if self.whitelist:
            if vr == "UN":  # pydicom may convert it to its dictionary VR
                raise Unsupported("UN element kept")
            name = format_tag(tag)
            row_vr, text = (vr, None) if known is None or tag in PIXEL_TAGS else known
            rows.append(
                (tag_prefix + name, keyword_prefix + (cached_keyword(tag) or name), row_vr, text)
            )
        chunk = self.view[element.start : element.end]
        return Entry(tag, [chunk], element.end - element.start, rows, value)

    def refusal(self, element: Element) -> str | None:
        """`value_forms.refusal` of a kept value (which caches it by its text)."""
        if element.vr not in FORM_VRS or not self.rule_set.checks_kept_values:
            return None
        name = cached_keyword(element.tag) or format_tag(element.tag)
        value = self.data[element.value_start : element.value_end]
        text = element_text(value, element.vr, self.encodings)
        return refusal(name, element.vr, text, self.rule_set.value_terms.get(name))

    def refuse(self, element: Element, path: str, reason: str) -> None:
        converted = convert(raw_element(self.part, self.data, element), self.encodings)
        keyword = cached_keyword(element.tag)
        name = format_tag(element.tag)
        self.log.unlisted.append(
            UnlistedAttribute(
                name, keyword, converted.VR, path + (keyword or name), sample_of(converted), reason
            )
        )
        self.log.actions[REFUSED_ACTION] += 1

    def converted(self, element: Element) -> tuple[str, str | None]:
        """(VR, inventory text) as pydicom's conversion gives them."""
        # The VR is pydicom's: the file's, or for implicit VR the dictionary's (never
        # ambiguous for these VRs).
        text = plain_value_text(element.vr, self.data[element.value_start : element.value_end])
        if text is not None:
            return element.vr, text
        converted = convert(raw_element(self.part, self.data, element), self.encodings)
        return converted.VR, value_text(converted)

    def changed(
        self, element: Element, rule: Rule | None, path: str, tag_prefix: str, keyword_prefix: str
    ) -> Entry | None:
        """An element a rule changes or removes: RuleWalk does it, pydicom encodes it."""
        if element.undefined_length:
            raise Unsupported("undefined length value changed by a rule")
        value = self.data[element.value_start : element.value_end]
        # Everything the effect depends on: the encoding too, since it holds the header.
        memo_key = (
            element.tag,
            element.vr,
            value,
            path if rule is None else None,
            self.charset_key,
            self.date_offset,
            self.part.implicit,
        )
        effect = self.memo.effects.get(memo_key)
        if effect is None:  # these two are unique per file: not memoised
            effect = self.hashed_uids(element, rule, value) or self.unlisted_removed(
                element, rule, path, value
            )
        if effect is None:
            effect = self.compute_effect(element, rule, path)
            self.memo.effects[memo_key] = effect
        add_to_log(self.log, effect)
        encoded = effect.encoded
        if encoded is None:
            return None
        rows = []
        if self.whitelist:
            tag = format_tag(element.tag)
            keyword_path = keyword_prefix + (cached_keyword(element.tag) or tag)
            rows.append((tag_prefix + tag, keyword_path, effect.vr, effect.text))
        meta_value = encoded[effect.header_size :] if element.tag in META_SOURCE_TAGS else None
        return Entry(element.tag, [encoded], len(encoded), rows, meta_value)

    def hashed_uids(self, element: Element, rule: Rule | None, value: bytes) -> Effect | None:
        """`RuleWalk.apply` of hash_uid and pydicom's UI writer, for the plain case (ASCII
        UIDs, no empty or padded items); None sends anything else to `compute_effect`."""
        if rule is None or rule.action is not Action.HASH_UID or element.vr != "UI":
            return None
        if not value.isascii():
            return None
        items = value.decode("ascii").rstrip("\0 ").split("\\")
        if any(not item or item != item.strip() for item in items):
            return None
        hashed = [hash_uid(item, self.key) for item in items]
        pairs = tuple((item, new) for item, new in zip(items, hashed, strict=True) if new != item)
        text = "\\".join(hashed)
        encoded_value = (text + "\0" * (len(text) % 2)).encode("ascii")
        group, number = element.tag >> 16, element.tag & 0xFFFF
        if self.part.implicit:
            header = struct.pack("<HHI", group, number, len(encoded_value))
        else:
            header = struct.pack("<HH2sH", group, number, b"UI", len(encoded_value))
        actions = ((f"{rule.name}: {rule.action}", 1),)
        return Effect(
            encoded=header + encoded_value,
            header_size=len(header),
            vr="UI",
            text=text[:MAX_VALUE_LENGTH],
            uid_pairs=pairs,
            identifiers=(),
            unlisted=(),
            actions=actions,
        )

    def unlisted_removed(
        self, element: Element, rule: Rule | None, path: str, value: bytes
    ) -> Effect | None:
        """`RuleWalk.apply_default` queueing and removing an unlisted top-level value that
        needs no conversion for its sample: binary VRs have no sample, a plain UID's is
        its text. (The walk checked the value; an explicit file's VR is pydicom's.) None
        sends anything else to `compute_effect`."""
        vr = element.vr
        if rule is not None or path or self.part.implicit or not self.rule_set.reviews_unlisted:
            return None
        if vr not in CHECKED_VRS or vr == "UN":
            return None
        sample = None
        if vr in TEXT_VRS:
            sample = plain_uid(value) if vr == "UI" else None
            if not sample:
                return None
            sample = sample[:SAMPLE_LENGTH]
        name = format_tag(element.tag)
        keyword = cached_keyword(element.tag)
        unlisted = UnlistedAttribute(name, keyword, vr, keyword or name, sample)  # top level
        return Effect(
            encoded=None,
            header_size=0,
            vr=vr,
            text=None,
            uid_pairs=(),
            identifiers=(),
            unlisted=(unlisted,),
            actions=(("remove unlisted", 1),),
        )

    def compute_effect(self, element: Element, rule: Rule | None, path: str) -> Effect:
        tag = BaseTag(element.tag)
        dataset = Dataset(
            {tag: convert(raw_element(self.part, self.data, element), self.encodings)}
        )
        walk = RuleWalk(self.rule_set, self.key, self.date_offset)
        if rule is None:
            walk.apply_default(dataset, tag, path)
        else:
            walk.apply(dataset, dataset[tag], rule, path)
        encoded, vr, text, header_size = None, element.vr, None, 0
        if tag in dataset:
            converted = dataset[tag]
            if converted.VR == "SQ" or len(converted.VR) != 2:
                raise Unsupported("element became a sequence or has an ambiguous VR")
            encoded = encode_element(converted, self.part.implicit, self.encodings)
            vr, text = converted.VR, value_text(converted)
            header_size = 8 if self.part.implicit or vr not in LONG_VRS else 12
        log = walk.log
        return Effect(
            encoded=encoded,
            header_size=header_size,
            vr=vr,
            text=text,
            uid_pairs=tuple(log.uid_pairs.items()),
            identifiers=tuple(log.identifiers),
            unlisted=tuple(log.unlisted),
            actions=tuple(log.actions.items()),
        )

    def sequence(
        self, element: Element, rule: Rule | None, path: str, tag_prefix: str, keyword_prefix: str
    ) -> Entry | None:
        """A sequence: kept and walked item by item, or removed (other actions: Unsupported)."""
        keyword = cached_keyword(element.tag)
        name = keyword or format_tag(element.tag)
        decision = decide(self.rule_set, element.tag, rule, lambda: "SQ")
        if decision is Decision.WALK_SEQUENCE:
            return self.walked_sequence(element, path, tag_prefix, keyword_prefix)
        if decision is Decision.QUEUE_UNLISTED:
            self.log.unlisted.append(
                UnlistedAttribute(format_tag(element.tag), keyword, "SQ", path + name, None)
            )
            self.log.actions["remove unlisted"] += 1
            return None
        if decision is Decision.REMOVE_UNLISTED_SEQUENCE:
            self.log.actions["remove unlisted sequence"] += 1
            return None
        if rule is not None and rule.action is Action.REMOVE:  # APPLY of a removal
            self.log.actions[f"{rule.name}: {rule.action}"] += 1
            return None
        raise Unsupported("sequence changed by a rule")

    def walked_sequence(
        self, element: Element, path: str, tag_prefix: str, keyword_prefix: str
    ) -> Entry:
        tag = format_tag(element.tag)
        name = cached_keyword(element.tag) or tag
        tag_path, keyword_path = tag_prefix + tag, keyword_prefix + name
        rows: list[InventoryRow] = [(tag_path, keyword_path, "SQ", None)] if self.whitelist else []
        body: list[Any] = []
        size = 0
        for item in element.items or []:
            item_entries = self.dataset(
                item.elements, f"{path}{name}>", tag_path + ">", keyword_path + ">"
            )
            item_size = sum(entry.size for entry in item_entries)
            body.append(item_header(item, item_size))
            for entry in item_entries:
                body.extend(entry.chunks)
                rows.extend(entry.rows)
            size += 8 + item_size
            if item.undefined_length:
                body.append(ITEM_DELIMITER)
                size += 8
        length = UNDEFINED_LENGTH if element.undefined_length else size
        group, number = element.tag >> 16, element.tag & 0xFFFF
        if self.part.implicit:
            header = struct.pack("<HHI", group, number, length)
        else:
            header = struct.pack("<HH2sHI", group, number, SEQUENCE_VR, 0, length)
        chunks = [header, *body]
        total = len(header) + size
        if element.undefined_length:
            chunks.append(SEQUENCE_DELIMITER)
            total += 8
        return Entry(element.tag, chunks, total, rows)
