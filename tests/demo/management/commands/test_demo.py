import os
import signal
import socket
import subprocess
import sys
import uuid

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from alarms.models import Alarm, AlarmDefinition, AlarmKind, AlarmState, JournalEntry
from common.net import free_port
from historian.models import Device, Line, Machine, Protocol, Tag
from historian.quality import Quality
from historian.queries.history import current_values
from production.models import MachineProduction
from tests.waiting import wait_until


def test_demo_setup_loads_the_plant_and_the_admin(db, django_user_model, monkeypatch, tmp_path, settings, capsys):
    settings.MILLWRIGHT_STATE_DIR = tmp_path
    monkeypatch.setenv("MILLWRIGHT_DEMO_USER", "demo-admin")
    monkeypatch.setenv("MILLWRIGHT_DEMO_PASSWORD", "demo-pass-123")

    no_broker = f"127.0.0.1:{free_port()}"
    options = ["--simulator-port", "15999", "--opcua-port", "15998", "--mqtt-broker", no_broker]
    call_command("demo", "--setup-only", *options)
    call_command("demo", "--setup-only", *options)  # idempotent

    out = capsys.readouterr().out
    assert Line.objects.count() == 3
    assert Machine.objects.count() == 9
    assert Tag.objects.count() >= 150
    modbus = Device.objects.filter(protocol=Protocol.MODBUS)
    assert set(modbus.values_list("unit_id", flat=True)) == {1, 2}
    opcua = Device.objects.get(protocol=Protocol.OPCUA)  # line 3: the same simulator, over OPC UA
    assert (opcua.use_subscriptions, opcua.enabled) == (True, True)
    assert opcua.port != modbus[0].port  # 15998 and 15999, or free ones when those are taken
    assert set(opcua.tags.values_list("machine__line__name", flat=True)) == {"Line 3"}
    assert opcua.tags.filter(address="ns=2;s=Line3.CNC301.spindle_speed").exists()
    assert all(m.state_tag_id for m in Machine.objects.all())
    assert MachineProduction.objects.count() == 9  # the demo's OEE is configured (demo/production.py)
    admin = django_user_model.objects.get(username="demo-admin")
    assert admin.is_superuser
    assert admin.check_password("demo-pass-123")
    assert "demo-pass-123" in out
    assert "http://127.0.0.1:" in out
    assert f"opc.tcp://127.0.0.1:{opcua.port}/, subscribed: line 3" in out
    assert "Sparkplug B: no MQTT broker found, skipped" in out
    assert not Device.objects.filter(protocol=Protocol.SPARKPLUG).exists()


def test_with_an_mqtt_broker_line_2_comes_over_sparkplug(db, monkeypatch, tmp_path, settings, capsys):
    settings.MILLWRIGHT_STATE_DIR = tmp_path
    monkeypatch.setenv("MILLWRIGHT_DEMO_PASSWORD", "demo-pass-123")
    with socket.create_server(("127.0.0.1", 0)) as listening:  # anything that accepts connections will do
        address = f"127.0.0.1:{listening.getsockname()[1]}"
        call_command("demo", "--setup-only", "--mqtt-broker", "off")
        call_command("demo", "--setup-only", "--mqtt-broker", address)

    protocols = dict(Device.objects.values_list("name", "protocol"))
    assert protocols == {
        "Line 1 PLC": Protocol.MODBUS,
        "Line 2 edge node (Sparkplug B)": Protocol.SPARKPLUG,  # its Modbus device, left without tags, is gone
        "Line 3 OPC UA server": Protocol.OPCUA,
        "Millwright derived values": Protocol.DERIVED,  # the health scores' tags (maintenance)
    }
    edge = Device.objects.get(protocol=Protocol.SPARKPLUG)
    assert f"{edge.host}:{edge.port}" == address
    assert set(edge.tags.values_list("machine__line__name", flat=True)) == {"Line 2"}
    assert edge.tags.filter(address="CNC201/spindle_speed").exists()
    assert f"Sparkplug B through the MQTT broker at {address}: line 2" in capsys.readouterr().out


def test_demo_password_is_generated_once_and_kept(db, monkeypatch, tmp_path, settings, capsys):
    settings.MILLWRIGHT_STATE_DIR = tmp_path
    monkeypatch.delenv("MILLWRIGHT_DEMO_PASSWORD", raising=False)

    call_command("demo", "--setup-only")
    password = (tmp_path / "demo" / "admin-password").read_text().strip()
    call_command("demo", "--setup-only")

    assert len(password) >= 12
    assert (tmp_path / "demo" / "admin-password").read_text().strip() == password
    assert capsys.readouterr().out.count(password) == 2


@pytest.mark.slow
@pytest.mark.celery
@pytest.mark.timeout(240)
def test_the_demo_starts_with_every_link_up_and_no_comm_alarm(transactional_db, tmp_path):
    """`manage.py demo` as `make demo` runs it (honcho, every Procfile process): the OPC UA subscriptions and the
    pollers must not start before the simulator listens, or the first screen shows latched comm alarms."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "MILLWRIGHT_STATE_DIR": str(tmp_path),
        "MILLWRIGHT_DEMO_PASSWORD": "demo-pass-123",
        "CELERY_TASK_DEFAULT_QUEUE": f"demo-{uuid.uuid4().hex[:8]}",
        "PYTHONUNBUFFERED": "1",
    }
    ports = [str(free_port()) for _ in range(3)]
    log = open(tmp_path / "demo.log", "w")  # noqa: SIM115
    demo = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--port", ports[0], "--simulator-port", ports[1],
         "--opcua-port", ports[2], "--mqtt-broker", "off"],
        cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until(
            lambda: Machine.objects.filter(line__name="Line 3", state_tag__isnull=False).exists(),
            timeout=60,
            what="the demo plant to be loaded",
        )
        all_state_tags = list(Machine.objects.values_list("state_tag_id", flat=True))

        def every_machine_reported() -> bool:
            values = current_values(tag_ids=all_state_tags)
            return len(values) == len(all_state_tags) and all(v.quality == Quality.GOOD for v in values.values())

        wait_until(every_machine_reported, timeout=150, what="a good state from every machine (OPC UA included)")
    finally:
        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C, as a user stops it
        try:
            demo.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait(10)
        log.close()

    comm = AlarmDefinition.objects.filter(kind=AlarmKind.BAD_QUALITY, tag_id__in=all_state_tags)
    assert comm.count() == len(all_state_tags) == 9
    raised = JournalEntry.objects.filter(alarm__in=comm).values_list("message", flat=True)
    assert not raised, list(raised)
    assert not Alarm.objects.filter(definition__in=comm).exclude(state=AlarmState.NORMAL).exists()
