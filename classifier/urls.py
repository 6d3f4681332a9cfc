from django.urls import path

from classifier import views

urlpatterns = [
    path("api/health", views.health, name="health"),
]
