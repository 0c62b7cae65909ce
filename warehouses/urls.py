from django.urls import path

from . import views

app_name = "warehouses"

urlpatterns = [
    path("stock/", views.stock, name="stock"),
    path("stock/products/<int:product_id>/", views.product_moves, name="product_moves"),
    path("receipts/", views.receipt_list, name="receipts"),
    path("receipts/new/", views.receipt_create, name="receipt_create"),
    path("receipts/<int:receipt_id>/", views.receipt_detail, name="receipt"),
    path("transfers/", views.transfer_list, name="transfers"),
    path("transfers/plan/", views.plan_supply, name="plan_supply"),
    path("transfers/<int:transfer_id>/", views.transfer_detail, name="transfer"),
    path("transfers/<int:transfer_id>/act/", views.transfer_act, name="transfer_act"),
    path("transfers/<int:transfer_id>/photo/", views.transfer_photo, name="transfer_photo"),
    path("returns/new/", views.return_create, name="return_create"),
    path("contract-end/<int:partner_id>/", views.contract_end_view, name="contract_end"),
    path("charges/", views.charges, name="charges"),
    path("transport/", views.transport_requests, name="transport_requests"),
    path("transport/new/", views.transport_request_create, name="transport_request_create"),
    path("transport/<int:transport_id>/", views.transport_request_detail, name="transport_request"),
]
