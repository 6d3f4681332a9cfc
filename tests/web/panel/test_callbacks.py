"""The Dash callbacks and the panel's registration (`classifier.panel.callbacks`, `classifier.panel`)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from dash.exceptions import PreventUpdate
from django_plotly_dash.dash_wrapper import get_local_stateless_by_name

from classifier import urls
from classifier.panel.app import APP_NAME
from classifier.panel.callbacks import OUTPUTS, on_heat_controls, on_json_download, trigger_of
from classifier.testing.paths import REPO


class Context:
    def __init__(self, *triggered):
        self.triggered = list(triggered)


def test_a_trigger_without_a_value_changes_nothing():
    with pytest.raises(PreventUpdate):
        trigger_of(Context({"prop_id": "url-go.n_clicks", "value": None}))


def test_a_sample_trigger_is_read_back_as_its_id():
    fired = {"prop_id": '{"name":"a.jpg","type":"sample"}.n_clicks', "value": 1}
    assert trigger_of(Context(fired)) == {"name": "a.jpg", "type": "sample"}


@pytest.mark.parametrize("fired", [{"prop_id": "{not json.n_clicks", "value": 1}, {"prop_id": 5, "value": 1}, "x"])
def test_a_trigger_the_renderer_would_not_send_changes_nothing(fired):
    with pytest.raises(PreventUpdate):
        trigger_of(Context(fired))


def test_the_json_download_of_an_unknown_result_sends_nothing():
    for key in ("x" * 24, "../../etc", None):
        with pytest.raises(PreventUpdate):
            on_json_download(1, key)


def test_the_heatmap_controls_only_change_its_style():
    assert on_heat_controls(0.25, ["on"]) == {"opacity": 0.25}
    assert on_heat_controls(0.25, []) == {"display": "none"}


def test_the_urls_register_the_panel_the_page_embeds():
    assert get_local_stateless_by_name(APP_NAME) is urls.PANEL
    callbacks = urls.PANEL.as_dash_instance().callback_map
    [action] = [c for c in callbacks if c.startswith("..panel-state.data")]
    named = [o for o in OUTPUTS.values() if isinstance(o.component_id, str)]
    assert all(f"{o.component_id}.{o.component_property}" in action for o in named)
    client_side = {"upload-feedback-shown.data", "recent.children", "wanted.data"}
    assert set(callbacks) == {action, "heat.style", "json-file.data", *client_side}


def test_importing_the_panel_registers_nothing():
    """Registration is an explicit call (from classifier/urls.py), never a side effect of an import."""
    code = (
        "import django; django.setup(); import classifier.panel.app; "
        "from django_plotly_dash.dash_wrapper import all_apps; print(sorted(all_apps()))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "sceneweb.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
