"""Django's makemessages, knowing the project's own gettext: `gettext_message` and `ngettext_message` (messages
stored as a msgid and parameters, `ketlogistic.core.i18n`). Django's documented way to add xgettext keywords is this
subclass with more `xgettext_options`."""

from django.core.management.commands import makemessages


class Command(makemessages.Command):
    xgettext_options = [
        *makemessages.Command.xgettext_options,
        "--keyword=gettext_message",
        "--keyword=ngettext_message:1,2",
    ]
