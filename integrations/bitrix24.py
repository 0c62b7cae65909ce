"""Bitrix24 (REST, inbound webhook) adapter: being written (issue 17 item 6)."""

from .crm import Adapter


class Bitrix24(Adapter):
    kind = "bitrix24"
