from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from .api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    # Sign-in and password change only: password reset would mail a link,
    # and Shopboard sends no mail (managers reset passwords with create_member).
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "accounts/password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("", include("integrations.urls")),
    path("", include("repairs.urls")),
]

if settings.DEBUG:
    # The built-in OBS receiver of the local demo (`manage.py rundemo`).
    urlpatterns.append(path("demo/obs/", include("integrations.obs.demo_urls")))
