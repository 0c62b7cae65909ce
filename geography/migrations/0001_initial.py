
import django.contrib.postgres.fields
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('warehouses', '0004_product_sandbox_catalogue'),
    ]

    # State only: the tables keep their names (Meta.db_table) and their rows; issue 16 moved the models of
    # geography and the catalogue out of `warehouses` without touching the database.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                    migrations.CreateModel(
                        name='ShippingGroup',
                        fields=[
                            ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                            ('number', models.PositiveSmallIntegerField(unique=True, verbose_name='group')),
                            ('weekdays', django.contrib.postgres.fields.ArrayField(base_field=models.PositiveSmallIntegerField(), help_text='ISO weekday numbers: 1 = Monday … 7 = Sunday', size=None, verbose_name='shipping weekdays')),
                        ],
                        options={
                            'verbose_name': 'shipping group',
                            'verbose_name_plural': 'shipping groups',
                            'db_table': 'warehouses_shippinggroup',
                            'ordering': ['number'],
                        },
                    ),
                    migrations.CreateModel(
                        name='City',
                        fields=[
                            ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                            ('country', models.CharField(choices=[('KZ', 'Kazakhstan'), ('KG', 'Kyrgyzstan')], max_length=2, verbose_name='country')),
                            ('name', models.CharField(max_length=100, verbose_name='name')),
                            ('name_en', models.CharField(max_length=100, verbose_name='name in English')),
                            ('aliases', django.contrib.postgres.fields.ArrayField(base_field=models.CharField(max_length=100), blank=True, default=list, size=None, verbose_name='other spellings')),
                            ('delivery_mode', models.CharField(choices=[('express', 'Express (own warehouse, next-day delivery)'), ('field', 'Field trips (выездной)')], max_length=10, verbose_name='delivery')),
                            ('timezone', models.CharField(max_length=64, verbose_name='time zone')),
                            ('shipping_group', models.PositiveSmallIntegerField(blank=True, null=True, verbose_name='shipping group')),
                            ('transit_days', models.PositiveSmallIntegerField(blank=True, null=True, verbose_name='transit days from the main warehouse')),
                            ('point_a', models.CharField(blank=True, max_length=200, verbose_name='point A')),
                            ('is_emergency', models.BooleanField(default=False, help_text='Transfers take two days longer (3–5 days instead of 1–3)', verbose_name='emergency (ЧС)')),
                            ('served_from', models.ForeignKey(blank=True, help_text='For field-trip settlements: the express city whose warehouse serves it', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='field_cities', to='geography.city', verbose_name='served from')),
                        ],
                        options={
                            'verbose_name': 'city',
                            'verbose_name_plural': 'cities',
                            'db_table': 'warehouses_city',
                            'ordering': ['country', 'name'],
                        },
                    ),
                    migrations.CreateModel(
                        name='DistanceBand',
                        fields=[
                            ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                            ('from_km', models.DecimalField(decimal_places=1, max_digits=6, verbose_name='from, km (exclusive)')),
                            ('to_km', models.DecimalField(blank=True, decimal_places=1, max_digits=6, null=True, verbose_name='to, km (inclusive)')),
                            ('surcharge', models.DecimalField(decimal_places=2, max_digits=14, verbose_name='surcharge')),
                            ('currency', models.CharField(default='KZT', max_length=3, verbose_name='currency')),
                            ('city', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='distance_bands', to='geography.city')),
                        ],
                        options={
                            'verbose_name': 'distance band',
                            'verbose_name_plural': 'distance bands',
                            'db_table': 'warehouses_distanceband',
                            'ordering': ['city', 'from_km'],
                        },
                    ),
                    migrations.CreateModel(
                        name='Warehouse',
                        fields=[
                            ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                            ('kind', models.CharField(choices=[('main', 'Main warehouse'), ('city', 'City warehouse')], max_length=10, verbose_name='kind')),
                            ('name', models.CharField(max_length=120, verbose_name='name')),
                            ('is_active', models.BooleanField(default=True, verbose_name='active')),
                            ('city', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='warehouse', to='geography.city', verbose_name='city')),
                        ],
                        options={
                            'verbose_name': 'warehouse',
                            'verbose_name_plural': 'warehouses',
                            'db_table': 'warehouses_warehouse',
                            'ordering': ['-kind', 'city__name'],
                        },
                    ),
                    migrations.AddConstraint(
                        model_name='city',
                        constraint=models.UniqueConstraint(fields=('country', 'name'), name='city_unique_name'),
                    ),
                    migrations.AddConstraint(
                        model_name='city',
                        constraint=models.CheckConstraint(condition=models.Q(('shipping_group__in', [1, 2]), ('shipping_group__isnull', True), _connector='OR'), name='city_shipping_group_1_or_2'),
                    ),
                    migrations.AddConstraint(
                        model_name='distanceband',
                        constraint=models.UniqueConstraint(fields=('city', 'from_km'), name='distance_band_unique'),
                    ),
                    migrations.AddConstraint(
                        model_name='distanceband',
                        constraint=models.CheckConstraint(condition=models.Q(('to_km__isnull', True), ('to_km__gt', models.F('from_km')), _connector='OR'), name='distance_band_order'),
                    ),
                    migrations.AddConstraint(
                        model_name='distanceband',
                        constraint=models.CheckConstraint(condition=models.Q(('surcharge__gte', 0)), name='distance_band_surcharge_not_negative'),
                    ),
                    migrations.AddConstraint(
                        model_name='warehouse',
                        constraint=models.UniqueConstraint(condition=models.Q(('kind', 'main')), fields=('kind',), name='one_main_warehouse'),
                    ),
            ],
        ),
    ]
