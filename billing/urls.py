from django.urls import path

from . import claim_views, document_views, service_views, views

app_name = "billing"

urlpatterns = [
    path("", views.balance, name="balance"),
    path("statement.xlsx", views.statement_export, name="statement"),
    path("partners/<int:partner_id>/", views.balance, name="partner"),
    path("partners/<int:partner_id>/statement.xlsx", views.statement_export, name="partner_statement"),
    path("payouts/", views.payout_list, name="payouts"),
    path("payouts/<int:payout_id>/", views.payout_detail, name="payout"),
    path("payouts/<int:payout_id>/registry.xlsx", views.payout_registry, name="payout_registry"),
    path("desk/", views.desk, name="desk"),
    path("runs/", views.run_list, name="runs"),
    path("runs/<int:run_id>/", views.run_detail, name="run"),
    path("report/", views.report, name="report"),
    path("tariffs/", views.tariff_list, name="tariffs"),
    path("claims/", claim_views.claim_list, name="claims"),
    path("claims/new/", claim_views.claim_new, name="claim_new"),
    path("claims/<int:claim_id>/", claim_views.claim_detail, name="claim"),
    path("claims/<int:claim_id>/files/<int:file_id>/", claim_views.claim_file_download, name="claim_file"),
    path("documents/", document_views.document_list, name="documents"),
    path("documents/issue/", document_views.documents_issue, name="documents_issue"),
    path("documents/<int:document_id>/", document_views.document_detail, name="document"),
    path("documents/<int:document_id>/document.xlsx", document_views.document_export, name="document_export"),
    path("documents/<int:document_id>/correct/", document_views.document_correct, name="document_correct"),
    path("documents/reports/<int:report_id>/", document_views.report_detail, name="monthly_report"),
    path(
        "documents/reports/<int:report_id>/report.xlsx",
        document_views.report_export,
        name="monthly_report_export",
    ),
    # our service as promised (seeds 003, 004): the month's service levels, the satisfaction survey
    path("service-levels/", service_views.service_level_page, name="service_levels"),
    path("survey/", service_views.survey_page, name="survey"),
    path("survey/results/", service_views.survey_results, name="survey_results"),
    path("survey/follow-ups/", service_views.survey_follow_up_list, name="survey_follow_ups"),
    path(
        "survey/follow-ups/<int:follow_up_id>/",
        service_views.survey_follow_up_detail,
        name="survey_follow_up",
    ),
]
