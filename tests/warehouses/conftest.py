import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from geography.models import Warehouse
from ketlogistic.core.roles import Role
from tests.factories import city


@pytest.fixture
def main(reference_data):
    return Warehouse.objects.get(kind="main")


@pytest.fixture
def almaty(reference_data):
    return Warehouse.objects.get(city=city("Алматы"))


@pytest.fixture
def shymkent(reference_data):
    return Warehouse.objects.get(city=city("Шымкент"))


@pytest.fixture
def keeper(make_user):
    """Warehouse staff of the main warehouse and every city of Kazakhstan."""
    return make_user(Role.WAREHOUSE, scopes=[{"country": "KZ"}])


@pytest.fixture
def head(make_user, partner_a):
    return make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_a, "country": "KZ"}])


def photo(name="arrival.jpg", fmt="JPEG", size=(64, 48)) -> SimpleUploadedFile:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 230, 220)).save(buffer, format=fmt)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type=f"image/{fmt.lower()}")
