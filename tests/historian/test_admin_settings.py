"""Historian settings in the admin: one row, opened straight from the list, retention queued on save."""

from historian.models import HistorianSettings


def test_settings_list_opens_the_single_row(admin_client):
    response = admin_client.get("/admin/historian/historiansettings/")

    assert response.status_code == 302
    assert response.url == f"/admin/historian/historiansettings/{HistorianSettings.load().pk}/change/"


def test_default_retention_is_changed_in_the_admin_and_retention_is_queued(
    admin_client, django_capture_on_commit_callbacks
):
    settings = HistorianSettings.load()

    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(
            f"/admin/historian/historiansettings/{settings.pk}/change/",
            {"default_retention_days": "30", "chunk_interval_hours": "24", "compress_after_days": "7"},
        )

    assert response.status_code == 302
    settings.refresh_from_db()
    assert settings.default_retention_days == 30
    assert len(callbacks) == 1


def test_a_retention_below_one_day_is_refused(admin_client):
    settings = HistorianSettings.load()

    response = admin_client.post(
        f"/admin/historian/historiansettings/{settings.pk}/change/",
        {"default_retention_days": "0", "chunk_interval_hours": "24", "compress_after_days": "7"},
    )

    assert response.status_code == 200
    assert "Ensure this value is greater than or equal to 1" in response.content.decode()
    settings.refresh_from_db()
    assert settings.default_retention_days is None
