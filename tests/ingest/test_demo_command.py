from django.core.management import call_command

from historian.models import Device, Line, Machine, Tag


def test_demo_setup_loads_the_plant_and_the_admin(db, django_user_model, monkeypatch, tmp_path, settings, capsys):
    settings.MILLWRIGHT_STATE_DIR = tmp_path
    monkeypatch.setenv("MILLWRIGHT_DEMO_USER", "demo-admin")
    monkeypatch.setenv("MILLWRIGHT_DEMO_PASSWORD", "demo-pass-123")

    call_command("demo", "--setup-only", "--simulator-port", "15999")
    call_command("demo", "--setup-only", "--simulator-port", "15999")  # idempotent

    out = capsys.readouterr().out
    assert Line.objects.count() == 3
    assert Machine.objects.count() == 9
    assert Tag.objects.count() >= 150
    assert set(Device.objects.values_list("unit_id", flat=True)) == {1, 2, 3}
    assert all(m.state_tag_id for m in Machine.objects.all())
    admin = django_user_model.objects.get(username="demo-admin")
    assert admin.is_superuser
    assert admin.check_password("demo-pass-123")
    assert "demo-pass-123" in out
    assert "http://127.0.0.1:" in out


def test_demo_password_is_generated_once_and_kept(db, monkeypatch, tmp_path, settings, capsys):
    settings.MILLWRIGHT_STATE_DIR = tmp_path
    monkeypatch.delenv("MILLWRIGHT_DEMO_PASSWORD", raising=False)

    call_command("demo", "--setup-only")
    password = (tmp_path / "demo" / "admin-password").read_text().strip()
    call_command("demo", "--setup-only")

    assert len(password) >= 12
    assert (tmp_path / "demo" / "admin-password").read_text().strip() == password
    assert capsys.readouterr().out.count(password) == 2
