from django.urls import path

from . import flow_views, views

ro = "shops/<int:shop_id>/ros/<int:repair_order_id>/"

urlpatterns = [
    path("", views.home, name="home"),
    path("shops/", views.shop_picker, name="shop_picker"),
    path("shops/<int:shop_id>/board/", views.board, name="board"),
    path("shops/<int:shop_id>/board/changes/", views.board_changes, name="board_changes"),
    path("shops/<int:shop_id>/settings/", views.shop_settings, name="shop_settings"),
    path("shops/<int:shop_id>/flow/", flow_views.shop_flow, name="shop_flow"),
    path("shops/<int:shop_id>/flow/delivered.csv", flow_views.shop_flow_csv, name="shop_flow_csv"),
    path(ro, views.repair_order_detail, name="repair_order_detail"),
    path(ro + "move/", views.repair_order_move, name="repair_order_move"),
    path(ro + "team/", views.repair_team_add, name="repair_team_add"),
    path(ro + "team/<int:person_id>/", views.repair_team_person_update, name="repair_team_person_update"),
    path(ro + "team/<int:person_id>/remove/", views.repair_team_remove, name="repair_team_remove"),
]
