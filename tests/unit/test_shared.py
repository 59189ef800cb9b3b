# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""provider/shared.py: reads shared only inside sharing(), one read per key however many ask at once, a failed
read not kept, each caller its own copy."""
import threading
import time

import pytest

from azext_aks_connection.provider import shared


def test_without_sharing_every_call_reads():
    calls = []
    for _ in range(3):
        shared.cached(("k",), lambda: calls.append(1) or {"v": 1})
    assert len(calls) == 3 and not shared.active()


def test_inside_sharing_concurrent_callers_wait_for_one_read_and_get_copies():
    calls = []

    def read():
        calls.append(1)
        time.sleep(0.05)        # the first read is slow: the others must wait for it, not read too
        return {"v": [1]}
    with shared.sharing():
        got = []
        threads = [threading.Thread(target=lambda: got.append(shared.cached(("k",), read))) for _ in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert len(calls) == 1 and len(got) == 8
        got[0]["v"].append(2)
        assert shared.cached(("k",), read) == {"v": [1]}       # a caller's change is its own
    assert not shared.active()


def test_a_failed_read_is_not_kept():
    with shared.sharing():
        with pytest.raises(ValueError):
            shared.cached(("bad",), lambda: (_ for _ in ()).throw(ValueError("no")))
        assert shared.cached(("bad",), lambda: 7) == 7
