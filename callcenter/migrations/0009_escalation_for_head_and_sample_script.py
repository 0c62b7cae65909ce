"""The head of department's decisions and our own call script (issue 20, items 8 and 9).

* `Escalation.addressed_to`: a supervisor's task as before, or the head of department's decision the system asks for
  (an order being called for a customer marked «do not contact»); `raised_by` is empty when the system raised it.
* `Script.is_sample`: seed 001 (another company's real script: Почта России, a Moscow PO box) becomes a sample
  partners may copy, beside the company's default instead of inside it.
* Data, on a database that has the default script already: the seed's sections as they were loaded (the same topic,
  title and text) move from the default into the sample; our own topic sections take their place where the default
  has none left (a section staff wrote or edited stays as it is); our status sections still worded as first shipped
  get today's wording, and the new statuses (shipped by post, returned) get theirs. A fresh database gets both
  scripts from `load_reference_data`.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# Our status sections as first shipped (callcenter.scripts before this migration), by status: replaced where unedited.
OLD_STATUS_BODIES = {
    "calling": (
        "Здравствуйте, {customer_name}! Меня зовут {operator_name}, служба доставки KetLogistic, звоню по "
        "вашему заказу №{order_number} от {partner_name}. В заказе: {goods}, сумма к оплате {sum}.\n"
        "Ваш заказ уже в городе {city}, курьер может привезти его завтра. Адрес доставки: {address} — верно?\n"
        "Сверяем: дату, адрес, сумму, товары и количество. Все четыре пункта подтверждены — фиксируем согласование."
    ),
    "delivery_agreed": (
        "{customer_name}, напоминаем: доставка заказа №{order_number} назначена на {delivery_date} по адресу "
        "{address}. Сумма к оплате {sum}. Курьер позвонит перед выездом."
    ),
    "paid": (
        "{customer_name}, спасибо за покупку у {partner_name}! Если есть вопросы по товару, партнёр ответит по "
        "его телефону."
    ),
}


def our_own_script(apps, schema_editor):
    # the texts are the code's (pure data and a text parser, no models): the script as this commit ships it
    from callcenter.default_script import STATUS_SECTIONS, topic_sections
    from callcenter.scripts import DEFAULT_NAME, SAMPLE_NAME, SAMPLE_SCRIPT, parse_script

    Script = apps.get_model("callcenter", "Script")
    Section = apps.get_model("callcenter", "ScriptSection")
    default = Script.objects.filter(partner__isnull=True, is_sample=False).first()
    if default is None:
        return
    seed = parse_script(SAMPLE_SCRIPT.read_text(encoding="utf-8"))
    sample, _created = Script.objects.get_or_create(is_sample=True, defaults={"name": SAMPLE_NAME})
    if not Section.objects.filter(script=sample).exists():
        for position, (topic, title, body) in enumerate(seed):
            Section.objects.create(script=sample, topic=topic, title=title, body=body, position=position)
    as_loaded = set(seed)
    for section in Section.objects.filter(script=default).exclude(topic="order_status"):
        if (section.topic, section.title, section.body) in as_loaded:
            section.delete()
    position = (Section.objects.filter(script=default).aggregate(models.Max("position"))["position__max"] or 0) + 1
    present = set(Section.objects.filter(script=default).values_list("topic", flat=True))
    for topic, title, body in topic_sections():
        if topic not in present:
            Section.objects.create(script=default, topic=topic, title=title, body=body, position=position)
            position += 1
    for status, title, body in STATUS_SECTIONS:
        sections = Section.objects.filter(script=default, topic="order_status", status=status)
        if not sections.exists():
            Section.objects.create(
                script=default, topic="order_status", status=status, title=title, body=body, position=position
            )
            position += 1
        elif status in OLD_STATUS_BODIES:
            sections.filter(body=OLD_STATUS_BODIES[status]).update(body=body)
    if default.name == "Скрипт KetLogistic":
        Script.objects.filter(pk=default.pk).update(name=DEFAULT_NAME)


def drop_the_sample(apps, schema_editor):
    """Back: the sample goes (the old schema had one script without a partner); the default keeps our sections."""
    apps.get_model("callcenter", "Script").objects.filter(is_sample=True).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('callcenter', '0008_customer_request'),
        ('core', '0007_prepared_exports'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='script',
            name='one_default_script',
        ),
        migrations.AddField(
            model_name='escalation',
            name='addressed_to',
            field=models.CharField(choices=[('supervisor', 'Supervisor'), ('head_of_department', 'Head of department')], db_default='supervisor', default='supervisor', max_length=20, verbose_name='whose decision'),
        ),
        migrations.AddField(
            model_name='script',
            name='is_sample',
            field=models.BooleanField(db_default=False, default=False, verbose_name='sample'),
        ),
        migrations.AlterField(
            model_name='escalation',
            name='raised_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddConstraint(
            model_name='script',
            constraint=models.UniqueConstraint(condition=models.Q(('is_sample', False), ('partner__isnull', True)), fields=('partner',), name='one_default_script', nulls_distinct=False),
        ),
        migrations.AddConstraint(
            model_name='script',
            constraint=models.UniqueConstraint(condition=models.Q(('is_sample', True)), fields=('is_sample',), name='one_sample_script'),
        ),
        migrations.AddConstraint(
            model_name='script',
            constraint=models.CheckConstraint(condition=models.Q(('is_sample', False), ('partner__isnull', True), _connector='OR'), name='sample_script_has_no_partner'),
        ),
        migrations.RunPython(our_own_script, drop_the_sample),
    ]
