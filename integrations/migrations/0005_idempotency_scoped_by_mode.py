from django.db import migrations, models


class Migration(migrations.Migration):
    """Idempotency keys are scoped by partner and mode (live / sandbox); a row is written only with the request's
    own changes, so "in flight" rows no longer exist (claims are transaction-level advisory locks)."""

    dependencies = [
        ("core", "0003_notice"),
        ("integrations", "0004_excel_per_line_preview"),
    ]

    operations = [
        # The rows of the old scheme do not say which mode made them (a sandbox reply would be replayed to a live
        # request) and in-flight claims carry no reply: all are forgotten. A retry then runs again, and an order's
        # own number still never makes a second order.
        migrations.RunSQL("DELETE FROM integrations_idempotencyrecord", reverse_sql=migrations.RunSQL.noop),
        migrations.RemoveConstraint(
            model_name="idempotencyrecord",
            name="idempotency_key_unique_per_partner",
        ),
        migrations.RemoveField(
            model_name="idempotencyrecord",
            name="completed_at",
        ),
        migrations.RemoveField(
            model_name="idempotencyrecord",
            name="state",
        ),
        migrations.AddField(
            model_name="idempotencyrecord",
            name="is_test",
            field=models.BooleanField(default=False),
        ),
        migrations.AlterField(
            model_name="idempotencyrecord",
            name="response_body",
            field=models.BinaryField(),
        ),
        migrations.AlterField(
            model_name="idempotencyrecord",
            name="response_status",
            field=models.PositiveSmallIntegerField(),
        ),
        migrations.AddConstraint(
            model_name="idempotencyrecord",
            constraint=models.UniqueConstraint(
                fields=("partner", "is_test", "key"), name="idempotency_key_unique_per_partner_and_mode"
            ),
        ),
    ]
