from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from .api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("integrations.urls")),
    path("", include("repairs.urls")),
]

if settings.DEBUG:
    # The built-in OBS receiver of the local demo (`manage.py rundemo`).
    urlpatterns.append(path("demo/obs/", include("integrations.obs.demo_urls")))
