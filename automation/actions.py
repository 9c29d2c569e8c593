"""What a rule does when it fires: the action kinds, and the extension point for more.

Each kind resolves its document (references by path or name, checked now: a rule with a wrong action is not
saved), says what it would do (dry run) and does it. Another app adds a kind with `action_kind_register` from its
AppConfig.ready(), without this app knowing it. "Open a maintenance work request" (`work_request`) lives here: the
maintenance app sits below this one, so this one calls it.

Every action runs off the ingest thread (automation.tasks.rule_firing_run) and never raises: its outcome is a dict
kept in the firing's journal. A write goes through the tag's write policy (ingest.services.writes) with the rule as
its requester (`via`: "rule <name> v<version>", on behalf of the rule's `run_as` person, whose permission to operate
is checked like anyone's); a rule can never bypass a policy, and never writes a tag whose policy asks a person to
confirm or approve.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

from automation.specs import Action


@dataclass(frozen=True, slots=True)
class ActionKind:
    resolve: Callable[[dict], Action]
    run: Callable[..., dict]  # run(action=, rule=, firing=) -> outcome


_kinds: dict[str, ActionKind] = {}


def action_kind_register(name: str, kind: ActionKind) -> None:
    """Add an action kind (once per process, from an AppConfig.ready())."""
    _kinds[name] = kind


def action_kinds() -> dict[str, ActionKind]:
    return dict(_kinds)


def _write_resolve(document: dict) -> Action:
    from automation.specs import _number, _tag

    tag = _tag(document.get("tag"), "Write")
    if not tag.writable:
        raise ValidationError(f"Write: {tag.path} is read-only.")
    value = _number(document, "value", "Write")
    return Action("write", f"write {value:g} to {tag.path}", {"tag_id": tag.pk, "value": value})


def _write_run(*, action: Action, rule: Any, firing: Any) -> dict:
    from historian.models import Tag
    from ingest.services.writes import tag_write_request

    tag = Tag.objects.select_related("machine__line__area", "device").get(pk=action.params["tag_id"])
    result = tag_write_request(
        tag=tag, value=action.params["value"], user=rule.run_as, via=f"rule {rule.name} v{firing.version}", rule=True
    )
    return {
        "state": result.state.value,
        "message": result.message,
        "rule": result.rule.value if result.rule else None,
        "request": result.request_id,
        "confirmed": result.confirmed,
    }


def _device_resolve(document: dict) -> Action:
    from historian.models import Device

    device = Device.objects.filter(name=str(document.get("device", ""))).first()
    if device is None:
        raise ValidationError(f"Out of service: no device {document.get('device')!r}.")
    return Action("device_out_of_service", f"take {device.name} out of service", {"device_id": device.pk})


def _device_run(*, action: Action, rule: Any, firing: Any) -> dict:
    from historian.models import Device
    from ingest.services.devices import device_enabled_set

    device = Device.objects.get(pk=action.params["device_id"])
    outcome = device_enabled_set(device=device, enabled=False, user=rule.run_as)
    return {"state": "done" if outcome is not None else "already", "message": f"{device.name} out of service"}


def _notify_resolve(document: dict) -> Action:
    from alarms.models import NotificationRoute

    route = NotificationRoute.objects.filter(name=str(document.get("route", ""))).first()
    if route is None:
        raise ValidationError(f"Notify: no notification route {document.get('route')!r}.")
    message = str(document.get("message", "")).strip()
    if not message or len(message) > 400:
        raise ValidationError("Notify: a message of 1 to 400 characters.")
    return Action("notify", f"notify {route.name}", {"route_id": route.pk, "message": message})


def _notify_run(*, action: Action, rule: Any, firing: Any) -> dict:
    from alarms.models import NotificationRoute
    from alarms.services.notifications import NotificationError, message_send

    route = NotificationRoute.objects.get(pk=action.params["route_id"])
    payload = {
        "kind": "rule",
        "rule": rule.name,
        "version": firing.version,
        "time": firing.time.isoformat(),
        "message": action.params["message"],
        "values": firing.values,
    }
    try:
        message_send(route=route, subject=action.params["message"], payload=payload)
    except NotificationError as error:
        return {"state": "failed", "message": str(error)}
    return {"state": "sent", "message": f"sent to {route.name}"}


def _work_request_resolve(document: dict) -> Action:
    from historian.models import Machine

    name = str(document.get("machine", ""))
    line, _, machine_name = name.rpartition("/")
    machines = Machine.objects.filter(name=machine_name)
    if line:
        machines = machines.filter(line__name=line)
    found = list(machines[:2])
    if len(found) != 1:
        what = "no machine" if not found else "more than one machine named"
        raise ValidationError(f"Work request: {what} {name!r} (name it as line/machine).")
    component = str(document.get("component", "")).strip()
    title = str(document.get("title", "")).strip()
    if not component or not title or len(component) > 100 or len(title) > 200:
        raise ValidationError("Work request: a component (1-100 characters) and a title (1-200 characters).")
    return Action(
        "work_request",
        f"open a work request on {found[0].name} ({component})",
        {"machine_id": found[0].pk, "component": component, "title": title},
    )


def _work_request_run(*, action: Action, rule: Any, firing: Any) -> dict:
    """One open request per machine and component: a rule firing again while it is open adds nothing."""
    from historian.models import Machine
    from maintenance.models import MaintenanceRequest, RequestStatus
    from maintenance.services.requests import RequestError, request_open

    machine = Machine.objects.select_related("line__area").get(pk=action.params["machine_id"])
    component = action.params["component"]
    already = (
        MaintenanceRequest.objects.filter(machine=machine, component=component)
        .exclude(status=RequestStatus.DONE)
        .values_list("pk", flat=True)
        .first()
    )
    if already is not None:
        return {"state": "already", "message": f"request #{already} is still open", "request": already}
    evidence = {"rule": rule.name, "version": firing.version, "time": firing.time.isoformat(), "values": firing.values}
    try:
        request = request_open(
            machine=machine, component=component, title=action.params["title"], evidence=evidence, user=rule.run_as
        )
    except (RequestError, PermissionError) as error:
        return {"state": "failed", "message": str(error)}
    return {"state": "opened", "message": f"request #{request.pk} opened", "request": request.pk}


action_kind_register("write", ActionKind(_write_resolve, _write_run))
action_kind_register("device_out_of_service", ActionKind(_device_resolve, _device_run))
action_kind_register("notify", ActionKind(_notify_resolve, _notify_run))
action_kind_register("work_request", ActionKind(_work_request_resolve, _work_request_run))
