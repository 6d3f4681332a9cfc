"""The panel's Dash app, built and registered by an explicit call rather than as an import side effect."""

from __future__ import annotations

from django_plotly_dash import DjangoDash

from classifier.panel import callbacks, layout

APP_NAME = "SceneWeb"  # the name in the page's `plotly_direct` tag and in the panel's URLs


def register() -> DjangoDash:
    """Build the panel and put it in django-plotly-dash's registry under `APP_NAME`.

    The page's `plotly_direct` tag and the panel's routes look the app up there by name, so it
    must exist before the first of them is used; `classifier/urls.py` calls this when Django loads
    the URLs (django-plotly-dash's static files finder loads them for the same reason). A second
    call would replace the registered app with a new one.
    """
    app = DjangoDash(APP_NAME, serve_locally=True)
    app.layout = layout.page
    callbacks.attach(app)
    return app
