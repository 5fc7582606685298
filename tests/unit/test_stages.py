from __future__ import annotations

import threading
import time

from rag.stages import collect, record, stage


def test_stages_are_timed_only_while_collecting_and_per_thread() -> None:
    with stage("outside"):  # nobody collecting: nothing kept, nothing fails
        pass
    with collect() as ms:
        with stage("sleep"):
            time.sleep(0.02)
        with stage("sleep"):  # a stage run twice adds up
            time.sleep(0.01)
        record("answer", 5.0)
        other: dict[str, float] = {}

        def elsewhere() -> None:
            with collect() as theirs, stage("thread"):
                pass
            other.update(theirs)

        t = threading.Thread(target=elsewhere)
        t.start()
        t.join()
    assert set(ms) == {"sleep", "answer"} and ms["answer"] == 5.0
    assert 29 <= ms["sleep"] < 1000
    assert set(other) == {"thread"}  # another thread's question never mixes in
    record("late", 1.0)
    assert "late" not in ms
