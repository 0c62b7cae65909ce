
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('catalogue', '0001_initial'),
        ('geography', '0001_initial'),
        ('orders', '0013_amendment_partner_answer'),
    ]

    # State only: the tables keep their names (Meta.db_table) and their rows; issue 16 moved the models of
    # geography and the catalogue out of `warehouses` without touching the database.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                    migrations.AlterField(
                        model_name='order',
                        name='city',
                        field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='orders', to='geography.city', verbose_name='city'),
                    ),
                    migrations.AlterField(
                        model_name='orderitem',
                        name='product',
                        field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='order_items', to='catalogue.product', verbose_name='product'),
                    ),
            ],
        ),
    ]
