"""The quality-control checklist a call is scored against."""

from django.utils.translation import gettext_lazy as _

CHECKLIST = [
    ("greeting", _("Greeted and introduced themselves")),
    ("identity", _("Checked the customer's name")),
    ("address", _("Confirmed the address")),
    ("sum", _("Confirmed the sum")),
    ("goods", _("Confirmed the goods and quantities")),
    ("date", _("Agreed a concrete date or next step")),
    ("script", _("Followed the script")),
    ("courtesy", _("Polite and tactful throughout")),
]
