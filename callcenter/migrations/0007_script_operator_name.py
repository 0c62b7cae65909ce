"""The script says the operator's own name: the {operator_name} placeholder, and the company's default script loaded
before it gets it where the operator introduces themselves (the status part «Меня зовут …,» and the seed's greeting
«меня зовут Чем могу Вам помочь?», whose gap is the operator's name). Partners' own scripts are theirs: unchanged."""

from django.db import migrations, models

# (as loaded before, as loaded now)
GAPS = (
    ("Меня зовут …,", "Меня зовут {operator_name},"),
    ("меня зовут Чем могу", "меня зовут {operator_name}. Чем могу"),
)


def name_the_operator(apps, schema_editor):
    ScriptSection = apps.get_model("callcenter", "ScriptSection")
    for old, new in GAPS:
        for section in ScriptSection.objects.filter(script__partner__isnull=True, body__contains=old):
            section.body = section.body.replace(old, new)
            section.save(update_fields=["body"])


def unname_the_operator(apps, schema_editor):
    ScriptSection = apps.get_model("callcenter", "ScriptSection")
    for old, new in GAPS:
        for section in ScriptSection.objects.filter(script__partner__isnull=True, body__contains=new):
            section.body = section.body.replace(new, old)
            section.save(update_fields=["body"])


class Migration(migrations.Migration):
    dependencies = [
        ("callcenter", "0006_encrypted_field_type"),
    ]

    operations = [
        migrations.AlterField(
            model_name="scriptsection",
            name="body",
            field=models.TextField(
                help_text=(
                    "Placeholders: {customer_name} {operator_name} {order_number} {sum} {goods} "
                    "{delivery_date} {partner_name} {city} {address}"
                ),
                verbose_name="text",
            ),
        ),
        migrations.RunPython(name_the_operator, unname_the_operator),
    ]
