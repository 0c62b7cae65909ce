
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('callcenter', '0004_queue_in_working_hours'),
        ('geography', '0001_initial'),
    ]

    # State only: the tables keep their names (Meta.db_table) and their rows; issue 16 moved the models of
    # geography and the catalogue out of `warehouses` without touching the database.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                    migrations.AlterField(
                        model_name='deliveryregistry',
                        name='warehouse',
                        field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='registries', to='geography.warehouse'),
                    ),
            ],
        ),
    ]
