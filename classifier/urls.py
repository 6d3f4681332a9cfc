from django.urls import include, path

from classifier import dash_app, views  # noqa: F401  (dash_app registers the panel before a template embeds it)

urlpatterns = [
    path("", views.index, name="index"),
    path("api/analyze", views.analyze, name="analyze"),
    path("api/health", views.health, name="health"),
    path("samples/<str:name>/thumbnail.jpg", views.sample_thumbnail, name="sample-thumbnail"),
    path("django_plotly_dash/", include("django_plotly_dash.urls")),
]
