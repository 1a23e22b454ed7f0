"""The render check itself can fail: a page that reaches for a CDN is caught."""

from __future__ import annotations

import pytest
from browser import render

pytestmark = pytest.mark.slow


def test_a_page_loading_from_a_cdn_is_reported(tmp_path):
    page = tmp_path / "page.html"
    page.write_text('<html><body><p id="x">hello</p>'
                    '<script src="https://cdn.example.org/lib.js"></script></body></html>')
    dom, requested = render(page)
    assert 'id="x"' in dom
    assert requested == ["https://cdn.example.org/lib.js"]


def test_a_self_contained_page_requests_nothing(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<html><body><script>document.body.dataset.ran = 'yes'</script></body></html>")
    dom, requested = render(page)
    assert 'data-ran="yes"' in dom
    assert requested == []
