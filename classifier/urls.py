from django.urls import include, path
from django_plotly_dash import urls as dash_urls
from django_plotly_dash.app_name import app_name as dash_namespace

from classifier import views
from classifier.panel import app as panel_app
from classifier.panel import door

# The page's `plotly_direct` tag and the panel's routes find the app by name in django-plotly-dash's
# registry, so it is built here, once, when Django loads the URLs (before either can be used).
PANEL = panel_app.register()


def panel_patterns() -> list:
    """django-plotly-dash's routes for a stateless app (what `plotly_direct` uses), and no others.

    Left out: the ORM-backed app instances, the `initial` argument caches, `_dash-routes` (not
    implemented) and `add_stateless_apps` (a GET that writes to the database and redirects to an
    admin this site does not have). The update endpoint is ours (`panel.door.panel_update`); the rest
    answer GET only, for the one panel this site serves.
    """
    patterns = []
    for pattern in dash_urls.urlpatterns:
        name = pattern.name or ""
        if not name.startswith("app-") or name.endswith("--args") or name == "app-routes":
            continue
        view = door.panel_update if name == "app-update-component" else door.panel_view(pattern.callback)
        patterns.append(path(str(pattern.pattern), view, pattern.default_args, name=name))
    return patterns


urlpatterns = [
    path("", views.index, name="index"),
    path("api/analyze", views.analyze, name="analyze"),
    path("api/health", views.health, name="health"),
    path("api/ready", views.ready, name="ready"),
    path("api/openapi.json", views.openapi_json, name="openapi"),
    path("api/docs", views.api_docs, name="api-docs"),
    path("metrics", views.metrics_view, name="metrics"),
    path("samples/<str:name>/thumbnail.jpg", views.sample_thumbnail, name="sample-thumbnail"),
    path("django_plotly_dash/", include((panel_patterns(), dash_namespace))),
]
