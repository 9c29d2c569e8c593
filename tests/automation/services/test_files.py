"""Rules round-trip through a JSON file: export, a plan with each rule's changes, apply (new versions, audited);
an invalid file changes nothing."""

import json

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditAction, AuditEvent
from automation.models import Rule
from automation.services.files import rules_export, rules_import_apply, rules_import_plan


def test_export_then_import_is_unchanged_and_an_edit_is_planned_then_applied(vibration_rule, admin):
    content = rules_export()
    plan = rules_import_plan(content=content)
    assert [(p.name, p.action) for p in plan.rules] == [("Vibration high", "unchanged")]

    data = json.loads(content)
    data["rules"][0]["cooldown_seconds"] = 60
    data["rules"].append(data["rules"][0] | {"name": "Vibration copy", "enabled": False})
    plan = rules_import_plan(content=json.dumps(data))
    assert [(p.name, p.action) for p in plan.rules] == [("Vibration high", "update"), ("Vibration copy", "create")]
    assert plan.rules[0].changes == {"cooldown_seconds": (300, 60)}

    assert rules_import_apply(plan=plan, user=admin) == ["Vibration high", "Vibration copy"]
    vibration_rule.refresh_from_db()
    assert (vibration_rule.cooldown_seconds, vibration_rule.version) == (60, 2)
    assert Rule.objects.get(name="Vibration copy").version == 1
    event = AuditEvent.objects.get(action=AuditAction.RULE_IMPORT)
    assert event.details["created"] == ["Vibration copy"]
    assert event.details["updated"] == ["Vibration high"]


def test_an_invalid_rule_in_the_file_imports_nothing(vibration_rule, admin):
    data = json.loads(rules_export())
    data["rules"][0]["cooldown_seconds"] = 1
    data["rules"].append({"name": "Broken", "condition": {"type": "tag", "tag": "nowhere"}, "actions": []})
    plan = rules_import_plan(content=json.dumps(data))
    assert not plan.valid
    assert any("no tag 'nowhere'" in e for e in plan.rules[1].errors)
    with pytest.raises(ValidationError):
        rules_import_apply(plan=plan, user=admin)
    vibration_rule.refresh_from_db()
    assert vibration_rule.cooldown_seconds == 300
    with pytest.raises(ValidationError, match="Not a JSON file"):
        rules_import_plan(content=b"rules: []")


def test_the_admin_import_shows_the_plan_then_applies_it(vibration_rule, client, admin):
    client.force_login(admin)
    data = json.loads(rules_export())
    data["rules"][0]["description"] = "reviewed"
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("rules.json", json.dumps(data).encode(), content_type="application/json")
    page = client.post("/admin/automation/rule/import/", {"file": upload})
    assert page.status_code == 200
    assert "reviewed" in page.content.decode()
    vibration_rule.refresh_from_db()
    assert vibration_rule.description == ""
    done = client.post("/admin/automation/rule/import/", {"content": json.dumps(data), "apply": "1"})
    assert done.status_code == 302
    vibration_rule.refresh_from_db()
    assert vibration_rule.description == "reviewed"
