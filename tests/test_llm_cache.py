"""The judge cache: keys, persistence, concurrent writers, a broken path."""

from __future__ import annotations

import threading

from grader.llm.cache import JudgeCache, cache_key, open_cache


def test_key_depends_on_every_part_not_on_their_order():
    a = cache_key(model="m", answer="x", seed=7)
    assert a == cache_key(seed=7, answer="x", model="m")
    assert a != cache_key(model="m", answer="y", seed=7)
    assert a != cache_key(model="m2", answer="x", seed=7)


def test_roundtrip_and_persistence(tmp_path):
    path = tmp_path / "sub" / "c.sqlite3"
    c = JudgeCache(path)
    assert c.get("k") is None
    c.put("k", {"reply": {"points": []}, "raw": "中文"})
    c.close()
    again = JudgeCache(path)
    assert again.get("k") == {"reply": {"points": []}, "raw": "中文"}
    assert len(again) == 1


def test_many_threads_write_at_once(tmp_path):
    c = open_cache(tmp_path / "c.sqlite3")
    assert open_cache(tmp_path / "c.sqlite3") is c

    def work(i):
        for j in range(20):
            c.put(f"{i}-{j}", {"v": j})
            assert c.get(f"{i}-{j}") == {"v": j}

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(c) == 160 and c.error is None


def test_unusable_path_is_a_miss_not_a_failure(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    c = JudgeCache(blocker / "c.sqlite3")  # parent is a file
    c.put("k", {"v": 1})
    assert c.get("k") is None and c.error
