from django.db import migrations

from ketlogistic.core.model_moves import follow_moved_models


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("core", "0004_staffscope_city_in_geography"),
        ("geography", "0001_initial"),
        ("warehouses", "0005_geography_and_catalogue_moved_out"),
    ]

    operations = [
        follow_moved_models("warehouses", "geography", ["City", "DistanceBand", "ShippingGroup", "Warehouse"]),
    ]
