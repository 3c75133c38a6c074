from django.urls import path

from . import views

urlpatterns = [
    path("", views.index),
    path("api/info", views.info),
    path("form", views.form),
]
