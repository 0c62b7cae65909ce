
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0003_work_starts_only_with_work'),
        ('geography', '0001_initial'),
    ]

    # State only: the tables keep their names (Meta.db_table) and their rows; issue 16 moved the models of
    # geography and the catalogue out of `warehouses` without touching the database.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                    migrations.AlterField(
                        model_name='charge',
                        name='city',
                        field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='geography.city'),
                    ),
                    migrations.AlterField(
                        model_name='entry',
                        name='city',
                        field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='geography.city'),
                    ),
                    migrations.AlterField(
                        model_name='tariffline',
                        name='city',
                        field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='geography.city', verbose_name='city'),
                    ),
            ],
        ),
    ]
