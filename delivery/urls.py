from django.urls import path

from . import views

app_name = "delivery"

urlpatterns = [
    path("", views.board, name="board"),
    path("live/", views.live, name="live"),
    path("assign/", views.assign, name="assign"),
    path("suggest/", views.suggest, name="suggest"),
    path("days/<int:day_id>/", views.courier_day, name="day"),
    path("days/<int:day_id>/reorder/", views.reorder, name="reorder"),
    path("days/<int:day_id>/goods/", views.goods, name="goods"),
    path("days/<int:day_id>/handover/", views.handover, name="handover"),
    path("days/<int:day_id>/close/", views.close, name="close"),
    path("days/<int:day_id>/act/", views.act, name="act"),
    path("discrepancies/", views.discrepancies, name="discrepancies"),
    path("discrepancies/<int:discrepancy_id>/resolve/", views.resolve, name="resolve"),
    path("stops/<int:stop_id>/", views.stop_page, name="stop"),
    path("stops/<int:stop_id>/route/", views.stop_action, name="stop_action"),
    path("my/", views.my_route, name="my_route"),
    path("today/", views.today, name="today"),
    path("post/", views.post_desk, name="post"),
    path("post/<int:shipment_id>/", views.post_update, name="post_update"),
    path("post/template.xlsx", views.post_template, name="post_template"),
]
