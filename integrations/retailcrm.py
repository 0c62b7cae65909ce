"""RetailCRM (API v5) adapter: being written (issue 17 item 6)."""

from .crm import Adapter


class RetailCrm(Adapter):
    kind = "retailcrm"
