from django.urls import path

from . import views

app_name = "exports"

urlpatterns = [
    path("<int:export_id>/", views.export_detail, name="detail"),
    path("<int:export_id>/progress/", views.export_progress, name="progress"),
    path("<int:export_id>/download/", views.export_download, name="download"),
    path("<int:export_id>/retry/", views.export_retry, name="retry"),
]
