"""jieba, loaded on first use, and used by one thread at a time: a build adds the reference's own
terms to jieba's one dictionary and restores it after (`_words_kept_whole`).

Part of the rubric builder (`grader.authoring.build`).
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from functools import lru_cache

from ..text import CJK_RE


@lru_cache(maxsize=1)
def _jieba():
    import jieba
    import jieba.analyse

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    tfidf = jieba.analyse.default_tfidf
    return jieba, tfidf.idf_freq, tfidf.median_idf


@lru_cache(maxsize=1)
def _posseg():
    _jieba()
    import jieba.posseg

    return jieba.posseg


# jieba's dictionary is one per process; the API builds rubrics on the fly in a thread pool, so the
# segmenter is used by one thread at a time (two builds adding and restoring words at once left
# words of one in the dictionary for good: the next builds depended on what had run before)
_SEGMENTER_LOCK = threading.RLock()


@contextmanager
def _words_kept_whole(words: list[str]):
    """jieba's dictionary with `words` added, for the duration of the block only, and the segmenter
    to this thread: the dictionary is shared by the whole process (the ad-hoc profile segments with
    it too), so words added for one point must not change how another point, another question or a
    later build is segmented."""
    jieba = _jieba()[0]
    dt = jieba.dt
    words = [w for w in dict.fromkeys(words) if CJK_RE.search(w) and 2 <= len(w) <= 8]
    with _SEGMENTER_LOCK:
        saved = {w[: k + 1]: dt.FREQ.get(w[: k + 1]) for w in words for k in range(len(w))}
        total = dt.total
        for w in words:
            jieba.add_word(w, freq=2000)
        try:
            yield
        finally:
            for w, f in saved.items():
                if f is None:
                    dt.FREQ.pop(w, None)
                else:
                    dt.FREQ[w] = f
            dt.total = total
