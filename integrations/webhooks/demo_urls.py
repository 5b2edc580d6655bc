"""The demo webhook receiver. shopboard/urls.py mounts it at /demo/webhooks/
only when DEBUG is on; the views refuse otherwise, too."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.demo_webhooks_page, name="demo_webhooks"),
    path("receive/", views.demo_webhooks_receive, name="demo_webhooks_receive"),
    path("clear/", views.demo_webhooks_clear, name="demo_webhooks_clear"),
]
