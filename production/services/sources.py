"""What the state derivation needs of the production configuration, kept in memory per process.

The after-store hook runs on every stored batch: it must tell in a set lookup whether a batch holds a row of a
state, product or fault tag, without a query. The configuration is loaded once per process and reloaded when its
version token (common.version_token) moves; saving or deleting any production configuration bumps it (signals.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from common.version_token import TokenCached, VersionToken
from production.models import FaultCode, MachineProduction, Product

VERSION_KEY = "production:sources:version"
FALLBACK_SECONDS = 5.0
#: The token is read at most this often (the hook runs on every stored batch): a change made in another process
#: reaches the derivation at most this much later; one made in this process, at once.
CHECK_SECONDS = 1.0

#: (state, product id, automatic reason id): what an interval is made of; a change of any of them starts a new one.
Key = tuple[str, int | None, int | None]
#: A source tag's value as the derivation sees it: a number, a product tag's text, or None (bad quality, no value).
Value = float | str | None


def value_code(value: Value) -> int | None:
    """A numeric value as the integer code state mappings and fault codes use (None if it is not a whole number)."""
    if value is None or isinstance(value, str) or not math.isfinite(value) or value != int(value):
        return None
    return int(value)


@dataclass(frozen=True, slots=True)
class MachineSources:
    machine_id: int
    state_tag_id: int
    state_map: Mapping[int, str]
    unmapped_state: str  # "" : a value the mapping does not name makes no interval
    product_tag_id: int | None
    product_is_text: bool  # a string tag: its rows reach the hooks without their value
    products: Mapping[str, int]  # product code -> product id (the machine's site's products)
    fault_tag_ids: tuple[int, ...]
    fault_map: Mapping[tuple[int, int], int]  # (tag id, value) -> downtime reason id

    @property
    def tag_ids(self) -> tuple[int, ...]:
        product = (self.product_tag_id,) if self.product_tag_id is not None else ()
        return (self.state_tag_id, *product, *self.fault_tag_ids)

    def key(self, values: Mapping[int, Value]) -> Key | None:
        """The interval key for the source tags' `values`; None while the state is unknown (no interval)."""
        state_value = values.get(self.state_tag_id)
        if state_value is None:
            return None
        code = value_code(state_value)
        state = self.state_map.get(code, self.unmapped_state) if code is not None else self.unmapped_state
        if not state:
            return None
        product = None
        if self.product_tag_id is not None:
            product = self.products.get(_product_code(values.get(self.product_tag_id)))
        reason = None
        if state != "running":  # a fault code classifies a stop, never a running machine
            for tag_id in self.fault_tag_ids:
                fault = value_code(values.get(tag_id))
                if fault is not None and (reason := self.fault_map.get((tag_id, fault))) is not None:
                    break
        return (state, product, reason)


def _product_code(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    code = value_code(value)
    return str(code) if code is not None else repr(value)


@dataclass(frozen=True)
class Sources:
    machines: dict[int, MachineSources] = field(default_factory=dict)
    by_tag: dict[int, tuple[int, ...]] = field(default_factory=dict)  # source tag -> machines it describes
    text_tags: frozenset[int] = frozenset()  # string product tags: their rows reach the hooks without a value
    watched: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int32))
    #: Every production tag (state, counters, product) -> the machines it describes, enabled or not (history
    #: stays): whose KPI summaries a late value of it deletes (services/summaries.py).
    summary_tags: dict[int, tuple[int, ...]] = field(default_factory=dict)


def machine_sources(config: MachineProduction) -> MachineSources:
    """One machine's sources, read from the database (not the cache)."""
    site_id = config.machine.line.area.site_id
    return _machine_sources(
        config,
        products=dict(Product.objects.filter(site_id=site_id).values_list("code", "id")),
        faults=list(FaultCode.objects.filter(tag__machine_id=config.machine_id).order_by("tag_id", "value")),
    )


def _machine_sources(
    config: MachineProduction, *, products: Mapping[str, int], faults: Sequence[FaultCode]
) -> MachineSources:
    """`config`'s sources, given its site's products (code -> id) and its fault codes (by tag, then value)."""
    return MachineSources(
        machine_id=config.machine_id,
        state_tag_id=config.state_tag_id,
        state_map={m.value: m.state for m in config.state_map.all()},
        unmapped_state=config.unmapped_state,
        product_tag_id=config.product_tag_id,
        product_is_text=config.product_tag is not None and config.product_tag.is_text,
        products=products,
        fault_tag_ids=tuple(dict.fromkeys(f.tag_id for f in faults)),
        fault_map={(f.tag_id, f.value): f.reason_id for f in faults},
    )


def _load() -> Sources:
    configs = MachineProduction.objects.filter(enabled=True).select_related("machine__line__area", "product_tag")
    products: dict[int, dict[str, int]] = {}
    for site_id, code, product_id in Product.objects.values_list("site_id", "code", "id"):
        products.setdefault(site_id, {})[code] = product_id
    faults: dict[int, list[FaultCode]] = {}
    for f in FaultCode.objects.select_related("tag").order_by("tag_id", "value"):
        faults.setdefault(f.tag.machine_id, []).append(f)
    machines: dict[int, MachineSources] = {}
    for config in configs.prefetch_related("state_map"):
        machines[config.machine_id] = _machine_sources(
            config,
            products=products.get(config.machine.line.area.site_id, {}),
            faults=faults.get(config.machine_id, []),
        )
    summary_tags: dict[int, list[int]] = {}
    for machine_id, *tag_ids in MachineProduction.objects.values_list(
        "machine_id", "state_tag_id", "total_tag_id", "good_tag_id", "reject_tag_id", "product_tag_id"
    ):
        for tag_id in dict.fromkeys(t for t in tag_ids if t is not None):
            summary_tags.setdefault(tag_id, []).append(machine_id)
    by_tag: dict[int, list[int]] = {}
    for m in machines.values():
        for tag_id in m.tag_ids:
            by_tag.setdefault(tag_id, []).append(m.machine_id)
    return Sources(
        machines=machines,
        by_tag={tag_id: tuple(ids) for tag_id, ids in by_tag.items()},
        text_tags=frozenset(m.product_tag_id for m in machines.values() if m.product_is_text and m.product_tag_id),
        watched=np.array(sorted(by_tag), dtype=np.int32),
        summary_tags={tag_id: tuple(ids) for tag_id, ids in summary_tags.items()},
    )


SOURCES_TOKEN = VersionToken(VERSION_KEY)
_cached = TokenCached(SOURCES_TOKEN, _load, fallback_seconds=FALLBACK_SECONDS, check_seconds=CHECK_SECONDS)


def production_sources() -> Sources:
    """The enabled machines' sources (one cache GET a second at most; a database query only after a change)."""
    return _cached.get()


def production_sources_invalidate() -> None:
    """The production configuration changed: every process reloads it on its next batch (never raises)."""
    SOURCES_TOKEN.bump()
