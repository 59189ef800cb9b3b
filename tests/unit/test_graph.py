"""graph.prefetch: a module imported ahead, in the background."""
import sys
import threading
import time

from azext_aks_connection.provider import graph


def test_prefetch_imports_in_the_background_and_swallows_a_failure(tmp_path, monkeypatch):
    (tmp_path / "aksconn_prefetched.py").write_text("import time\ntime.sleep(0.3)\nLOADED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = threading.active_count()
    started = time.monotonic()
    graph.prefetch("aksconn_prefetched")
    graph.prefetch("aksconn_no_such_module")                 # no error here: the step's own import says why
    assert time.monotonic() - started < 0.2                  # the caller does not wait for the import
    deadline = time.monotonic() + 10
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before                # both threads ended, the failing one too
    assert sys.modules["aksconn_prefetched"].LOADED
