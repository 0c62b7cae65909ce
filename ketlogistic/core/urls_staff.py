from django.urls import path

from . import views

app_name = "staff"

urlpatterns = [
    path("", views.staff_home, name="home"),
    path("partners/", views.partner_list, name="partners"),
    path("partners/<int:partner_id>/", views.partner_detail, name="partner_detail"),
    path("audit/", views.audit_log, name="audit"),
]
