from django.db import migrations, models


class Migration(migrations.Migration):
    """The sandbox has a catalogue of its own: a product is live or a sandbox product, and an SKU is unique per
    partner and mode (a sandbox key's "A-1" is not the live "A-1")."""

    dependencies = [
        ("core", "0003_notice"),
        ("warehouses", "0003_lean_stock_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="product",
            name="is_test",
            field=models.BooleanField(db_default=False, default=False, verbose_name="sandbox product"),
        ),
        migrations.RemoveConstraint(
            model_name="product",
            name="product_sku_unique_per_partner",
        ),
        migrations.AddConstraint(
            model_name="product",
            constraint=models.UniqueConstraint(
                fields=("partner", "sku", "is_test"), name="product_sku_unique_per_partner_and_mode"
            ),
        ),
    ]
