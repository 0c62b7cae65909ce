"""A missed caller's number is declared an encrypted column (`ketlogistic.core.fields.EncryptedTextField`, with its
blind index), so that `rotate_phone_keys` finds it. State only: no column changes."""

import ketlogistic.core.fields
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("callcenter", "0005_warehouse_moved_out"),
    ]

    operations = [
        migrations.AlterField(
            model_name="inboundcall",
            name="phone_ciphertext",
            field=ketlogistic.core.fields.EncryptedTextField(
                blank=True,
                blind_index_field="phone_index",
                help_text="To call a missed caller back; encrypted",
            ),
        ),
    ]
