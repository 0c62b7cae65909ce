
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0003_notice'),
        ('geography', '0001_initial'),
    ]

    # State only: the tables keep their names (Meta.db_table) and their rows; issue 16 moved the models of
    # geography and the catalogue out of `warehouses` without touching the database.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                    migrations.AlterField(
                        model_name='staffscope',
                        name='city',
                        field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, to='geography.city', verbose_name='city'),
                    ),
            ],
        ),
    ]
