"""A partner's decision keeps the partner's answer it rests on: `OrderAmendment.partner_answer`, the message in the
order's discussion by the partner's own staff (`orders.amendments.partner_answer`). Rows written before it have none."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0012_status_history_without_personal_data"),
    ]

    operations = [
        migrations.AddField(
            model_name="orderamendment",
            name="partner_answer",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.RESTRICT,
                related_name="+",
                to="orders.discussionmessage",
                verbose_name="the partner's answer",
            ),
        ),
    ]
