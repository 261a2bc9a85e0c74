"""The server process freezes its warmed-up heap after its first requests (dutypwa/heap.py):
full collections during later requests no longer rescan what those requests loaded."""

import gc

from dutypwa import create_app, heap


def test_heap_is_frozen_after_the_listed_requests_once_each_was_sent(tmp_path, monkeypatch):
    freezes = []

    def counted_freeze():
        freezes.append(len(freezes) + 1)
        heap.gc.collect()
        heap.gc.freeze()

    monkeypatch.setattr(heap, "freeze", counted_freeze)
    app = create_app(
        {
            "SECRET_KEY": "heap-test",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'heap.sqlite3'}",
            "HEAP_FREEZE_AFTER_REQUESTS": [2, 4],
        }
    )
    assert not app.testing
    client = app.test_client()
    gc.unfreeze()
    try:
        client.get("/login").close()
        assert freezes == []
        response = client.get("/login")
        assert freezes == [], "not while the response is still being sent"
        response.close()
        assert freezes == [1]
        assert gc.get_freeze_count() > 0
        for _ in range(4):
            client.get("/login").close()
        assert freezes == [1, 2], "once after each listed count, then never"
    finally:
        gc.unfreeze()


def test_tests_never_freeze(client, monkeypatch):
    monkeypatch.setattr(heap, "freeze", lambda: pytest_fail())
    for _ in range(12):
        client.get("/login").close()


def pytest_fail():
    raise AssertionError("a test app froze the heap")
