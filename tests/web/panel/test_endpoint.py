"""The panel through the door the browser uses: django-plotly-dash's update endpoint, with the
Django test client. Cross-site requests, malformed bodies and forged state all get a clean 4xx
or a message on the page; the endpoints this site does not use are not there."""

from __future__ import annotations

import json
import re

import pytest
from django.core.cache import cache
from django.test import Client

from classifier import urls
from classifier.engine import cam
from classifier.panel.callbacks import OUTPUTS
from tests.support.api import assert_refused

pytestmark = pytest.mark.django_db

PANEL = "/django_plotly_dash/app/SceneWeb"
UPDATE = f"{PANEL}/_dash-update-component"
ACTION_OUTPUT = next(k for k in urls.PANEL.as_dash_instance().callback_map if k.startswith("..panel-state.data"))


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()


def dash_id(component: str | dict) -> str:
    """How Dash's renderer writes a component id in `changedPropIds`."""
    return component if isinstance(component, str) else json.dumps(component, sort_keys=True, separators=(",", ":"))


def entry(component: str | dict, prop: str, value=None) -> dict:
    return {"id": component, "property": prop, "value": value}


def action_body(changed: str, *, samples=(), bars: int = 5, key=None, selected=0, uploads=None) -> dict:
    """The body Dash's renderer posts for `on_action`, with `changed` (`id.property`) the input that fired."""

    def fired(component, prop):
        return 1 if f"{dash_id(component)}.{prop}" == changed else None

    outputs = []
    for output in OUTPUTS.values():
        if isinstance(output.component_id, dict):
            outputs.append(
                [{"id": {"type": "scene-bar", "index": i}, "property": output.component_property} for i in range(bars)]
            )
        else:
            outputs.append({"id": output.component_id, "property": output.component_property})
    sample_ids = [{"type": "sample", "name": name} for name in samples]
    bar_ids = [{"type": "scene-bar", "index": i} for i in range(bars)]
    return {
        "output": ACTION_OUTPUT,
        "outputs": outputs,
        "inputs": [
            entry("uploads", "data", uploads),
            entry("url-go", "n_clicks", fired("url-go", "n_clicks")),
            entry("url", "n_submit", None),
            [entry(s, "n_clicks", fired(s, "n_clicks")) for s in sample_ids],
            [entry(b, "n_clicks", fired(b, "n_clicks")) for b in bar_ids],
            [],  # attribute bars
            [],  # the strip of several photos
            [],  # this browser's recent analyses
            entry("wanted", "data", None),
            entry("get-png", "n_clicks", fired("get-png", "n_clicks")),
        ],
        "changedPropIds": [changed],
        "state": [
            entry("url", "value", None),
            entry("panel-state", "data", key),
            entry("selected", "data", selected),
            entry("selected-attribute", "data", None),
            entry("opacity", "value", 0.5),
            entry("heat-on", "value", ["on"]),
        ],
    }


@pytest.fixture
def page_client(service) -> Client:
    """A browser's view of the site: CSRF checks on, the page loaded (so it holds the CSRF cookie)."""
    browser = Client(enforce_csrf_checks=True)
    assert browser.get("/").status_code == 200
    return browser


def post_update(browser: Client, body, *, content_type="application/json", **headers):
    token = browser.cookies["_csrf_token"].value if "_csrf_token" in browser.cookies else ""
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return browser.post(UPDATE, data, content_type=content_type, headers={"X-CSRFToken": token, **headers})


def changes(response) -> dict:
    assert response.status_code == 200, response.content
    return {component: props for component, props in response.json()["response"].items()}


def analyse_sample(browser: Client, name: str) -> dict:
    sample = {"type": "sample", "name": name}
    return changes(post_update(browser, action_body(f"{dash_id(sample)}.n_clicks", samples=[name])))


def test_the_page_analyses_a_sample_through_the_endpoint_and_keeps_only_a_key(page_client, sample_photos):
    shown = analyse_sample(page_client, sample_photos[0].name)
    assert shown["error"] == {"children": ""}
    assert shown["announce"]["children"].startswith(f"sample {sample_photos[0].name}: An ")
    key = shown["panel-state"]["data"]
    assert isinstance(key, str) and len(key) == 24
    clicked = changes(post_update(page_client, action_body('{"index":2,"type":"scene-bar"}.n_clicks', key=key)))
    assert clicked["selected"] == {"data": 2}
    assert clicked["heat"]["src"].startswith("data:image/jpeg;base64,")


def test_another_site_cannot_post_to_the_panel(service):
    """A page on another site can send a text/plain "simple" request without a preflight, but it has no
    token: refused before any callback runs."""
    visitor = Client(enforce_csrf_checks=True)
    body = json.dumps(action_body("get-png.n_clicks"))
    for content_type in ("text/plain", "application/json"):
        response = visitor.post(UPDATE, body, content_type=content_type, headers={"Origin": "http://evil.example"})
        assert_refused(response, 403, "csrf_failed")


def test_a_token_does_not_help_another_origin(page_client):
    response = post_update(page_client, action_body("get-png.n_clicks"), Origin="http://evil.example")
    assert_refused(response, 403, "csrf_failed")


def test_the_update_endpoint_takes_json_only(page_client):
    response = post_update(page_client, json.dumps(action_body("get-png.n_clicks")), content_type="text/plain")
    assert_refused(response, 415, "json_required")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("{not json", id="not json"),
        pytest.param([], id="a list"),
        pytest.param({"output": 5}, id="output not a string"),
        pytest.param({"output": "nothing.children", "inputs": []}, id="unknown output"),
        pytest.param({"output": ACTION_OUTPUT, "inputs": "x"}, id="inputs not a list"),
        pytest.param({"output": ACTION_OUTPUT, "inputs": [{"id": "uploads"}]}, id="input without property"),
        pytest.param({"output": ACTION_OUTPUT, "inputs": [], "changedPropIds": [1]}, id="changed ids not strings"),
        pytest.param({**action_body("get-png.n_clicks"), "outputs": [{"id": "x"}]}, id="outputs not the callback's"),
        pytest.param({**action_body("get-png.n_clicks"), "state": [["x"]]}, id="states of the wrong kind"),
    ],
)
def test_a_malformed_update_is_a_clean_400(page_client, body):
    response = post_update(page_client, body)
    assert response.status_code == 400, response.content
    assert response.json()["code"] in ("bad_json", "panel_request_invalid")


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"key": {"scenes": [], "custom": [{"name": "x", "classes": [], "cam": None}] * 500}}, "never issued"),
        ({"key": "A" * 24}, "expired"),
        ({"key": "A" * 24, "selected": "abc"}, "expired"),
    ],
)
def test_forged_panel_state_gets_a_message_and_no_work(page_client, monkeypatch, state, message):
    monkeypatch.setattr(cam, "render_overlay", lambda *a, **k: pytest.fail("rendered"))
    shown = changes(post_update(page_client, action_body("get-png.n_clicks", **state)))
    assert message in shown["error"]["children"]
    assert "png-file" not in shown


def test_a_forged_scene_index_gets_a_message(page_client, sample_photos):
    key = analyse_sample(page_client, sample_photos[0].name)["panel-state"]["data"]
    shown = changes(post_update(page_client, action_body("get-png.n_clicks", key=key, selected=[1, 2])))
    assert shown["error"] == {"children": "Pick one of the 5 listed scenes."}


def test_a_client_answered_429_gets_no_work_done_through_the_endpoint(
    page_client, service, sample_photos, monkeypatch, frozen_minute
):
    service.SCENEWEB_RATE_LIMIT = 1
    key = analyse_sample(page_client, sample_photos[0].name)["panel-state"]["data"]
    monkeypatch.setattr(cam, "render_overlay", lambda *a, **k: pytest.fail("rendered"))
    for changed in ("get-png.n_clicks", '{"index":1,"type":"scene-bar"}.n_clicks'):
        shown = changes(post_update(page_client, action_body(changed, key=key)))
        assert shown["error"]["children"].startswith("Too many analyses from your address")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/django_plotly_dash/add_stateless_apps", 404),
        ("get", f"{PANEL}/_dash-routes", 404),
        ("get", "/django_plotly_dash/instance/anything/_dash-layout", 404),
        ("get", f"{PANEL}/initial/abc/_dash-layout", 404),
        ("get", "/django_plotly_dash/app/NoSuchApp/_dash-layout", 404),
        ("get", UPDATE, 405),
        ("post", f"{PANEL}/_dash-layout", 405),
    ],
)
def test_endpoints_the_site_does_not_use_are_clean_4xx(service, method, path, status):
    response = getattr(Client(), method)(path)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"error", "code", "request_id"}


def test_the_panel_layout_is_still_served(service):
    response = Client().get(f"{PANEL}/_dash-layout")
    assert response.status_code == 200
    assert "panel-state" in response.content.decode()


def test_the_panel_scripts_redirect_to_the_static_files(service, client):
    page = client.get("/").content.decode()
    script = re.search(r'src="(/django_plotly_dash/app/SceneWeb/_dash-component-suites/[^"]+)"', page).group(1)
    response = client.get(script)
    assert response.status_code == 302
    assert response["Location"].startswith("/static/dash/component/")
