"""Fixtures of the tag CSV tests."""

import pytest

from tests.historian.services.tag_csv.support import plant_build


@pytest.fixture
def plant(db):
    plant_build(2, 3, 4)


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("chief", password="pw-chief-1")
