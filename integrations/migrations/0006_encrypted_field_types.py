"""The webhook secrets, the connectors' credentials and the stored Excel uploads are declared encrypted
(`ketlogistic.core.fields`), so that `rotate_phone_keys` finds them. State only: no column changes."""

import ketlogistic.core.fields
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0005_idempotency_scoped_by_mode"),
    ]

    operations = [
        migrations.AlterField(
            model_name="excelimport",
            name="checked_orders",
            field=ketlogistic.core.fields.EncryptedFileField(blank=True, upload_to="imports/%Y/%m/"),
        ),
        migrations.AlterField(
            model_name="excelimport",
            name="file",
            field=ketlogistic.core.fields.EncryptedFileField(blank=True, upload_to="imports/%Y/%m/"),
        ),
        migrations.AlterField(
            model_name="pullconnector",
            name="auth_header_ciphertext",
            field=ketlogistic.core.fields.EncryptedTextField(blank=True),
        ),
        migrations.AlterField(
            model_name="webhookendpoint",
            name="secret_ciphertext",
            field=ketlogistic.core.fields.EncryptedTextField(),
        ),
    ]
