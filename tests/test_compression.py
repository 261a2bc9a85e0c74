"""Text responses are gzipped for browsers that accept it; conditional requests still work."""

import gzip

import pytest


@pytest.mark.parametrize(
    "path",
    [
        "/static/app.css",
        "/static/vendor/htmx-4.0.1/htmx.min.js",
        "/static/vendor/zxing-wasm-3.1.3/zxing_reader.wasm",
        "/login",
        "/sw.js",
    ],
)
def test_gzip_for_browsers_that_accept_it(client, path):
    plain = client.get(path)
    packed = client.get(path, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert packed.status_code == 200
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert len(packed.data) < len(plain.data)
    if path != "/login":  # the login page carries a fresh CSRF token each time
        assert gzip.decompress(packed.data) == plain.data
    etag = packed.headers.get("ETag")
    if etag:
        again = client.get(path, headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
        assert again.status_code == 304
    plain.close()
    packed.close()


def test_no_gzip_without_accept_encoding(client):
    response = client.get("/static/app.css")
    assert "Content-Encoding" not in response.headers
    response.close()
