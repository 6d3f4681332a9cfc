"""The panel's endpoints (django-plotly-dash's views), behind the same checks as the API.

Only the one app this site serves answers; its read-only views take GET, and its update door takes
a CSRF-checked JSON body in the shape Dash's renderer sends, before any callback runs. What the
callbacks cannot act on is a `PanelRefused` (`panel_request_invalid`), answered as JSON like every
domain error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps

from dash.exceptions import DashException
from django.http import HttpRequest, HttpResponse
from django_plotly_dash import views as dash_views

from classifier.api_request import parsed_json
from classifier.decorators import api_view
from classifier.engine.errors import SceneWebError
from classifier.panel.app import APP_NAME
from classifier.panel.inputs import PanelRefused
from classifier.requestlog import log_field

logger = logging.getLogger("sceneweb.panel")
REQUEST_INVALID = "panel_request_invalid"  # the request itself, before any callback: not one input of it


def panel_app(ident: str) -> None:
    if ident != APP_NAME:
        raise SceneWebError(f"There is no panel called {ident[:40]!r}.", code="not_found")


def panel_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """django-plotly-dash's read-only views (layout, dependencies, scripts) for our one app, GET only."""

    @api_view("GET", "HEAD")
    @wraps(view)
    def guarded(request: HttpRequest, ident: str, **kwargs) -> HttpResponse:
        panel_app(ident)
        return view(request, ident=ident, **kwargs)

    return guarded


def well_formed_update(body: object) -> bool:
    """The shape Dash's renderer sends: the output id, and inputs and states as {id, property, value}
    (a list of them for pattern-matching ids). The values are the callbacks' business."""
    if not isinstance(body, dict) or not isinstance(body.get("output"), str):
        return False
    for field in ("inputs", "state"):
        entries = body.get(field, [])
        if not isinstance(entries, list):
            return False
        for entry in entries:
            items = entry if isinstance(entry, list) else [entry]
            if not all(isinstance(i, dict) and "id" in i and isinstance(i.get("property"), str) for i in items):
                return False
    changed = body.get("changedPropIds", [])
    return isinstance(changed, list) and all(isinstance(c, str) for c in changed)


@api_view("POST", csrf=True)
def panel_update(request: HttpRequest, ident: str, **kwargs) -> HttpResponse:
    """The panel's callbacks. Unlike django-plotly-dash's own route this one is not CSRF-exempt (the
    renderer sends the token; see settings.CSRF_COOKIE_NAME) and takes only JSON, so another site
    can neither post a form here nor send a "simple" text/plain request without a preflight."""
    if request.content_type != "application/json":
        raise SceneWebError("The panel's updates are JSON (Content-Type: application/json).", code="json_required")
    panel_app(ident)
    if not well_formed_update(parsed_json(request.body)):
        raise PanelRefused(
            "This is not a panel update the page would send; please reload the page.", code=REQUEST_INVALID
        )
    try:
        return dash_views.update(request, ident, stateless=True)
    except (DashException, KeyError, IndexError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        logger.warning("panel update refused: %s: %s", type(exc).__name__, log_field(str(exc)[:200]))
        raise PanelRefused(
            "The panel could not act on this request; please reload the page.", code=REQUEST_INVALID
        ) from None
