from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import views

app_name = "api"

urlpatterns = [
    path("orders/", views.OrderListCreateApi.as_view(), name="orders"),
    path("orders/bulk/", views.OrderBulkCreateApi.as_view(), name="orders_bulk"),
    path("orders/<int:order_id>/", views.OrderDetailApi.as_view(), name="order"),
    path("orders/<int:order_id>/history/", views.OrderHistoryApi.as_view(), name="order_history"),
    path("orders/<int:order_id>/cancel/", views.OrderCancelApi.as_view(), name="order_cancel"),
    path("statuses/", views.StatusGraphApi.as_view(), name="statuses"),
    path("products/", views.ProductListCreateApi.as_view(), name="products"),
    path("products/<int:product_id>/", views.ProductDetailApi.as_view(), name="product"),
    path("stock/", views.StockApi.as_view(), name="stock"),
    path("stock/movements/", views.StockMovementsApi.as_view(), name="stock_movements"),
    path("balance/", views.BalanceApi.as_view(), name="balance"),
    path("balance/entries/", views.BalanceEntriesApi.as_view(), name="balance_entries"),
    path("claims/", views.ClaimListCreateApi.as_view(), name="claims"),
    path("claims/<int:claim_id>/", views.ClaimDetailApi.as_view(), name="claim"),
    path("claims/<int:claim_id>/messages/", views.ClaimMessageCreateApi.as_view(), name="claim_messages"),
    path("claims/<int:claim_id>/files/", views.ClaimFileCreateApi.as_view(), name="claim_files"),
    path("sandbox/orders/<int:order_id>/advance/", views.SandboxAdvanceApi.as_view(), name="sandbox_advance"),
    path("schema/", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
]
