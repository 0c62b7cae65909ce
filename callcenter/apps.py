from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CallcenterConfig(AppConfig):
    name = "callcenter"
    verbose_name = _("Call center")

    def ready(self):
        from orders import amendments, workflow
        from orders import selectors as order_selectors

        from . import selectors, services, views

        # Orders entering calling get their next call time; calls appear on the order's timeline and card.
        workflow.register_hook(services.on_transition)
        # An order agreed again for another day joins that day's registry when it is built already.
        amendments.register_amended_hook(services.on_amended)
        order_selectors.register_timeline_provider(selectors.timeline_entries)
        order_selectors.register_card_panel(views.calling_panel)
        order_selectors.set_unanswered_counter(selectors.unanswered_calls)
