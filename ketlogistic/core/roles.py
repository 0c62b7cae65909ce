"""Who works in the system. A user has exactly one role; what each role may do is in `access`."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    PARTNER_ADMIN = "partner_admin", _("Partner administrator")
    PARTNER_STAFF = "partner_staff", _("Partner staff")
    HEAD_OF_DEPARTMENT = "head_of_department", _("Head of department")
    LOGIST = "logist", _("Logist")
    COURIER_ADMIN = "courier_admin", _("Courier administrator")
    COURIER = "courier", _("Courier")
    HOTLINE = "hotline", _("Hotline operator")
    WAREHOUSE = "warehouse", _("Warehouse staff")
    QUALITY_CONTROL = "quality_control", _("Quality control")
    SUPERVISOR = "supervisor", _("Supervisor")
    FINANCE_DIRECTOR = "finance_director", _("Finance director")
    ADMINISTRATOR = "administrator", _("Administrator")


PARTNER_ROLES = frozenset({Role.PARTNER_ADMIN, Role.PARTNER_STAFF})
STAFF_ROLES = frozenset(set(Role) - PARTNER_ROLES)

# Staff roles that work across every partner (the hotline must find any customer; finance and
# quality control look at the whole company). The others see only what their scopes assign them.
COMPANY_WIDE_ROLES = frozenset(
    {Role.ADMINISTRATOR, Role.FINANCE_DIRECTOR, Role.SUPERVISOR, Role.QUALITY_CONTROL, Role.HOTLINE}
)
SCOPED_ROLES = STAFF_ROLES - COMPANY_WIDE_ROLES
