"""Production's columns of the tag CSV (historian/services/tag_csv/), per tag:

- `production_role`: which production input of its machine the tag is: `state`, `total`, `good`, `reject`,
  `product` (the MachineProduction's sources), `fault` (a tag with fault codes and no other role), or empty;
- `state_map`, on the state tag only: the machine's StateMapping, `value=state;...` with the MachineState values
  (e.g. `0=idle;1=running;2=unplanned_down`);
- `fault_codes`: the tag's FaultCodes, `value=reason;...` (e.g. `101=Overtemperature;205=Hydraulic pressure low`),
  each reason by its name in the reason tree of the tag's site, or `Category / Reason` where two categories have a
  reason of that name.

Cells list everything: a state value or fault code left out is deleted. The machine is the tag's machine; the
other settings of a machine's production (thresholds, unmapped state, cycle times) stay in the admin, and so does
deleting a machine's production configuration (the file can create one: a state tag and two of the counters).
Entries are separated by `;`, so a reason whose name holds `;` cannot be named here. Export then import is a no-op.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import models, transaction

from historian.models import Machine, Tag
from historian.services.tag_csv import RowError, TagCsvExtension
from historian.services.tag_csv.plan import machine_label
from production.models import DowntimeReason, FaultCode, MachineProduction, MachineState, StateMapping
from production.services.intervals import machine_intervals_rebuild_audited
from production.services.sources import production_sources_invalidate

ROLE, STATE_MAP, FAULT_CODES = "production_role", "state_map", "fault_codes"
SOURCES = {
    "state": "state_tag",
    "total": "total_tag",
    "good": "good_tag",
    "reject": "reject_tag",
    "product": "product_tag",
}
ROLES = (*SOURCES, "fault")
COUNTERS = ("total", "good", "reject")


def _cell(entries: dict[int, str]) -> str:
    return ";".join(f"{value}={text}" for value, text in sorted(entries.items()))


def _entries(column: str, text: str, problems: list[str]) -> dict[int, str]:
    """`value=text;...` as {value: text}; the problems of the cell go to `problems`."""
    entries: dict[int, str] = {}
    for entry in (e.strip() for e in text.split(";")):
        if not entry:
            continue
        value_text, sep, name = (part.strip() for part in entry.partition("="))
        try:
            value = int(value_text)
        except ValueError:
            value = None
        if not sep or value is None or not name:
            problems.append(f"{column}: {entry!r} is not value=name (e.g. 1=running)")
        elif value in entries:
            problems.append(f"{column}: value {value} is given twice")
        else:
            entries[value] = name
    return entries


@dataclass
class _MachineWanted:
    """What the file's rows ask of one machine's production sources."""

    machine: Machine
    line: int  # the first row of the machine with a production role
    sources: dict[str, tuple[Tag, int]] = field(default_factory=dict)  # role -> (tag, line)
    cleared: set[str] = field(default_factory=set)  # roles the file takes away from the tag holding them
    state_map: dict[int, str] | None = None


class ProductionCsv(TagCsvExtension):
    columns = (ROLE, STATE_MAP, FAULT_CODES)

    def __init__(self) -> None:
        self.configs = {c.machine_id: c for c in MachineProduction.objects.all()}
        self.role_of: dict[int, tuple[MachineProduction, str]] = {}
        for config in self.configs.values():
            for role, source in SOURCES.items():
                tag_id = getattr(config, f"{source}_id")
                if tag_id is not None:
                    self.role_of[tag_id] = (config, role)
        self.state_maps: dict[int, dict[int, StateMapping]] = defaultdict(dict)  # by configuration
        for mapping in StateMapping.objects.all():
            self.state_maps[mapping.machine_production_id][mapping.value] = mapping
        self.fault_codes: dict[int, dict[int, FaultCode]] = defaultdict(dict)  # by tag
        for code in FaultCode.objects.all():
            self.fault_codes[code.tag_id][code.value] = code
        self.reasons = {r.pk: r for r in DowntimeReason.objects.select_related("category")}
        by_site: dict[int, dict[str, list[DowntimeReason]]] = defaultdict(lambda: defaultdict(list))
        for reason in self.reasons.values():
            by_site[reason.category.site_id][reason.name].append(reason)
            by_site[reason.category.site_id][f"{reason.category.name} / {reason.name}"].append(reason)
        self.reasons_by_site = by_site
        self.wanted: dict[int, _MachineWanted] = {}  # by id() of the row's machine (a new one has no key yet)
        self.faults_wanted: list[tuple[int, Tag, dict[int, DowntimeReason]]] = []
        self.configs_write: list[tuple[MachineProduction | None, MachineProduction, _MachineWanted]] = []

    # Cells --------------------------------------------------------------------------------------------------------
    def _reason_label(self, reason: DowntimeReason) -> str:
        unique = len(self.reasons_by_site[reason.category.site_id][reason.name]) == 1
        return reason.name if unique else f"{reason.category.name} / {reason.name}"

    def _role(self, tag_id: int | None) -> str:
        if tag_id is None:
            return ""
        if tag_id in self.role_of:
            return self.role_of[tag_id][1]
        return "fault" if self.fault_codes.get(tag_id) else ""

    def _state_cell(self, tag_id: int | None) -> str:
        if tag_id is None or self._role(tag_id) != "state":
            return ""
        config = self.role_of[tag_id][0]
        return _cell({v: m.state for v, m in self.state_maps.get(config.pk, {}).items()})

    def _fault_cell(self, tag_id: int | None) -> str:
        codes = self.fault_codes.get(tag_id, {}) if tag_id is not None else {}
        return _cell({v: self._reason_label(self.reasons[c.reason_id]) for v, c in codes.items()})

    def export_cells(self, tag: Tag) -> list[str]:
        return [self._role(tag.pk), self._state_cell(tag.pk), self._fault_cell(tag.pk)]

    # Checking -----------------------------------------------------------------------------------------------------
    def check_row(
        self, *, line: int, tag: Tag, exists: bool, cells: dict[str, str]
    ) -> tuple[dict[str, tuple[str, str]], list[str]]:
        problems: list[str] = []
        role = cells[ROLE].strip()
        if role not in ("", *ROLES):
            problems.append(f"{ROLE}: {role!r} is none of {', '.join(ROLES)} (or empty)")
        states = _entries(STATE_MAP, cells[STATE_MAP], problems)
        for value, state in states.items():
            if state not in MachineState.values:
                problems.append(
                    f"{STATE_MAP}: {value}={state}: {state!r} is no state ({', '.join(MachineState.values)})"
                )
        if states and role != "state":
            problems.append(f"{STATE_MAP}: only the state tag (production_role state) has a state map")
        codes = _entries(FAULT_CODES, cells[FAULT_CODES], problems)
        site = tag.machine.line.area.site
        reasons: dict[int, DowntimeReason] = {}
        for value, name in codes.items():
            found = self.reasons_by_site.get(site.pk, {}).get(name, []) if site.pk is not None else []
            if len(found) == 1:
                reasons[value] = found[0]
            elif not found:
                problems.append(
                    f"{FAULT_CODES}: {value}={name}: no downtime reason {name!r} in {site.name}'s reason tree"
                )
            else:
                categories = ", ".join(sorted(r.category.name for r in found))
                problems.append(
                    f"{FAULT_CODES}: {value}={name}: {name!r} is a reason in several categories ({categories}); "
                    f"write it as Category / {name}"
                )
        if role == "fault" and not codes:
            problems.append(f"{FAULT_CODES}: a fault tag (production_role fault) needs its codes, e.g. 101=Jam")
        if codes and role == "":
            problems.append(f"{ROLE}: a tag with fault codes has a role (fault, unless it is another input)")
        if role and role != "product" and tag.is_text:
            problems.append(f"{ROLE}: {tag.path} is a string tag; a {role} tag must be numeric")
        if role and not tag.historize:
            problems.append(f"{ROLE}: {tag.path} is not historized; production is computed from history")
        before_role = self._role(tag.pk) if exists else ""
        held = self.role_of.get(tag.pk) if exists else None
        if held is not None and held[0].machine_id != tag.machine.pk:
            problems.append(
                f"{ROLE}: {tag.path} is the {held[1]} tag of another machine's production; it cannot move machines "
                "(change that machine's production configuration first)"
            )
        if problems:
            return {}, problems

        wanted = self.wanted.get(id(tag.machine))
        if role in SOURCES or before_role in SOURCES:
            if wanted is None:
                wanted = self.wanted[id(tag.machine)] = _MachineWanted(tag.machine, line)
            if role in SOURCES:
                if role in wanted.sources:
                    return {}, [f"{ROLE}: the machine already has its {role} tag on line {wanted.sources[role][1]}"]
                wanted.sources[role] = (tag, line)
            if before_role in SOURCES and before_role != role:
                wanted.cleared.add(before_role)
            if role == "state":
                wanted.state_map = states
        self.faults_wanted.append((line, tag, reasons))

        changes: dict[str, tuple[str, str]] = {}
        before_id = tag.pk if exists else None
        after_faults = _cell({v: self._reason_label(r) for v, r in reasons.items()})
        for column, before, after in (
            (ROLE, before_role, role),
            (STATE_MAP, self._state_cell(before_id), _cell(dict(states))),
            (FAULT_CODES, self._fault_cell(before_id), after_faults),
        ):
            if before != after:
                changes[column] = (before, after)
        return changes, []

    def check_file(self, *, paths: set[str]) -> list[RowError]:
        errors = []
        for wanted in self.wanted.values():
            config = self.configs.get(wanted.machine.pk) if wanted.machine.pk is not None else None
            sources: dict[str, Tag | int | None] = {}
            for role, source in SOURCES.items():
                current = getattr(config, f"{source}_id") if config is not None else None
                sources[role] = None if role in wanted.cleared else current
                if role in wanted.sources:
                    sources[role] = wanted.sources[role][0]
            label = f"machine {wanted.machine.name!r}"
            if config is None and not wanted.sources:
                continue
            problems = []
            if sources["state"] is None:
                problems.append(f"{ROLE}: {label} would have no state tag (give one tag production_role state)")
            counters = [c for c in COUNTERS if sources[c] is not None]
            if len(counters) != 2:
                problems.append(
                    f"{ROLE}: {label} needs exactly two of the counters total, good, reject, not {len(counters)}"
                )
            if problems:
                errors.append(RowError(wanted.line, "; ".join(problems)))
                continue
            after = MachineProduction(machine=wanted.machine) if config is None else MachineProduction(pk=config.pk)
            if config is not None:
                for model_field in MachineProduction._meta.concrete_fields:
                    setattr(after, model_field.attname, getattr(config, model_field.attname))
            for role, source in SOURCES.items():
                value = sources[role]
                if isinstance(value, Tag):
                    setattr(after, source, value)
                else:
                    setattr(after, f"{source}_id", value)
            self.configs_write.append((config, after, wanted))
        return errors

    # Applying -----------------------------------------------------------------------------------------------------
    def apply(self, *, audit: Any) -> None:
        """Creations and updates in bulk, audited by hand as the tag CSV's others; deletions one by one through the
        ORM (auditlog's signals record them, with the import's actor)."""
        audited: list[tuple[str, models.Model | None, models.Model]] = []  # repr, before (None: created), after
        deleted: list[models.Model] = []
        configs_new: list[MachineProduction] = []
        configs_changed: list[MachineProduction] = []
        for config, after, wanted in self.configs_write:
            after.machine = wanted.machine  # its primary key, now that it is saved
            for role, (tag, _line) in wanted.sources.items():
                setattr(after, SOURCES[role], tag)  # the same for a new tag
            if config is None:
                configs_new.append(after)
                audited.append((machine_label(wanted.machine), None, after))
            elif any(getattr(config, f"{s}_id") != getattr(after, f"{s}_id") for s in SOURCES.values()):
                configs_changed.append(after)
                audited.append((machine_label(wanted.machine), config, after))
        MachineProduction.objects.bulk_create(configs_new)
        MachineProduction.objects.bulk_update(configs_changed, list(SOURCES.values()))

        mappings_new: list[StateMapping] = []
        mappings_changed: list[StateMapping] = []
        # Machines whose intervals mean something else now (sources or state mapping changed): derived again.
        remapped = {after.machine_id for after in configs_changed}
        counted = 0
        for config, after, wanted in self.configs_write:
            if wanted.state_map is None:
                continue
            existing = self.state_maps.get(after.pk, {}) if config is not None else {}
            label = machine_label(wanted.machine)
            for value, state in wanted.state_map.items():
                mapping = existing.get(value)
                if mapping is None:
                    mappings_new.append(StateMapping(machine_production=after, value=value, state=state))
                    audited.append((f"{label}: state {value}", None, mappings_new[-1]))
                elif mapping.state != state:
                    mappings_changed.append(copy.copy(mapping))
                    mappings_changed[-1].state = state
                    audited.append((f"{label}: state {value}", mapping, mappings_changed[-1]))
            gone = [m for v, m in existing.items() if v not in wanted.state_map]
            deleted += gone
            if gone or len(mappings_new) + len(mappings_changed) > counted:
                remapped.add(after.machine_id)
            counted = len(mappings_new) + len(mappings_changed)
        StateMapping.objects.bulk_create(mappings_new)
        StateMapping.objects.bulk_update(mappings_changed, ["state"])

        codes_new: list[FaultCode] = []
        codes_changed: list[FaultCode] = []
        for _line, tag, reasons in self.faults_wanted:
            existing_codes = self.fault_codes.get(tag.pk, {})
            for value, reason in reasons.items():
                code = existing_codes.get(value)
                if code is None:
                    codes_new.append(FaultCode(tag=tag, value=value, reason=reason))
                    audited.append((f"{tag.path} = {value}", None, codes_new[-1]))
                elif code.reason_id != reason.pk:
                    codes_changed.append(copy.copy(code))
                    codes_changed[-1].reason = reason
                    audited.append((f"{tag.path} = {value}", code, codes_changed[-1]))
            deleted += [c for v, c in existing_codes.items() if v not in reasons]
        FaultCode.objects.bulk_create(codes_new)
        FaultCode.objects.bulk_update(codes_changed, ["reason"])

        for repr_, before, obj in audited:
            audit.add(before, obj, repr_=repr_)
        for obj in deleted:
            obj.delete()
        # Bulk writes send no post_save: the derivation's cache of the configuration (production/signals.py) is
        # refreshed here, now and after commit.
        production_sources_invalidate()
        transaction.on_commit(production_sources_invalidate)
        # As the admin's rebuild action, in the import's transaction (the intervals change with the mapping), audited.
        for machine_id in sorted(remapped):
            machine_intervals_rebuild_audited(
                machine_id=machine_id, actor=audit.actor, cause="tag CSV import: state mapping or sources changed"
            )
