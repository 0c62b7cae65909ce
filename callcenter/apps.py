from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CallcenterConfig(AppConfig):
    name = "callcenter"
    verbose_name = _("Call center")

    def ready(self):
        from orders import selectors as order_selectors
        from orders import workflow

        from . import selectors, services, views

        # Orders entering calling get their next call time; calls appear on the order's timeline and card.
        workflow.register_hook(services.on_transition)
        order_selectors.register_timeline_provider(selectors.timeline_entries)
        order_selectors.register_card_panel(views.calling_panel)
        order_selectors.set_unanswered_counter(selectors.unanswered_calls)
