"""The demo OBS receiver (SPEC §5 stand-in). shopboard/urls.py mounts these
at /demo/obs/ only when DEBUG is on; the views refuse otherwise, too."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.demo_obs_page, name="demo_obs"),
    path("updateevent/", views.demo_obs_receive, name="demo_obs_receive"),
]
