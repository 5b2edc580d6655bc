"""Board-side pages of the integrations (mounted at the site root)."""

from django.urls import include, path

from .beacons import views as beacon_views
from .obs import views as obs_views

urlpatterns = [
    path(
        "shops/<int:shop_id>/ros/<int:repair_order_id>/obs/<int:notification_id>/resend/",
        obs_views.notification_resend_view,
        name="obs_notification_resend",
    ),
    path(
        "shops/<int:shop_id>/ros/<int:repair_order_id>/beacon/",
        beacon_views.beacon_pair_view,
        name="beacon_pair",
    ),
    path("", include("integrations.webhooks.urls")),
]
