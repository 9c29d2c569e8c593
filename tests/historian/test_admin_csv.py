"""Tag CSV in admin: export, upload -> dry-run diff -> apply, with the job's progress polled as JSON."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.services.roles import Role
from historian.models import Tag
from historian.services.tag_csv import tag_export_csv
from historian.services.tag_import_jobs import tag_import_job_run
from tests.historian.services.tag_csv.support import plant_build, rows_of, write_rows


@pytest.fixture
def plant(db):
    plant_build(1, 2, 3)


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user("admin1", role=Role.ADMINISTRATOR))
    return client


def _upload(client, text: str) -> str:
    response = client.post(
        "/admin/historian/tag/import/", {"file": SimpleUploadedFile("tags.csv", text.encode(), "text/csv")}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return re.fullmatch(r"/admin/historian/tag/import/(\w+)/", response["Location"]).group(1)


def test_the_changelist_offers_import_and_export_and_exports_every_tag(admin_client, plant):
    html = admin_client.get("/admin/historian/tag/").content.decode()
    assert "/admin/historian/tag/import/" in html
    assert "/admin/historian/tag/export.csv" in html

    response = admin_client.get("/admin/historian/tag/export.csv")

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert b"".join(response.streaming_content).decode() == "".join(tag_export_csv())


def test_an_upload_is_checked_shown_as_a_diff_and_applied_on_confirmation(admin_client, plant):
    rows = rows_of("".join(tag_export_csv()))
    rows[0]["deadband"] = "7.5"
    job_id = _upload(admin_client, write_rows(rows))
    assert admin_client.get(f"/admin/historian/tag/import/{job_id}/status.json").json()["state"] == "queued"

    tag_import_job_run(job_id=job_id)  # what the Celery worker does

    assert admin_client.get(f"/admin/historian/tag/import/{job_id}/status.json").json() == {
        "state": "done",
        "stage": "",
        "done": 6,
        "total": 6,
    }
    page = admin_client.get(f"/admin/historian/tag/import/{job_id}/").content.decode()
    assert re.search(r'id="count-updated">1<', page)
    assert re.search(r'id="count-unchanged">5<', page)
    assert "deadband: 0.0 &rarr; 7.5" in page
    assert Tag.objects.get(path=rows[0]["path"]).deadband == 0.0  # a dry run writes nothing

    response = admin_client.post(f"/admin/historian/tag/import/{job_id}/apply/")
    apply_id = re.fullmatch(r"/admin/historian/tag/import/(\w+)/", response["Location"]).group(1)
    tag_import_job_run(job_id=apply_id)

    assert "Applied" in admin_client.get(f"/admin/historian/tag/import/{apply_id}/").content.decode()
    assert Tag.objects.get(path=rows[0]["path"]).deadband == 7.5


def test_a_file_with_errors_shows_them_by_line_and_offers_no_apply(admin_client, plant):
    rows = rows_of("".join(tag_export_csv()))
    rows[1]["scale"] = "big"
    job_id = _upload(admin_client, write_rows(rows))
    tag_import_job_run(job_id=job_id)

    page = admin_client.get(f"/admin/historian/tag/import/{job_id}/").content.decode()

    assert "<td>3</td><td>scale: &#x27;big&#x27; is not a number</td>" in page
    assert "/apply/" not in page


def test_a_file_with_the_wrong_columns_fails_with_a_message_naming_them(admin_client, plant):
    job_id = _upload(admin_client, "path,name,colour\r\nA,B,red\r\n")
    tag_import_job_run(job_id=job_id)

    page = admin_client.get(f"/admin/historian/tag/import/{job_id}/").content.decode()

    assert "unknown columns: colour" in page
    assert "missing columns: site, area" in page


def test_another_user_cannot_see_an_import(admin_client, plant, client, make_user):
    job_id = _upload(admin_client, "".join(tag_export_csv()))
    admin_client.force_login(make_user("admin2", role=Role.ADMINISTRATOR))
    assert admin_client.get(f"/admin/historian/tag/import/{job_id}/").status_code == 404
