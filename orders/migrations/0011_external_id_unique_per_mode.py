from django.db import migrations, models


class Migration(migrations.Migration):
    """A partner's order number is unique per mode: the sandbox's test orders never take the numbers of live ones
    (a CRM that tested with the numbers it then uses live gets its live orders created)."""

    dependencies = [
        ("core", "0003_notice"),
        ("orders", "0010_amendments"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="order",
            constraint=models.UniqueConstraint(
                fields=("partner", "external_id", "is_test"),
                name="order_external_id_unique_per_partner_and_mode",
            ),
        ),
        migrations.RemoveConstraint(
            model_name="order",
            name="order_external_id_unique_per_partner",
        ),
    ]
