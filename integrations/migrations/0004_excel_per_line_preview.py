from django.db import migrations, models
from django.db.models import F


def new_orders_of_checked_uploads(apps, schema_editor):
    """Uploads checked before the count existed: their valid orders are taken as new (an import never
    creates an order twice, so the worst case is a button that creates nothing)."""
    ExcelImport = apps.get_model("integrations", "ExcelImport")
    ExcelImport.objects.filter(state="validated").update(orders_new=F("orders_valid"))


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0003_outbound_claims_and_queued_runs"),
    ]

    operations = [
        migrations.AddField(
            model_name="excelmapping",
            name="per_line",
            field=models.JSONField(blank=True, default=list, verbose_name="given per line"),
        ),
        migrations.AddField(
            model_name="excelimport",
            name="orders_new",
            field=models.PositiveIntegerField(default=0, verbose_name="new orders"),
        ),
        migrations.AddField(
            model_name="excelimport",
            name="preview",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.RunPython(new_orders_of_checked_uploads, migrations.RunPython.noop),
    ]
