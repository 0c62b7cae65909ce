"""The deliveries given up, for `/metrics` (`ketlogistic_webhook_deliveries_failed`): a partial index of the failed
rows only (a few), so a scrape counts them without reading the table. Built CONCURRENTLY: the outbox keeps taking
rows while it is built (a table of millions of deliveries takes seconds to scan)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("integrations", "0014_sms_not_sent_label"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="webhookdelivery",
            index=models.Index(
                condition=models.Q(("state", "failed")), fields=["endpoint"], name="webhook_delivery_failed"
            ),
        ),
    ]
