
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('core', '0003_notice'),
        ('warehouses', '0004_product_sandbox_catalogue'),
    ]

    # State only: the tables keep their names (Meta.db_table) and their rows; issue 16 moved the models of
    # geography and the catalogue out of `warehouses` without touching the database.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                    migrations.CreateModel(
                        name='Product',
                        fields=[
                            ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                            ('sku', models.CharField(max_length=64, verbose_name='SKU')),
                            ('name', models.CharField(max_length=255, verbose_name='name')),
                            ('price', models.DecimalField(blank=True, decimal_places=2, max_digits=14, null=True, verbose_name='price')),
                            ('weight_grams', models.PositiveIntegerField(blank=True, null=True, verbose_name='weight, g')),
                            ('size', models.CharField(blank=True, help_text='e.g. 30×20×10 cm', max_length=64, verbose_name='size')),
                            ('is_active', models.BooleanField(default=True, verbose_name='active')),
                            ('is_test', models.BooleanField(db_default=False, default=False, verbose_name='sandbox product')),
                            ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created')),
                            ('updated_at', models.DateTimeField(auto_now=True, verbose_name='updated')),
                            ('partner', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='products', to='core.partner', verbose_name='partner')),
                        ],
                        options={
                            'verbose_name': 'product',
                            'verbose_name_plural': 'products',
                            'db_table': 'warehouses_product',
                            'ordering': ['partner', 'sku'],
                            'indexes': [models.Index(fields=['partner', 'name'], name='product_partner_name')],
                            'constraints': [models.UniqueConstraint(fields=('partner', 'sku', 'is_test'), name='product_sku_unique_per_partner_and_mode'), models.CheckConstraint(condition=models.Q(('price__gte', 0), ('price__isnull', True), _connector='OR'), name='product_price_not_negative')],
                        },
                    ),
            ],
        ),
    ]
