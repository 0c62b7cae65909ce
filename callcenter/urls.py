from django.urls import path

from . import views

app_name = "callcenter"

urlpatterns = [
    path("", views.desk, name="desk"),
    path("next/", views.next_call, name="next"),
    path("queue/", views.queue_list, name="queue"),
    path("my-calls/", views.my_calls, name="my_calls"),
    path("call/<int:order_id>/", views.call_screen, name="call"),
    path("recordings/<int:attempt_id>/", views.recording, name="recording"),
    path("telephony/webhook/", views.pbx_webhook, name="pbx_webhook"),
    path("registries/", views.registry_list, name="registries"),
    path("registries/build/", views.registry_build, name="registry_build"),
    path("registries/<int:registry_id>/", views.registry_detail, name="registry"),
    path("scripts/", views.script_edit, name="scripts"),
    path("scripts/<int:section_id>/", views.script_edit, name="script_section"),
    path("scripts/sample/copy/", views.script_copy_sample, name="script_copy_sample"),
    path("hotline/", views.hotline, name="hotline"),
    path("customers/", views.customer_card, name="customer"),
    path("hotline/missed/<int:call_id>/call-back/", views.inbound_call_back, name="call_back"),
    path("escalations/", views.escalations, name="escalations"),
    path("escalations/<int:escalation_id>/resolve/", views.escalation_resolve, name="escalation_resolve"),
    path("quality/", views.quality, name="quality"),
    path("quality/dashboard/", views.quality_dashboard, name="quality_dashboard"),
    path("quality/<int:attempt_id>/", views.quality_review, name="review"),
    path("my-scores/", views.my_scores, name="my_scores"),
]
