"""The webhooks section of the shop settings (mounted at the site root)."""

from django.urls import path

from . import views

_ENDPOINT = "shops/<int:shop_id>/settings/webhooks/<int:endpoint_id>/"

urlpatterns = [
    path(
        "shops/<int:shop_id>/settings/webhooks/",
        views.webhook_endpoint_create,
        name="webhook_endpoint_create",
    ),
    path(_ENDPOINT, views.webhook_endpoint, name="webhook_endpoint"),
    path(_ENDPOINT + "enable/", views.webhook_endpoint_enable, name="webhook_endpoint_enable"),
    path(_ENDPOINT + "delete/", views.webhook_endpoint_delete, name="webhook_endpoint_delete"),
    path(_ENDPOINT + "rotate/", views.webhook_endpoint_rotate, name="webhook_endpoint_rotate"),
    path(_ENDPOINT + "test/", views.webhook_endpoint_test, name="webhook_endpoint_test"),
    path(
        _ENDPOINT + "resend-failed/",
        views.webhook_messages_resend_failed,
        name="webhook_messages_resend_failed",
    ),
    path(
        _ENDPOINT + "messages/<int:message_id>/resend/",
        views.webhook_message_resend,
        name="webhook_message_resend",
    ),
]
