"""Writing a tag under its write policy (issue 14): request -> checks -> arm / approve / execute -> audit.

Off by default at every level: the device must have writes enabled by an administrator (`device_writes_set`), the
tag must be `writable`, it must have a WritePolicy, and the device must not be quarantined. The person (or the API
token's owner) must hold `historian.operate` in the tag's area (OperateArea) or `historian.operate_any_area`.
The policy then checks the value: its range, its step from the current value, its rate of change since the last
write, the minimum interval between writes and the interlock (another tag's current value). Depending on the
policy's confirmation mode the write is done at once (direct), armed until the same person confirms it within the
window (select-before-operate), or held until a second person who may operate there approves it.

Every write and every refusal is in the audit trail: who (user, and the API token's name when through one), the
old value, the value asked for, the value read back and the outcome; a refusal names its rule (`WriteRule`).

The write goes through a driver of this process's own, opened for the write and closed after it (drivers are not
thread-safe and the poller's belong to its threads): Modbus and OPC UA. A Sparkplug B command must be published by
the `run_sparkplug` process that owns the MQTT session: it is asked through Redis
(`ingest.acquisition.sparkplug_commands`), and answers with the outcome; with no such process running the write
fails at once, nothing sent. A Sparkplug device is not read on demand (it publishes by exception), so its current
value, for the step and the rate and as the audit's old value, is the historian's (when its quality is good). The
check, the write and its record happen with the policy's row locked, so two writes of one tag never pass the
interval check together.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.utils import timezone

from audit.models import AuditAction
from audit.services.events import audit_record
from historian.models import (
    ConfirmationMode,
    Device,
    InterlockComparison,
    OperateArea,
    Protocol,
    Tag,
    WritePolicy,
    WriteRequest,
    WriteRequestState,
)
from historian.quality import quality_is_good
from historian.queries.history import current_values
from ingest.acquisition.sparkplug_commands import sparkplug_command_send
from ingest.protocols.base import DeviceUnreachable, PointRequest, WriteOutcome, WriteStatus
from ingest.protocols.registry import DriverRegistry
from ingest.services.write_live import write_event_publish

PERM_OPERATE = "historian.operate"
PERM_OPERATE_ANY_AREA = "historian.operate_any_area"
PERM_ENABLE_DEVICE_WRITES = "historian.enable_device_writes"
DEFAULT_TIMEOUT = 5.0
MAX_VALUE_CHARS = 40  # a number typed or sent as text; anything longer is not a setpoint

Actor = User | AnonymousUser | None


class WriteRule(StrEnum):
    """Which rule refused a write."""

    PERMISSION = "permission"
    TAG_NOT_WRITABLE = "tag_not_writable"
    NO_POLICY = "no_policy"
    DEVICE_WRITES_DISABLED = "device_writes_disabled"
    DEVICE_QUARANTINED = "device_quarantined"
    PROTOCOL = "protocol_unavailable"
    INVALID_VALUE = "invalid_value"
    RANGE = "range"
    STEP = "step"
    RATE = "rate"
    INTERVAL = "interval"
    INTERLOCK = "interlock"
    CURRENT_UNKNOWN = "current_value_unknown"
    UNKNOWN_REQUEST = "unknown_request"
    CONFIRMATION = "confirmation_required"  # a rule asked for a write that a person must confirm or approve
    EXPIRED = "expired"
    SAME_PERSON = "same_person"
    OTHER_PERSON = "other_person"
    UNKNOWN_TAG = "unknown_tag"
    TOKEN_SCOPE = "token_scope"  # noqa: S105 (a rule's name): an API token without the write scope
    CSRF = "csrf"  # a signed-in browser's request without a valid CSRF token


class WriteState(StrEnum):
    EXECUTED = "executed"  # sent (or refused by the driver): see `outcome`
    ARMED = "armed"  # waiting for tag_write_confirm by the same person, with `token`, before `expires_at`
    AWAITING_APPROVAL = "awaiting_approval"  # waiting for tag_write_approve by another person, with `token`
    REFUSED = "refused"  # `rule` says which rule, `message` why; nothing was written


@dataclass(frozen=True, slots=True)
class WriteResult:
    state: WriteState
    message: str
    rule: WriteRule | None = None
    request_id: int | None = None
    token: str = ""
    expires_at: datetime | None = None
    outcome: WriteOutcome | None = None

    @property
    def confirmed(self) -> bool:
        return self.outcome is not None and self.outcome.confirmed

    def outcome_summary(self) -> dict[str, Any] | None:
        """The driver's outcome as the API and the page socket show it (None when nothing was executed)."""
        outcome = self.outcome
        if outcome is None:
            return None
        return {
            "status": outcome.status.value,
            "sent": outcome.sent,
            "read_back": outcome.read_back if isinstance(outcome.read_back, int | float) else None,
            "error": outcome.error,
            "seconds": round(outcome.seconds, 4),
        }


class _Refusal(Exception):
    def __init__(self, rule: WriteRule, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


# --- who may ---------------------------------------------------------------------------------------------------


def tag_may_operate(*, user: Actor, tag: Tag) -> bool:
    """May `user` write tags of `tag`'s area (historian.operate there, or historian.operate_any_area)?"""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.has_perm(PERM_OPERATE_ANY_AREA):
        return True
    if not user.has_perm(PERM_OPERATE):
        return False
    area_id = tag.machine.line.area_id
    return OperateArea.grants(user, area_id)


def device_writes_set(*, device: Device, enabled: bool, user: Actor, remote_addr: str | None = None) -> bool:
    """Enable or disable writes to `device` (administrators: historian.enable_device_writes); False when it
    already was so. Audited. PermissionError for anyone else."""
    if user is None or not user.is_authenticated or not user.is_active or not user.has_perm(PERM_ENABLE_DEVICE_WRITES):
        raise PermissionError("Only an administrator may enable or disable writes to a device.")
    with transaction.atomic():
        current = Device.objects.select_for_update().filter(pk=device.pk).values_list("writes_enabled", flat=True)
        if not current.exists():
            raise Device.DoesNotExist(f"device {device.pk} is gone")
        if current.first() == enabled:
            return False
        Device.objects.filter(pk=device.pk).update(writes_enabled=enabled)
        device.writes_enabled = enabled
        audit_record(
            actor=user,
            action=AuditAction.DEVICE_WRITES_ENABLE if enabled else AuditAction.DEVICE_WRITES_DISABLE,
            target=device.name,
            details={"device": device.pk},
            remote_addr=remote_addr,
        )
    return True


# --- the three steps -------------------------------------------------------------------------------------------


def tag_write_request(
    *,
    tag: Tag,
    value: Any,
    user: Actor,
    via: str = "",
    remote_addr: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    rule: bool = False,
) -> WriteResult:
    """Ask to write `value` (a number, or its text) to `tag`. `via`: the API token's name when through the API, or
    the rule ("rule <name> v<version>") with `rule=True` when a rule asks, on behalf of its `user` (`run_as`): the
    same checks, and a tag whose policy asks a person to confirm or approve is refused (WriteRule.CONFIRMATION).

    Direct policy: written now (EXECUTED, with the driver's outcome). Arm: ARMED with a token the same person
    passes to tag_write_confirm within the window. Two-person: AWAITING_APPROVAL with a token another person passes
    to tag_write_approve. Or REFUSED, naming the rule. Never raises for a refusal; every result is audited.
    """
    who = _Who(user=user, via=via, remote_addr=remote_addr, rule=rule)
    now = timezone.now()
    try:
        number = _parse_value(value)
        with transaction.atomic():
            policy = _gate(tag=tag, user=user)
            if rule and policy.confirmation != ConfirmationMode.DIRECT:
                raise _Refusal(
                    WriteRule.CONFIRMATION,
                    f"{tag.path}: its policy asks a person to confirm or approve each write; a rule does not write it.",
                )
            if policy.confirmation == ConfirmationMode.DIRECT:
                return _execute(tag=tag, policy=policy, value=number, who=who, request=None, timeout=timeout)
            _value_checks(tag=tag, policy=policy, value=number, current=_device_value(tag), now=now)
            armed = policy.confirmation == ConfirmationMode.ARM
            request = WriteRequest.objects.create(
                tag=tag,
                value=number,
                token=secrets.token_urlsafe(24),
                state=WriteRequestState.ARMED if armed else WriteRequestState.AWAITING_APPROVAL,
                requested_by=user if user is not None and user.is_authenticated else None,
                requested_via=via[:150],
                requested_at=now,
                expires_at=now + timedelta(seconds=policy.confirm_within_seconds),
            )
            state = WriteState.ARMED if armed else WriteState.AWAITING_APPROVAL
            message = (
                f"Armed: confirm within {policy.confirm_within_seconds} s to write {number:g} to {tag.path}."
                if armed
                else f"Waiting for a second person to approve writing {number:g} to {tag.path} within "
                f"{policy.confirm_within_seconds} s."
            )
            who.audit(
                AuditAction.PLC_WRITE_ARMED if armed else AuditAction.PLC_WRITE_APPROVAL_ASKED,
                tag,
                requested=number,
                request=request.pk,
                expires_at=request.expires_at.isoformat() if request.expires_at else None,
            )
            return WriteResult(
                state, message, request_id=request.pk, token=request.token, expires_at=request.expires_at
            )
    except _Refusal as refusal:
        return who.refuse(refusal, tag=tag, requested=value)


def tag_write_confirm(
    *, token: str, user: Actor, remote_addr: str | None = None, timeout: float = DEFAULT_TIMEOUT
) -> WriteResult:
    """Confirm an armed write (the person who armed it, before it expires): checked again, then written."""
    return _complete(token=token, user=user, remote_addr=remote_addr, timeout=timeout, expected=WriteRequestState.ARMED)


def tag_write_approve(
    *, token: str, user: Actor, remote_addr: str | None = None, timeout: float = DEFAULT_TIMEOUT
) -> WriteResult:
    """Approve a two-person write (anyone but its requester who may operate there, before it expires): checked
    again, then written."""
    return _complete(
        token=token, user=user, remote_addr=remote_addr, timeout=timeout, expected=WriteRequestState.AWAITING_APPROVAL
    )


def _complete(
    *, token: str, user: Actor, remote_addr: str | None, timeout: float, expected: WriteRequestState
) -> WriteResult:
    who = _Who(user=user, via="", remote_addr=remote_addr)
    now = timezone.now()
    request = (
        WriteRequest.objects.select_related("tag__machine__line__area", "tag__device")
        .filter(token=str(token)[:64], state=expected)
        .first()
    )
    if request is None:
        refusal = _Refusal(WriteRule.UNKNOWN_REQUEST, "No such write is waiting (already done, expired or refused).")
        return who.refuse(refusal, tag=None, requested=None)
    tag = request.tag
    try:
        with transaction.atomic():
            request = WriteRequest.objects.select_for_update().get(pk=request.pk)
            if request.state != expected:
                raise _Refusal(WriteRule.UNKNOWN_REQUEST, "This write was completed or refused meanwhile.")
            requester_id = request.requested_by_id
            user_id = user.pk if user is not None and user.is_authenticated else None
            if expected == WriteRequestState.ARMED and user_id != requester_id:
                raise _Refusal(WriteRule.OTHER_PERSON, "Only the person who armed a write confirms it.")
            if expected == WriteRequestState.AWAITING_APPROVAL and (user_id is None or user_id == requester_id):
                raise _Refusal(WriteRule.SAME_PERSON, "A second, different person approves a two-person write.")
            if request.expires_at is not None and now > request.expires_at:
                raise _Refusal(WriteRule.EXPIRED, f"The write expired at {request.expires_at:%H:%M:%S}: ask again.")
            if expected == WriteRequestState.AWAITING_APPROVAL:
                request.approved_by = user if isinstance(user, User) else None
            policy = _gate(tag=tag, user=user)
            return _execute(tag=tag, policy=policy, value=request.value, who=who, request=request, timeout=timeout)
    except _Refusal as refusal:
        # A request someone else tried to complete (or who may not) stays waiting for the right person; any other
        # refusal ends it.
        if refusal.rule not in (WriteRule.OTHER_PERSON, WriteRule.SAME_PERSON, WriteRule.PERMISSION):
            ended = WriteRequestState.EXPIRED if refusal.rule == WriteRule.EXPIRED else WriteRequestState.REFUSED
            WriteRequest.objects.filter(pk=request.pk, state=expected).update(state=ended, error=refusal.message)
        return who.refuse(refusal, tag=tag, requested=request.value, request=request.pk)


def tag_write_refuse(
    *,
    rule: WriteRule,
    message: str,
    tag: Tag | None,
    value: Any,
    user: Actor,
    via: str = "",
    remote_addr: str | None = None,
) -> WriteResult:
    """Refuse a write attempt decided before the steps above could run (a tag id that names no tag, an API token
    without the write scope): audited as every refusal, nothing written."""
    return _Who(user=user, via=via, remote_addr=remote_addr).refuse(_Refusal(rule, message), tag=tag, requested=value)


def tag_write_request_by_id(
    *,
    tag_id: Any,
    value: Any,
    user: Actor,
    via: str = "",
    remote_addr: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> WriteResult:
    """tag_write_request for a tag id as a client sent it: an id that names no tag is refused (UNKNOWN_TAG) and
    audited with the id it gave."""
    tag = None
    if isinstance(tag_id, int) and not isinstance(tag_id, bool) and 0 < tag_id < 2**63:
        tag = Tag.objects.select_related("machine__line__area", "device").filter(pk=tag_id).first()
    if tag is None:
        shown = tag_id if _plain_number(tag_id) else repr(tag_id)[:80]
        return _Who(user=user, via=via, remote_addr=remote_addr).refuse(
            _Refusal(WriteRule.UNKNOWN_TAG, f"No tag {shown}."), tag=None, requested=value, tag_id=shown
        )
    return tag_write_request(tag=tag, value=value, user=user, via=via, remote_addr=remote_addr, timeout=timeout)


# --- checks ----------------------------------------------------------------------------------------------------


def _parse_value(value: Any) -> float:
    """A finite number from what a person or a client sent; anything else is refused."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            raise _Refusal(WriteRule.INVALID_VALUE, "The number is too large.") from None
    elif isinstance(value, str) and len(value) <= MAX_VALUE_CHARS:
        try:
            number = float(value.strip())
        except ValueError:
            raise _Refusal(WriteRule.INVALID_VALUE, f"{value!r} is not a number.") from None
    else:
        raise _Refusal(WriteRule.INVALID_VALUE, f"A write takes a number, not {type(value).__name__}.")
    if not math.isfinite(number):
        raise _Refusal(WriteRule.INVALID_VALUE, f"{value!r} is not a finite number.")
    return number


def _gate(*, tag: Tag, user: Actor) -> WritePolicy:
    """Everything but the value: who, the tag, the device, the policy (locked for the rest of the transaction)."""
    if not tag_may_operate(user=user, tag=tag):
        raise _Refusal(WriteRule.PERMISSION, f"You may not operate in {tag.machine.line.area.name}.")
    fresh = Tag.objects.select_related("device").get(pk=tag.pk)
    if not fresh.writable:
        raise _Refusal(WriteRule.TAG_NOT_WRITABLE, f"{tag.path} is read-only.")
    device = fresh.device
    if device.quarantined_at is not None:
        raise _Refusal(WriteRule.DEVICE_QUARANTINED, f"{device.name} is quarantined: nothing is written to it.")
    if not device.writes_enabled:
        raise _Refusal(WriteRule.DEVICE_WRITES_DISABLED, f"Writes to {device.name} are not enabled.")
    if device.protocol not in (Protocol.MODBUS, Protocol.OPCUA, Protocol.SPARKPLUG):
        raise _Refusal(WriteRule.PROTOCOL, f"{device.get_protocol_display()} devices cannot be written.")
    policy = WritePolicy.objects.select_for_update().filter(tag_id=tag.pk).first()
    if policy is None:
        raise _Refusal(WriteRule.NO_POLICY, f"{tag.path} has no write policy.")
    return policy


_COMPARE = {
    InterlockComparison.EQ: lambda a, b: a == b,
    InterlockComparison.NE: lambda a, b: a != b,
    InterlockComparison.LT: lambda a, b: a < b,
    InterlockComparison.LE: lambda a, b: a <= b,
    InterlockComparison.GT: lambda a, b: a > b,
    InterlockComparison.GE: lambda a, b: a >= b,
}


def _value_checks(*, tag: Tag, policy: WritePolicy, value: float, current: float | None, now: datetime) -> None:
    """The policy's rules on the value, in order: range, interval, step, rate, interlock."""
    if not policy.min_value <= value <= policy.max_value:
        raise _Refusal(
            WriteRule.RANGE, f"{value:g} is outside the allowed {policy.min_value:g} .. {policy.max_value:g}."
        )
    last = (
        WriteRequest.objects.filter(tag_id=tag.pk, sent=True, executed_at__isnull=False)
        .order_by("-executed_at")
        .values_list("executed_at", flat=True)
        .first()
    )
    elapsed = (now - last).total_seconds() if last is not None else None
    if elapsed is not None and elapsed < policy.min_interval_seconds:
        raise _Refusal(
            WriteRule.INTERVAL,
            f"The last write was {elapsed:.1f} s ago; {policy.min_interval_seconds:g} s between writes at least.",
        )
    if policy.max_step is not None or policy.max_rate_per_second is not None:
        if current is None:
            raise _Refusal(WriteRule.CURRENT_UNKNOWN, f"The current value of {tag.path} could not be read.")
        step = abs(value - current)
        if policy.max_step is not None and step > policy.max_step:
            raise _Refusal(
                WriteRule.STEP, f"{value:g} is {step:g} from the current {current:g}; {policy.max_step:g} at most."
            )
        if policy.max_rate_per_second is not None and elapsed is not None:
            rate = step / max(elapsed, 1e-6)
            if rate > policy.max_rate_per_second:
                raise _Refusal(
                    WriteRule.RATE,
                    f"{step:g} in {elapsed:.1f} s since the last write is {rate:.3g}/s; "
                    f"{policy.max_rate_per_second:g}/s at most.",
                )
    if policy.interlock_tag_id is not None and policy.interlock_value is not None:
        held = current_values(tag_ids=[policy.interlock_tag_id]).get(policy.interlock_tag_id)
        text = policy.interlock_text()
        if held is None or not quality_is_good(held.quality) or not isinstance(held.value, int | float):
            raise _Refusal(WriteRule.INTERLOCK, f"Interlock {text}: its current value is unknown or not good.")
        if not _COMPARE[InterlockComparison(policy.interlock_comparison)](held.value, policy.interlock_value):
            raise _Refusal(WriteRule.INTERLOCK, f"Interlock {text} does not hold (it is {held.value:g}).")


# --- the device ------------------------------------------------------------------------------------------------


def _point(tag: Tag) -> PointRequest:
    return PointRequest(
        tag.pk, tag.address, tag.data_type, tag.scale, tag.offset, tag.word_order or None, tag.byte_order or None
    )


def _read(driver: Any, tag: Tag) -> float | None:
    try:
        reading = driver.read([_point(tag)])[0]
    except DeviceUnreachable:
        return None
    if not quality_is_good(reading.quality) or not isinstance(reading.value, int | float):
        return None
    return float(reading.value)


def _historian_value(tag: Tag) -> float | None:
    """The tag's current value in the historian, when good (a Sparkplug device publishes; it is not read)."""
    held = current_values(tag_ids=[tag.pk]).get(tag.pk)
    if held is None or not quality_is_good(held.quality) or not isinstance(held.value, int | float):
        return None
    return float(held.value)


def _device_value(tag: Tag) -> float | None:
    """The tag's value read from its device now, through a driver of this call's own."""
    if tag.device.protocol == Protocol.SPARKPLUG:
        return _historian_value(tag)
    registry = DriverRegistry()
    try:
        return _read(registry.driver_for(tag.device), tag)
    finally:
        registry.close({tag.device_id})


def _execute(
    *, tag: Tag, policy: WritePolicy, value: float, who: _Who, request: WriteRequest | None, timeout: float
) -> WriteResult:
    """Read the current value, check the value against the policy with it, write, record. In the caller's
    transaction, with the policy locked."""
    now = timezone.now()
    if tag.device.protocol == Protocol.SPARKPLUG:
        old = _historian_value(tag)
        _value_checks(tag=tag, policy=policy, value=value, current=old, now=now)
        outcome = sparkplug_command_send(device=tag.device, point=_point(tag), value=value, timeout=timeout)
    else:
        registry = DriverRegistry()
        try:
            driver = registry.driver_for(tag.device)
            old = _read(driver, tag)
            _value_checks(tag=tag, policy=policy, value=value, current=old, now=now)
            outcome = driver.write(_point(tag), value, timeout=timeout)
        finally:
            registry.close({tag.device_id})
    done = timezone.now()
    read_back = outcome.read_back if isinstance(outcome.read_back, int | float) else None
    if request is None:
        request = WriteRequest(
            tag=tag,
            value=value,
            token=secrets.token_urlsafe(24),
            requested_by=who.user if isinstance(who.user, User) else None,
            requested_via=who.via[:150],
            requested_at=now,
        )
    request.state = WriteRequestState.EXECUTED
    request.executed_at = done
    request.sent = outcome.sent
    request.old_value = old
    request.read_back = None if read_back is None else float(read_back)
    request.outcome = outcome.status.value
    request.error = outcome.error
    request.save()
    who.audit(
        AuditAction.PLC_WRITE,
        tag,
        requested=value,
        old_value=old,
        read_back=request.read_back,
        outcome=outcome.status.value,
        sent=outcome.sent,
        error=outcome.error,
        seconds=round(outcome.seconds, 4),
        request=request.pk,
        mode=policy.confirmation,
        requested_by=request.requested_by.get_username() if request.requested_by else "",
        approved_by=request.approved_by.get_username() if request.approved_by else "",
    )
    message = {
        WriteStatus.CONFIRMED: f"{tag.path} is now {read_back:g}." if read_back is not None else "Written.",
        WriteStatus.MISMATCHED: f"Written, but {tag.path} holds {outcome.read_back!r}: {outcome.error}",
        WriteStatus.FAILED: f"The write failed: {outcome.error}",
    }[outcome.status]
    return WriteResult(WriteState.EXECUTED, message, request_id=request.pk, outcome=outcome)


def _plain_number(value: Any) -> bool:
    """A number the audit trail's JSON holds as it is (no NaN, no infinity, no 400-digit integer)."""
    if isinstance(value, bool | float):
        return math.isfinite(value)
    return isinstance(value, int) and abs(value) < 2**63


@dataclass(frozen=True, slots=True)
class _Who:
    user: Actor
    via: str
    remote_addr: str | None
    rule: bool = False

    def audit(self, action: str, tag: Tag | None, **details: Any) -> None:
        details = {
            "tag": tag.pk if tag is not None else None,
            "device": tag.device_id if tag is not None else None,
            **details,
        }
        if self.via:
            details["via"] = self.via
        if self.rule:
            details["by_rule"] = self.via  # the requester is a rule: its name and version
        audit_record(
            actor=self.user,
            action=action,
            target=tag.path if tag is not None else "",
            details=details,
            remote_addr=self.remote_addr,
        )
        if tag is not None:
            write_event_publish(action=action, tag=tag, user=self.user, details=details)

    def refuse(self, refusal: _Refusal, *, tag: Tag | None, requested: Any, **details: Any) -> WriteResult:
        """Audit a refusal (nothing was written) and say so."""
        shown = requested if _plain_number(requested) else repr(requested)[:80]
        self.audit(
            AuditAction.PLC_WRITE_REFUSED,
            tag,
            requested=shown,
            rule=refusal.rule.value,
            message=refusal.message,
            **details,
        )
        return WriteResult(WriteState.REFUSED, refusal.message, rule=refusal.rule, request_id=details.get("request"))
