"""The logists' queue now ranks from the calling state's own index (callcenter 0002): this one only cost writes."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0007_calling_queue_index"),
        ("callcenter", "0002_queue_rank"),
    ]

    operations = [migrations.RemoveIndex(model_name="order", name="order_calling_queue")]
