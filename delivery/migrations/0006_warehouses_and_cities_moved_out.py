
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('delivery', '0005_one_sequence_with_the_status_history'),
        ('geography', '0001_initial'),
    ]

    # State only: the tables keep their names (Meta.db_table) and their rows; issue 16 moved the models of
    # geography and the catalogue out of `warehouses` without touching the database.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                    migrations.AlterField(
                        model_name='cashbalance',
                        name='warehouse',
                        field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='geography.warehouse'),
                    ),
                    migrations.AlterField(
                        model_name='cashmove',
                        name='warehouse',
                        field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='geography.warehouse'),
                    ),
                    migrations.AlterField(
                        model_name='collection',
                        name='city',
                        field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='geography.city'),
                    ),
                    migrations.AlterField(
                        model_name='courierday',
                        name='warehouse',
                        field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='geography.warehouse', verbose_name='warehouse'),
                    ),
            ],
        ),
    ]
