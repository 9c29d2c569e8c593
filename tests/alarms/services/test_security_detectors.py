"""The detectors this side owns, end to end to the alarm: the inventory's changed identity or certificate, and
the OPC UA client's refusal of a changed server certificate (against real secure asyncua servers)."""

from datetime import UTC, datetime, timedelta

from alarms.models import Alarm
from ingest.acquisition.poll import device_poll
from inventory.models import Asset
from inventory.services.assets import asset_observe
from tests.ingest.acquisition.test_opcua_trust import _secure_device, _server, _sha256, _state_dir  # noqa: F401 (fixture)
from tests.opcua_fixtures import START_TIMEOUT

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def test_a_plc_that_identifies_itself_differently_raises_a_security_alarm_with_the_evidence(
    db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        asset_observe(protocol="modbus", key="10.0.0.5:502/1", observed_at=T0, identity={"VendorName": "Acme"})
        asset_observe(
            protocol="modbus",
            key="10.0.0.5:502/1",
            observed_at=T0 + timedelta(hours=1),
            identity={"VendorName": "Evil"},
        )

    asset = Asset.objects.get()
    alarm = Alarm.objects.select_related("definition").get(definition__source=f"identity_changed:asset:{asset.pk}")
    assert alarm.state == "unack_rtn"
    assert alarm.definition.category == "security"
    assert alarm.evidence["evidence"]["changes"] == {"VendorName": {"before": "Acme", "after": "Evil"}}
    assert alarm.evidence["asset_id"] == asset.pk


def test_a_refused_changed_opcua_certificate_raises_a_security_alarm_with_both_thumbprints(
    db, tmp_path, opcua_client_pki, django_capture_on_commit_callbacks, polling
):
    first = _server(0, tmp_path / "server-a").start(timeout=START_TIMEOUT)
    port = first.port
    device, scan_class = _secure_device(port, opcua_client_pki)
    try:
        outcome = device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)
        assert outcome.status == "stored"  # pinned
    finally:
        first.stop()
    polling.drivers.close_all()
    impostor = _server(port, tmp_path / "server-b").start(timeout=START_TIMEOUT)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            outcome = device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)
            assert outcome.status == "unreachable"
    finally:
        impostor.stop()

    alarm = Alarm.objects.get(definition__source=f"certificate_changed:opcua-device:{device.pk}")
    evidence = alarm.evidence["evidence"]
    assert evidence["trusted_sha256"] == _sha256(first.certificate_path)
    assert evidence["offered_sha256"] == _sha256(impostor.certificate_path)
    assert alarm.state == "unack_rtn"
    assert "certificate" in alarm.message


def test_a_subscribed_server_is_pinned_on_first_use_and_a_changed_certificate_raises_the_alarm_once(
    db, tmp_path, opcua_client_pki, django_capture_on_commit_callbacks
):
    from historian.models import Device
    from ingest.acquisition.subscriptions import SubscriptionRunner
    from ingest.protocols.opcua.configure import certificate_thumbprint
    from tests.waiting import step_until

    first = _server(0, tmp_path / "server-a").start(timeout=START_TIMEOUT)
    port = first.port
    device, _scan_class = _secure_device(port, opcua_client_pki)
    Device.objects.filter(pk=device.pk).update(use_subscriptions=True, publishing_interval_ms=100)
    runner = SubscriptionRunner(flush_seconds=0.05)
    runner.start()
    try:
        try:
            step_until(
                runner.step,
                lambda: Device.objects.get(pk=device.pk).server_certificate,
                timeout=30,
                what="the subscription's first secure link pinning the server certificate",
            )
        finally:
            first.stop()
        device.refresh_from_db()
        assert certificate_thumbprint(device.server_certificate) == _sha256(first.certificate_path)

        impostor = _server(port, tmp_path / "server-b").start(timeout=START_TIMEOUT)  # same address, other cert
        try:
            with django_capture_on_commit_callbacks(execute=True):
                alarm = step_until(
                    runner.step,
                    lambda: Alarm.objects.filter(
                        definition__source=f"certificate_changed:opcua-device:{device.pk}"
                    ).first(),
                    timeout=60,
                    what="the subscription refusing the changed certificate and the security alarm",
                )
                # the subscription keeps retrying and is refused again: its runner reported the refusal once
                drops = 0

                def refused_again() -> bool:
                    nonlocal drops
                    drops += runner.step().drops
                    return drops >= 1

                step_until(lambda: None, refused_again, timeout=30, what="the subscription refused again")
                last_error = Device.objects.get(pk=device.pk).last_error
        finally:
            impostor.stop()
    finally:
        runner.shutdown()

    assert "certificate changed" in last_error
    evidence = alarm.evidence["evidence"]
    assert evidence["trusted_sha256"] == _sha256(first.certificate_path)
    assert evidence["offered_sha256"] == _sha256(impostor.certificate_path)
    assert alarm.definition.category == "security"
    alarm.refresh_from_db()
    assert alarm.repeat_count == 0  # not raised again by the second refusal
    device.refresh_from_db()
    assert certificate_thumbprint(device.server_certificate) == _sha256(first.certificate_path)  # still pinned
