from django.urls import path

from . import views

app_name = "orders"

urlpatterns = [
    path("", views.order_list, name="list"),
    path("new/", views.order_create, name="create"),
    path("export.xlsx", views.order_export, name="export"),
    path("bulk/", views.order_bulk, name="bulk"),
    path("questions/", views.questions, name="questions"),
    path("phone-reveals/", views.reveal_log, name="reveal_log"),
    path("filters/", views.saved_filter_save, name="filter_save"),
    path("filters/<int:filter_id>/delete/", views.saved_filter_delete, name="filter_delete"),
    path("chat/", views.chat, name="chat"),
    path("chats/", views.chats, name="chats"),
    path("chats/<int:partner_id>/", views.partner_chat_view, name="partner_chat"),
    path("rules/", views.rules_view, name="rules"),
    path("rules/<int:partner_id>/", views.rules_view, name="partner_rules"),
    path("<int:order_id>/", views.order_detail, name="detail"),
    path("<int:order_id>/action/", views.order_action, name="action"),
    path("<int:order_id>/amend/", views.order_amend, name="amend"),
    path("<int:order_id>/fault/", views.order_fault, name="fault"),
    path("<int:order_id>/reveal/", views.phone_reveal, name="reveal"),
    path("<int:order_id>/customer/", views.customer_mark, name="customer_mark"),
    path("<int:order_id>/discussion/", views.discussion_post, name="discussion_post"),
    path("<int:order_id>/discussion/close/", views.discussion_close, name="discussion_close"),
    path("<int:order_id>/waybill/", views.waybill, name="waybill"),
]
