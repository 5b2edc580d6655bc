"""The project's URLs as they are with DEBUG on (the demo OBS routed)."""

from django.urls import include, path

from shopboard.urls import urlpatterns as base

urlpatterns = [*base, path("demo/obs/", include("integrations.obs.demo_urls"))]
