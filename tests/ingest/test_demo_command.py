from django.core.management import call_command

from historian.models import Device, Line, Machine, Protocol, Tag


def test_demo_setup_loads_the_plant_and_the_admin(db, django_user_model, monkeypatch, tmp_path, settings, capsys):
    settings.MILLWRIGHT_STATE_DIR = tmp_path
    monkeypatch.setenv("MILLWRIGHT_DEMO_USER", "demo-admin")
    monkeypatch.setenv("MILLWRIGHT_DEMO_PASSWORD", "demo-pass-123")

    call_command("demo", "--setup-only", "--simulator-port", "15999", "--opcua-port", "15998")
    call_command("demo", "--setup-only", "--simulator-port", "15999", "--opcua-port", "15998")  # idempotent

    out = capsys.readouterr().out
    assert Line.objects.count() == 3
    assert Machine.objects.count() == 9
    assert Tag.objects.count() >= 150
    modbus = Device.objects.filter(protocol=Protocol.MODBUS)
    assert set(modbus.values_list("unit_id", "port")) == {(1, 15999), (2, 15999)}
    opcua = Device.objects.get(protocol=Protocol.OPCUA)  # line 3: the same simulator, over OPC UA
    assert (opcua.port, opcua.use_subscriptions, opcua.enabled) == (15998, True, True)
    assert set(opcua.tags.values_list("machine__line__name", flat=True)) == {"Line 3"}
    assert opcua.tags.filter(address="ns=2;s=Line3.CNC301.spindle_speed").exists()
    assert all(m.state_tag_id for m in Machine.objects.all())
    admin = django_user_model.objects.get(username="demo-admin")
    assert admin.is_superuser
    assert admin.check_password("demo-pass-123")
    assert "demo-pass-123" in out
    assert "http://127.0.0.1:" in out
    assert "opc.tcp://127.0.0.1:15998/" in out


def test_demo_password_is_generated_once_and_kept(db, monkeypatch, tmp_path, settings, capsys):
    settings.MILLWRIGHT_STATE_DIR = tmp_path
    monkeypatch.delenv("MILLWRIGHT_DEMO_PASSWORD", raising=False)

    call_command("demo", "--setup-only")
    password = (tmp_path / "demo" / "admin-password").read_text().strip()
    call_command("demo", "--setup-only")

    assert len(password) >= 12
    assert (tmp_path / "demo" / "admin-password").read_text().strip() == password
    assert capsys.readouterr().out.count(password) == 2
