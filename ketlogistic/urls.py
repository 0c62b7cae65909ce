from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from delivery import views as delivery_views
from ketlogistic.core import second_factor_views
from ketlogistic.core import views as core_views
from orders import views as order_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("accounts/login/", core_views.KetLoginView.as_view(), name="login"),
    # the second factor (ketlogistic/core/second_factor.py): the code after the password, the enrolment, the step-up
    path("accounts/second-factor/", second_factor_views.profile, name="second_factor"),
    path("accounts/second-factor/verify/", second_factor_views.verify, name="second_factor_verify"),
    path("accounts/second-factor/setup/", second_factor_views.setup, name="second_factor_setup"),
    path("accounts/second-factor/confirm/", second_factor_views.step_up, name="second_factor_step_up"),
    path(
        "accounts/second-factor/recovery-codes/",
        second_factor_views.recovery_codes,
        name="second_factor_recovery_codes",
    ),
    path("accounts/second-factor/turn-off/", second_factor_views.turn_off, name="second_factor_turn_off"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("accounts/password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("cabinet/", order_views.dashboard, name="dashboard"),
    path("cabinet/", include("ketlogistic.core.urls_cabinet")),
    path("orders/", include("orders.urls")),
    path("integrations/", include("integrations.urls")),
    path("warehouses/", include("warehouses.urls")),
    path("callcenter/", include("callcenter.urls")),
    path("delivery/", include("delivery.urls")),
    path("billing/", include("billing.urls")),
    path("track/", delivery_views.track, name="track"),
    # the link in a customer's SMS: a signed token for one order (delivery/tracking_links.py)
    path("t/<str:token>/", delivery_views.track_link, name="track_link"),
    path("api/v1/", include("integrations.api.urls")),
    path("staff/", include("ketlogistic.core.urls_staff")),
    path("exports/", include("ketlogistic.core.urls_exports")),
    path("admin/", admin.site.urls),
    path("healthz", core_views.healthz, name="healthz"),
]

# Under /api/ Django's own error pages answer in the API's JSON error format.
handler400 = "integrations.api.errors.bad_request"
handler404 = "integrations.api.errors.page_not_found"
handler500 = "integrations.api.errors.server_error"
