"""How a model says which partner (and country, city) each of its rows belongs to.

Every tenant-owned model declares `tenancy = Tenancy(partner="partner", ...)`. The access module
reads it to scope querysets; a model without it cannot be scoped at all (default deny).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Tenancy:
    # lookup path to the partner id ("partner", "order__partner", or "id" for Partner itself); None for the
    # company's own rows (couriers' cash) that no partner, and no staff scoped to a partner, may see
    partner: str | None
    country: str | None = None  # lookup path to the country code
    city: str | None = None  # lookup path to the city id
    # For scoped staff whose scope names a city: lookup paths that also count as "in that city"
    # (a transfer to a city is visible to that city's staff).
    extra_cities: tuple[str, ...] = ()
    # For couriers: the lookup path to the courier (user) the row is assigned to. A courier sees only rows
    # assigned to them; a model without this path shows a courier nothing.
    courier: str | None = None
    # For rows that belong to one person only (a file prepared for whoever asked): the lookup path to that user.
    # Whatever their role, everyone sees only their own such rows (partner users: of their own partner too).
    owner: str | None = None

    def partner_lookup(self) -> str:
        return self.partner if self.partner == "id" or self.partner.endswith("_id") else f"{self.partner}_id"

    def country_lookup(self) -> str:
        """Where the country is; a partner works in one country, so its own country answers for its rows."""
        if self.country:
            return self.country
        if self.partner is None:
            raise ValueError("A tenancy without a partner must name its country path")
        return "country" if self.partner == "id" else f"{self.partner.removesuffix('_id')}__country"
