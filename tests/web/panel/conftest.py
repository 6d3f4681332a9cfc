"""The panel's fixtures: one photo analysed through the panel and kept on the server."""

from __future__ import annotations

import pytest

from classifier.panel.actions import analyse_source
from tests.support.panel import upload_of


@pytest.fixture
def analysed(service, photo_bytes):
    return analyse_source("upload", upload_of(photo_bytes))
