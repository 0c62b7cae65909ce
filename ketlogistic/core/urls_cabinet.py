from django.urls import path

from . import views

app_name = "cabinet"

urlpatterns = [
    path("contract/", views.cabinet_home, name="home"),
    path("team/", views.cabinet_team, name="team"),
    path("team/<int:user_id>/toggle/", views.cabinet_team_toggle, name="team_toggle"),
    path("team/second-factor/", views.cabinet_team_second_factor, name="team_second_factor"),
    path("notices/<int:notice_id>/dismiss/", views.notice_dismiss, name="notice_dismiss"),
]
