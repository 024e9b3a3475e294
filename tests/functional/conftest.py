"""Fixtures of the functional tests (WebTest apps of tests/conftest.py).

- ``blog``: the ``app``, with Alice's bucket ``blog`` and its empty collection
  ``articles`` (``tests.support.ARTICLES``).
"""

from __future__ import annotations

import pytest
import webtest

from tests.support import create_collection


@pytest.fixture
def blog(app: webtest.TestApp) -> webtest.TestApp:
    return create_collection(app)
