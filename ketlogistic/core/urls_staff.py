from django.urls import path

from . import second_factor_views, views

app_name = "staff"

urlpatterns = [
    path("", views.staff_home, name="home"),
    path("partners/", views.partner_list, name="partners"),
    path("partners/<int:partner_id>/", views.partner_detail, name="partner_detail"),
    path("audit/", views.audit_log, name="audit"),
    path("second-factor/", second_factor_views.staff_list, name="second_factor"),
    path("second-factor/<int:user_id>/reset/", second_factor_views.staff_reset, name="second_factor_reset"),
]
