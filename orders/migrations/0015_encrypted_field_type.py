"""The phone's ciphertext is declared an encrypted column (`ketlogistic.core.fields.EncryptedTextField`, with its
blind index), so that `rotate_phone_keys` finds it. State only: the column, its type and its content stay as they are."""

import ketlogistic.core.fields
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0014_city_and_product_moved_out"),
    ]

    operations = [
        migrations.AlterField(
            model_name="orderphone",
            name="ciphertext",
            field=ketlogistic.core.fields.EncryptedTextField(blind_index_field="blind_index"),
        ),
    ]
