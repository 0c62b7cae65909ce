from django.urls import path

from . import views

app_name = "integrations"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("keys/", views.keys, name="keys"),
    path("keys/<int:key_id>/revoke/", views.key_revoke, name="key_revoke"),
    path("webhooks/", views.webhook_list, name="webhooks"),
    path("webhooks/<int:endpoint_id>/", views.webhook_detail, name="webhook"),
    path("webhooks/<int:endpoint_id>/rotate/", views.webhook_rotate, name="webhook_rotate"),
    path("webhooks/<int:endpoint_id>/ping/", views.webhook_ping, name="webhook_ping"),
    path("webhooks/deliveries/<int:delivery_id>/resend/", views.delivery_resend, name="delivery_resend"),
    path("excel/", views.excel_home, name="excel"),
    path("excel/template.xlsx", views.excel_template, name="excel_template"),
    path("excel/<int:import_id>/", views.excel_import_detail, name="excel_import"),
    path("excel/<int:import_id>/progress/", views.excel_import_progress, name="excel_progress"),
    path("excel/<int:import_id>/retry/", views.excel_import_retry, name="excel_retry"),
    path("excel/<int:import_id>/mapping/", views.excel_mapping, name="excel_mapping"),
    path("connectors/", views.connector_list, name="connectors"),
    path("connectors/new/", views.connector_edit, name="connector_new"),
    path("connectors/<int:connector_id>/", views.connector_detail, name="connector"),
    path("connectors/<int:connector_id>/edit/", views.connector_edit, name="connector_edit"),
    path("connectors/<int:connector_id>/run/", views.connector_run_now, name="connector_run"),
    path("connectors/<int:connector_id>/check/", views.connector_check, name="connector_check"),
    path("connectors/<int:connector_id>/resend/", views.connector_push_retry, name="connector_resend"),
    path("sms/", views.sms_page, name="sms"),
    path("sms/costs/", views.sms_costs, name="sms_costs"),
    path("sms/costs.xlsx", views.sms_costs_export, name="sms_costs_export"),
    path("sms/<int:partner_id>/", views.sms_page, name="partner_sms"),
]
