
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0004_city_moved_out'),
        ('callcenter', '0005_warehouse_moved_out'),
        ('catalogue', '0001_initial'),
        ('core', '0004_staffscope_city_in_geography'),
        ('delivery', '0006_warehouses_and_cities_moved_out'),
        ('geography', '0001_initial'),
        ('orders', '0014_city_and_product_moved_out'),
        ('warehouses', '0004_product_sandbox_catalogue'),
    ]

    # State only: the tables keep their names (Meta.db_table) and their rows; issue 16 moved the models of
    # geography and the catalogue out of `warehouses` without touching the database.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                    migrations.RemoveField(
                        model_name='city',
                        name='served_from',
                    ),
                    migrations.RemoveField(
                        model_name='warehouse',
                        name='city',
                    ),
                    migrations.RemoveField(
                        model_name='distanceband',
                        name='city',
                    ),
                    migrations.RemoveField(
                        model_name='product',
                        name='partner',
                    ),
                    migrations.AlterField(
                        model_name='transferline',
                        name='product',
                        field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='catalogue.product', verbose_name='product'),
                    ),
                    migrations.AlterField(
                        model_name='receiptline',
                        name='product',
                        field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='catalogue.product', verbose_name='product'),
                    ),
                    migrations.AlterField(
                        model_name='stockmove',
                        name='product',
                        field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='moves', to='catalogue.product'),
                    ),
                    migrations.AlterField(
                        model_name='stockbalance',
                        name='product',
                        field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='balances', to='catalogue.product'),
                    ),
                    migrations.DeleteModel(
                        name='ShippingGroup',
                    ),
                    migrations.AlterField(
                        model_name='transfer',
                        name='destination',
                        field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='geography.warehouse', verbose_name='to'),
                    ),
                    migrations.AlterField(
                        model_name='stockbalance',
                        name='warehouse',
                        field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='geography.warehouse'),
                    ),
                    migrations.AlterField(
                        model_name='receipt',
                        name='warehouse',
                        field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='receipts', to='geography.warehouse'),
                    ),
                    migrations.AlterField(
                        model_name='stockmove',
                        name='to_warehouse',
                        field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='geography.warehouse'),
                    ),
                    migrations.AlterField(
                        model_name='transfer',
                        name='origin',
                        field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='geography.warehouse', verbose_name='from'),
                    ),
                    migrations.AlterField(
                        model_name='stockmove',
                        name='from_warehouse',
                        field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='geography.warehouse'),
                    ),
                    migrations.DeleteModel(
                        name='City',
                    ),
                    migrations.DeleteModel(
                        name='DistanceBand',
                    ),
                    migrations.DeleteModel(
                        name='Product',
                    ),
                    migrations.DeleteModel(
                        name='Warehouse',
                    ),
            ],
        ),
    ]
