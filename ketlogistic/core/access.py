"""The one place that decides what a user or API key may see and do.

Two questions, always asked here and nowhere else:

* **May this actor do X?** `can(actor, "orders.send")` — a permission table by role, default deny.
* **Which rows may this actor see?** `scoped(actor, queryset)` — tenant scoping by the model's
  `tenancy` declaration: partner users and API keys see their own partner only; company-wide staff
  see everything; scoped staff see what their `StaffScope` rows assign them; anyone else nothing.

Views, APIs, exports and tasks get their querysets through `scoped` and their objects through
`get_scoped_or_404`, so a partner asking for another partner's row gets 404, never the row.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, Q, QuerySet
from django.http import Http404

from .actors import Actor, acting_user
from .models import Partner
from .roles import COMPANY_WIDE_ROLES, PARTNER_ROLES, SCOPED_ROLES, Role

R = Role
ALL_STAFF = frozenset(set(Role) - PARTNER_ROLES)
PARTNERS = PARTNER_ROLES

# permission → roles that hold it. Administrators hold every permission.
PERMISSIONS: dict[str, frozenset[str]] = {
    # the partner's cabinet
    "cabinet.view": PARTNERS,
    "cabinet.team.manage": frozenset({R.PARTNER_ADMIN}),
    # our staff's desk and the partners they serve
    "staff.desk": ALL_STAFF,
    "partners.view": frozenset(
        {
            R.HEAD_OF_DEPARTMENT,
            R.SUPERVISOR,
            R.FINANCE_DIRECTOR,
            R.QUALITY_CONTROL,
            R.LOGIST,
            R.HOTLINE,
            R.COURIER_ADMIN,
            R.WAREHOUSE,
        }
    ),
    "partners.manage": frozenset({R.ADMINISTRATOR}),
    "admin.site": frozenset({R.ADMINISTRATOR}),
    "audit.view": frozenset({R.ADMINISTRATOR}),
    # reset another login's second factor (a lost phone), with the reason (`core.second_factor_services`)
    "second_factor.reset": frozenset({R.ADMINISTRATOR}),
    "calendar.manage": frozenset({R.ADMINISTRATOR, R.SUPERVISOR}),
    # orders
    "orders.view": PARTNERS
    | frozenset(
        {
            R.HEAD_OF_DEPARTMENT,
            R.LOGIST,
            R.COURIER_ADMIN,
            R.HOTLINE,
            R.WAREHOUSE,
            R.QUALITY_CONTROL,
            R.SUPERVISOR,
            R.FINANCE_DIRECTOR,
        }
    ),
    "orders.create": PARTNERS | frozenset({R.HEAD_OF_DEPARTMENT}),
    "orders.export": PARTNERS
    | frozenset({R.HEAD_OF_DEPARTMENT, R.SUPERVISOR, R.FINANCE_DIRECTOR, R.QUALITY_CONTROL}),
    "orders.bulk": frozenset({R.HEAD_OF_DEPARTMENT, R.SUPERVISOR}),
    # change an order's sum, address, goods or dates on its card (`orders.amendments`, channel "staff")
    "orders.amend": frozenset({R.HEAD_OF_DEPARTMENT, R.SUPERVISOR}),
    "phones.reveal": frozenset({R.HEAD_OF_DEPARTMENT, R.SUPERVISOR}),
    "phones.reveal_log.view": PARTNERS | frozenset({R.HEAD_OF_DEPARTMENT, R.SUPERVISOR}),
    "customers.mark": frozenset(
        {R.HEAD_OF_DEPARTMENT, R.SUPERVISOR, R.LOGIST, R.HOTLINE, R.QUALITY_CONTROL, R.COURIER_ADMIN}
    ),
    "partner_rules.view": PARTNERS | (ALL_STAFF - {R.COURIER}),
    "partner_rules.edit": frozenset({R.HEAD_OF_DEPARTMENT}),
    "discussion.view": PARTNERS
    | frozenset({R.HEAD_OF_DEPARTMENT, R.SUPERVISOR, R.LOGIST, R.HOTLINE, R.COURIER_ADMIN}),
    "discussion.post": PARTNERS
    | frozenset({R.HEAD_OF_DEPARTMENT, R.SUPERVISOR, R.LOGIST, R.HOTLINE, R.COURIER_ADMIN}),
    # the partner's own chat with our staff (beside the orders' discussions): each side's managers add the people who
    # decide (the partner's administrator its users; our head of department or supervisor ours) and read it all
    "chat.view": PARTNERS | frozenset({R.HEAD_OF_DEPARTMENT, R.SUPERVISOR}),
    "chat.manage": frozenset({R.PARTNER_ADMIN, R.HEAD_OF_DEPARTMENT, R.SUPERVISOR}),
    # integrations and the catalogue
    "integrations.view": PARTNERS | frozenset({R.HEAD_OF_DEPARTMENT, R.SUPERVISOR}),
    "api_keys.manage": frozenset({R.PARTNER_ADMIN}),
    "webhooks.manage": frozenset({R.PARTNER_ADMIN}),
    "excel.import": PARTNERS,
    "connectors.view": PARTNERS | frozenset({R.HEAD_OF_DEPARTMENT, R.SUPERVISOR}),
    "connectors.manage": frozenset({R.PARTNER_ADMIN, R.HEAD_OF_DEPARTMENT}),
    # the customers' SMS: the partner's administrator chooses the events, the language and its texts; the partner's
    # staff and its head of department read them with the messages sent
    "sms.view": PARTNERS | frozenset({R.HEAD_OF_DEPARTMENT, R.SUPERVISOR}),
    "sms.manage": frozenset({R.PARTNER_ADMIN}),
    # what the SMS cost the company per partner and month (the aggregator's price of a part): our finance
    "sms.costs": frozenset({R.FINANCE_DIRECTOR, R.HEAD_OF_DEPARTMENT}),
    "products.view": PARTNERS | (ALL_STAFF - {R.COURIER}),
    "products.manage": PARTNERS | frozenset({R.HEAD_OF_DEPARTMENT}),
    # warehouses
    "stock.view": PARTNERS
    | frozenset(
        {
            R.HEAD_OF_DEPARTMENT,
            R.WAREHOUSE,
            R.SUPERVISOR,
            R.FINANCE_DIRECTOR,
            R.LOGIST,
            R.COURIER_ADMIN,
            R.HOTLINE,
            R.QUALITY_CONTROL,
        }
    ),
    "stock.export": PARTNERS
    | frozenset({R.HEAD_OF_DEPARTMENT, R.WAREHOUSE, R.SUPERVISOR, R.FINANCE_DIRECTOR}),
    "receipts.view": PARTNERS
    | frozenset({R.HEAD_OF_DEPARTMENT, R.WAREHOUSE, R.SUPERVISOR, R.FINANCE_DIRECTOR}),
    "receipts.manage": frozenset({R.WAREHOUSE}),
    "transfers.view": PARTNERS
    | frozenset({R.HEAD_OF_DEPARTMENT, R.WAREHOUSE, R.SUPERVISOR, R.COURIER_ADMIN, R.FINANCE_DIRECTOR}),
    "transfers.manage": frozenset({R.WAREHOUSE, R.HEAD_OF_DEPARTMENT}),
    "transfers.receive": frozenset({R.WAREHOUSE}),
    "contract_end.manage": frozenset({R.HEAD_OF_DEPARTMENT, R.SUPERVISOR}),
    # transport the partner pays (seed 000 «при оплате расходов за транспорт»): a partner asks for a city-to-city
    # transfer and accepts the cost our staff propose; an unscheduled return's cost is entered with `transfers.manage`
    "transport.view": PARTNERS
    | frozenset({R.HEAD_OF_DEPARTMENT, R.WAREHOUSE, R.SUPERVISOR, R.FINANCE_DIRECTOR}),
    "transport.request": PARTNERS,
    "transport.accept": PARTNERS,
    "transport.price": frozenset({R.HEAD_OF_DEPARTMENT, R.WAREHOUSE, R.SUPERVISOR}),
    # call center
    "callcenter.queue": frozenset({R.LOGIST, R.HEAD_OF_DEPARTMENT, R.SUPERVISOR}),
    "callcenter.call": frozenset({R.LOGIST, R.HEAD_OF_DEPARTMENT, R.SUPERVISOR, R.HOTLINE, R.COURIER_ADMIN}),
    "callcenter.registry.view": frozenset(
        {R.COURIER_ADMIN, R.HEAD_OF_DEPARTMENT, R.SUPERVISOR, R.WAREHOUSE, R.LOGIST}
    ),
    "callcenter.registry.build": frozenset({R.COURIER_ADMIN, R.HEAD_OF_DEPARTMENT, R.SUPERVISOR}),
    "scripts.view": PARTNERS
    | frozenset({R.HEAD_OF_DEPARTMENT, R.SUPERVISOR, R.LOGIST, R.HOTLINE, R.QUALITY_CONTROL}),
    "scripts.edit_default": frozenset({R.HEAD_OF_DEPARTMENT, R.SUPERVISOR}),
    "scripts.edit_own": PARTNERS,
    "hotline.use": frozenset({R.HOTLINE, R.HEAD_OF_DEPARTMENT, R.SUPERVISOR, R.LOGIST}),
    # the customer card (every order of a customer, with the SMS they were sent), without taking a call
    "customers.card": frozenset({R.HOTLINE, R.QUALITY_CONTROL, R.HEAD_OF_DEPARTMENT, R.SUPERVISOR, R.LOGIST}),
    "escalations.raise": frozenset(
        {R.LOGIST, R.HOTLINE, R.COURIER_ADMIN, R.HEAD_OF_DEPARTMENT, R.SUPERVISOR}
    ),
    "escalations.view": frozenset({R.SUPERVISOR, R.HEAD_OF_DEPARTMENT}),
    "escalations.resolve": frozenset({R.SUPERVISOR, R.HEAD_OF_DEPARTMENT}),
    "recordings.listen": PARTNERS
    | frozenset(
        {R.HEAD_OF_DEPARTMENT, R.SUPERVISOR, R.QUALITY_CONTROL, R.LOGIST, R.HOTLINE, R.COURIER_ADMIN}
    ),
    "qc.review": frozenset({R.QUALITY_CONTROL, R.SUPERVISOR}),
    "qc.dashboard": frozenset({R.QUALITY_CONTROL, R.SUPERVISOR, R.HEAD_OF_DEPARTMENT}),
    "qc.own_scores": frozenset({R.LOGIST, R.HOTLINE, R.COURIER_ADMIN, R.COURIER}),
    # the delivery day
    "delivery.manage": frozenset({R.COURIER_ADMIN, R.SUPERVISOR}),
    "delivery.view": frozenset({R.COURIER_ADMIN, R.SUPERVISOR, R.HEAD_OF_DEPARTMENT, R.FINANCE_DIRECTOR}),
    "delivery.courier": frozenset({R.COURIER}),
    "delivery.record": frozenset({R.COURIER, R.COURIER_ADMIN, R.SUPERVISOR}),
    "delivery.call": frozenset({R.COURIER, R.COURIER_ADMIN, R.SUPERVISOR}),
    "delivery.cash": frozenset({R.COURIER_ADMIN, R.SUPERVISOR, R.FINANCE_DIRECTOR}),
    "delivery.cash.write_off": frozenset({R.SUPERVISOR}),
    # the printable hand-over act of a courier's day: the whole day (every partner's orders and the cash), so
    # staff also need the whole city (`access.serves_city(..., whole=True)`); a courier opens their own days
    "delivery.act": frozenset({R.COURIER_ADMIN, R.SUPERVISOR, R.FINANCE_DIRECTOR, R.COURIER}),
    "delivery.today.view": PARTNERS
    | frozenset({R.HEAD_OF_DEPARTMENT, R.SUPERVISOR, R.COURIER_ADMIN, R.LOGIST, R.FINANCE_DIRECTOR}),
    "post.view": PARTNERS | frozenset({R.HEAD_OF_DEPARTMENT, R.SUPERVISOR, R.WAREHOUSE, R.FINANCE_DIRECTOR}),
    "post.manage": frozenset({R.WAREHOUSE, R.SUPERVISOR, R.HEAD_OF_DEPARTMENT}),
    # billing
    "billing.view": PARTNERS | frozenset({R.FINANCE_DIRECTOR, R.HEAD_OF_DEPARTMENT, R.SUPERVISOR}),
    "billing.payouts.request": PARTNERS,
    "billing.finance": frozenset({R.FINANCE_DIRECTOR}),
    # claims (претензии, `billing.claims`): the partner files them (cabinet, API), the hotline for a customer; heads of
    # department and supervisors work them; the finance director approves the money they end with
    "claims.view": PARTNERS | frozenset({R.HEAD_OF_DEPARTMENT, R.SUPERVISOR, R.FINANCE_DIRECTOR, R.HOTLINE}),
    "claims.file": PARTNERS | frozenset({R.HOTLINE, R.HEAD_OF_DEPARTMENT, R.SUPERVISOR}),
    "claims.work": frozenset({R.HEAD_OF_DEPARTMENT, R.SUPERVISOR}),
    "claims.approve": frozenset({R.FINANCE_DIRECTOR}),
    "warehouse_charges.view": PARTNERS
    | frozenset({R.HEAD_OF_DEPARTMENT, R.FINANCE_DIRECTOR, R.SUPERVISOR, R.WAREHOUSE}),
    # our service as promised (seeds 003, 004): each promise's share met in a month, from the records; a partner
    # sees its own, our staff the partners they serve
    "service_levels.view": PARTNERS
    | frozenset({R.HEAD_OF_DEPARTMENT, R.SUPERVISOR, R.FINANCE_DIRECTOR, R.QUALITY_CONTROL}),
    # the monthly satisfaction survey: the partner's administrators answer; the results are our management's, and a
    # score of 1–2 is a task for the partner's head of department (supervisors see every one)
    "surveys.answer": frozenset({R.PARTNER_ADMIN}),
    "surveys.results": frozenset({R.HEAD_OF_DEPARTMENT, R.SUPERVISOR, R.QUALITY_CONTROL}),
    "surveys.follow_up": frozenset({R.HEAD_OF_DEPARTMENT, R.SUPERVISOR}),
}


def _role(actor: Actor) -> str | None:
    if (
        actor is None
        or not getattr(actor, "is_authenticated", False)
        or not getattr(actor, "is_active", True)
    ):
        return None
    return getattr(actor, "role", None) or None


def can(actor: Actor, permission: str) -> bool:
    """Whether the actor holds a permission. An unknown permission name is a programming error."""
    if permission not in PERMISSIONS:
        raise ImproperlyConfigured(f"Unknown permission {permission!r}: add it to ketlogistic.core.access")
    role = _role(actor)
    if role is None:
        return False
    if role == R.ADMINISTRATOR:
        return True
    if role in PARTNER_ROLES and not getattr(actor, "partner_id", None):
        return False
    allowed = role in PERMISSIONS[permission]
    if allowed and getattr(actor, "read_only", False) and permission_writes(permission):
        return False
    return allowed


def permission_writes(permission: str) -> bool:
    """Read-only API keys hold only permissions that read (by convention: `.view`, `.export`)."""
    return not permission.endswith((".view", ".export"))


def is_partner_actor(actor: Actor) -> bool:
    return _role(actor) in PARTNER_ROLES


def is_company_wide(actor: Actor) -> bool:
    return _role(actor) in COMPANY_WIDE_ROLES


def staff_scopes(actor: Actor) -> list:
    """The actor's StaffScope rows, loaded once per actor object."""
    cached = getattr(actor, "_access_scopes", None)
    if cached is None:
        cached = list(actor.scopes.all()) if hasattr(actor, "scopes") else []
        actor._access_scopes = cached
    return cached


def scope_key(actor: Actor) -> tuple:
    """Everything `scope_condition` reads of the actor, as a key: two actors with equal keys see the same rows of
    every model (a query built for one, compiled once, serves the other; `callcenter.services.queue_next`)."""
    role = _role(actor)
    scopes = ()
    if role in SCOPED_ROLES:
        scopes = tuple(
            sorted((s.partner_id or 0, s.country or "", s.city_id or 0) for s in staff_scopes(actor))
        )
    owner = acting_user(actor)
    return (role, getattr(actor, "partner_id", None), owner.pk if owner is not None else None, scopes)


def _tenancy(model: type[Model]):
    tenancy = getattr(model, "tenancy", None)
    if tenancy is None:
        raise ImproperlyConfigured(f"{model.__name__} declares no tenancy and cannot be scoped")
    return tenancy


def _through_many(model: type[Model], path: str | None) -> bool:
    """Whether a lookup path crosses a to-many relation (its join would repeat rows)."""
    current = model
    for name in (path or "").split("__")[:-1] if path and "__" in path else []:
        try:
            field = current._meta.get_field(name)
        except Exception:  # noqa: BLE001 - a lookup such as "country" at the end is not a relation
            return False
        if field.one_to_many or field.many_to_many:
            return True
        current = field.related_model
    return False


def scope_condition(actor: Actor, model: type[Model]) -> Q | None:
    """The filter that limits `model` to what the actor may see; None means nothing at all. A path through a
    to-many relation (a courier's day → its stops' partners) becomes a subquery, so rows never repeat."""
    condition = _scope_condition(actor, model)
    tenancy = _tenancy(model)
    if condition and any(
        _through_many(model, path)
        for path in (tenancy.partner, tenancy.country, tenancy.city, *tenancy.extra_cities)
    ):
        return Q(pk__in=model._default_manager.filter(condition).values("pk"))
    return condition


def _scope_condition(actor: Actor, model: type[Model]) -> Q | None:
    tenancy = _tenancy(model)
    role = _role(actor)
    if role is None:
        return None
    if tenancy.owner:
        return _owner_condition(actor, role, tenancy)
    if role in PARTNER_ROLES:
        partner_id = getattr(actor, "partner_id", None)
        if not partner_id or tenancy.partner is None:
            return None
        return Q(**{tenancy.partner_lookup(): partner_id})
    if role in COMPANY_WIDE_ROLES:
        return Q()
    if role == R.COURIER:
        # a courier sees their own assignments and nothing else (a subquery: a path through a to-many
        # relation must not repeat rows)
        if not tenancy.courier:
            return None
        if "__" not in tenancy.courier:
            return Q(**{tenancy.courier: actor.pk})
        return Q(pk__in=model._default_manager.filter(**{tenancy.courier: actor.pk}).values("pk"))
    if role in SCOPED_ROLES:
        condition = None
        for scope in staff_scopes(actor):
            part = _scope_part(scope, tenancy)
            if part is not None:
                condition = part if condition is None else condition | part
        return condition
    return None


def _owner_condition(actor: Actor, role: str, tenancy) -> Q | None:
    """Rows of one person: the actor's own (a user's; an API key owns none), and for a partner user of its partner
    still (a login moved to another partner no longer reads the first one's files)."""
    user = acting_user(actor)
    if user is None:
        return None
    condition = Q(**{tenancy.owner: user.pk})
    if role in PARTNER_ROLES:
        partner_id = getattr(actor, "partner_id", None)
        if not partner_id or tenancy.partner is None:
            return None
        condition &= Q(**{tenancy.partner_lookup(): partner_id})
    return condition


def _scope_part(scope, tenancy) -> Q | None:
    """One scope row as a filter. Every filled field must apply to the model, or the row matches nothing."""
    part = Q()
    if scope.partner_id:
        if tenancy.partner is None:
            return None
        part &= Q(**{tenancy.partner_lookup(): scope.partner_id})
    if scope.country:
        part &= Q(**{tenancy.country_lookup(): scope.country})
    if scope.city_id:
        city_paths = ([tenancy.city] if tenancy.city else []) + list(tenancy.extra_cities)
        if not city_paths:
            return None
        # a city's staff also serve the settlements its couriers reach on field trips (выездные населённые пункты)
        city_q = Q()
        for path in city_paths:
            city_q |= Q(**{path: scope.city_id}) | Q(**{f"{path}__served_from": scope.city_id})
        part &= city_q
    return part


def serves_city(actor: Actor, city, *, whole: bool = False) -> bool:
    """Whether staff work in a city (its registries, couriers and cash desk hold many partners' orders):
    company-wide staff, or a scope naming the city or its country. Staff scoped to a partner there pass too,
    and see that partner's rows only (the rows still come through `scoped`) — unless `whole`: a write on the
    whole city (building its registry moves every partner's orders) needs a scope that is not one partner's."""
    if is_company_wide(actor):
        return True
    if _role(actor) not in SCOPED_ROLES or _role(actor) == R.COURIER:
        return False
    for scope in staff_scopes(actor):
        if whole and scope.partner_id:
            continue
        if scope.city_id:
            if scope.city_id == city.pk:
                return True
        elif not scope.country or scope.country == city.country:
            return True
    return False


def scoped(actor: Actor, queryset: QuerySet) -> QuerySet:
    """The rows of `queryset` the actor may see."""
    condition = scope_condition(actor, queryset.model)
    if condition is None:
        return queryset.none()
    return queryset.filter(condition) if condition else queryset


def get_scoped_or_404(actor: Actor, queryset: QuerySet, **lookup):
    """One row the actor may see, or 404 — the same answer whether it is foreign or missing."""
    try:
        return scoped(actor, queryset).get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def visible_partners(actor: Actor) -> QuerySet:
    return scoped(actor, Partner.objects.all())


def may_act_for_partner(actor: Actor, partner_id: int) -> bool:
    """Whether a write naming `partner_id` (an id smuggled in a body, a form choice) is within reach."""
    return visible_partners(actor).filter(id=partner_id).exists()
