from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = _("Integrations")

    def ready(self):
        # Webhook events are written in the same transaction as the order change that causes them.
        from orders import amendments, workflow

        from . import webhooks

        workflow.register_hook(webhooks.on_transition)
        workflow.register_created_hook(webhooks.on_orders_created)
        amendments.register_amended_hook(webhooks.on_order_amended)

        from callcenter import hooks as call_hooks

        call_hooks.register_attempt_hook(webhooks.on_call_attempt)
