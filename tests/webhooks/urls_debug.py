"""The project's URLs as they are with DEBUG on (the demo receiver routed)."""

from django.urls import include, path

from shopboard.urls import urlpatterns as base

urlpatterns = [*base, path("demo/webhooks/", include("integrations.webhooks.demo_urls"))]
