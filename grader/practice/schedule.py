"""Spaced repetition and progress: pure functions of the attempts, with explicit dates.

Nothing here reads the clock or the database: the caller passes the attempts (oldest first) and
`today`. The schedule is recomputed from the whole history each time, so it is never stored
and cannot drift from the attempts.

SM-2 (Wozniak 1990), per question
---------------------------------
Each attempt gives a recall quality q in 0..5 (`quality`):

    normalised score s (the learner's own score when they gave one, else the grader's)
      s >= 0.90 -> 5    s >= 0.75 -> 4    s >= 0.60 -> 3
      s >= 0.40 -> 2    s >= 0.20 -> 1    otherwise 0
    then the missed key points (the learner's correction wins over the grader's verdict):
      any point missing or contradicted  -> q at most 4 (a perfect recall misses nothing)
      any point contradicted             -> q at most 2 (a wrong belief: the question starts over)

and the SM-2 update on the attempt's date:

    q >= 3: interval 1 day, then 6 days, then round(previous interval * EF); repetitions + 1
    q <  3: repetitions 0, interval 1 day (review tomorrow)
    EF' = max(1.3, EF + 0.1 - (5 - q) * (0.08 + (5 - q) * 0.02)), EF starting at 2.5
    due = attempt date + interval

One departure: a success before the question is due (practising it again the same day) does not
lengthen the interval, or answering one question five times in a row would schedule it months
away. A failure always counts.

Weak points
-----------
Per key point (bank, question, point id): attempts, covered, partial and missed counts, and a
miss rate = (missed + partial / 2) / attempts. Unscored points are left out.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, timedelta

from .history import Attempt

EF_START = 2.5
EF_MIN = 1.3
QUALITY_BANDS = ((0.90, 5), (0.75, 4), (0.60, 3), (0.40, 2), (0.20, 1))
PASS = 3


def quality(normalized: float, missed: int = 0, contradicted: int = 0) -> int:
    """SM-2 recall quality 0..5 from a normalised score and the missed key points (see module doc)."""
    q = next((grade for floor, grade in QUALITY_BANDS if normalized >= floor - 1e-9), 0)
    if missed or contradicted:
        q = min(q, 4)
    if contradicted:
        q = min(q, 2)
    return q


def attempt_quality(a: Attempt) -> int:
    verdicts = [p.effective_verdict for p in a.points]
    return quality(a.normalized, sum(v in ("missing", "contradicted") for v in verdicts), verdicts.count("contradicted"))


@dataclass(frozen=True)
class Review:
    """The SM-2 state of one question after its attempts."""

    repetitions: int = 0
    easiness: float = EF_START
    interval: int = 0  # days
    due: date | None = None  # None: never attempted
    last_quality: int | None = None


def sm2(state: Review, q: int, on: date) -> Review:
    """One SM-2 step: the state after an attempt of quality `q` on date `on`."""
    if not 0 <= q <= 5:
        raise ValueError(f"quality must be 0..5, got {q}")
    if q >= PASS and state.due is not None and on < state.due:
        return replace(state, last_quality=q)  # early success: no longer interval
    ef = max(EF_MIN, state.easiness + 0.1 - (5 - q) * (0.08 + (5 - q) * 0.02))
    if q < PASS:
        reps, interval = 0, 1
    else:
        reps = state.repetitions + 1
        interval = 1 if reps == 1 else 6 if reps == 2 else max(1, round(state.interval * state.easiness))
    return Review(repetitions=reps, easiness=round(ef, 4), interval=interval, due=on + timedelta(days=interval), last_quality=q)


def review_of(attempts: list[Attempt]) -> Review:
    """The SM-2 state of one question, replaying its attempts in time order."""
    state = Review()
    for a in sorted(attempts, key=lambda a: a.created_at):
        state = sm2(state, attempt_quality(a), a.created_at.date())
    return state


Key = tuple[str, str]  # (bank, question id)


def _by_question(attempts: list[Attempt]) -> dict[Key, list[Attempt]]:
    out: dict[Key, list[Attempt]] = defaultdict(list)
    for a in attempts:
        out[(a.bank, a.question_id)].append(a)
    return out


def reviews(attempts: list[Attempt]) -> dict[Key, Review]:
    return {k: review_of(v) for k, v in _by_question(attempts).items()}


def due_questions(attempts: list[Attempt], today: date, bank: str | None = None) -> list[Key]:
    """Questions due on `today`, most overdue first."""
    due = [(r.due, k) for k, r in reviews(attempts).items() if r.due is not None and r.due <= today and (bank is None or k[0] == bank)]
    return [k for _, k in sorted(due, key=lambda t: (t[0], _id_key(t[1][1])))]


def _id_key(qid: str):
    return (0, int(qid), "") if qid.isdigit() else (1, 0, qid)


@dataclass(frozen=True)
class Pick:
    question_id: str
    reason: str  # "due" | "new" | "weakest"
    detail: str = ""


def pick_next(
    bank: str, question_ids: list[str], attempts: list[Attempt], today: date, exclude: frozenset[str] | set[str] = frozenset(),
    due_only: bool = False,
) -> Pick | None:
    """The next question to practise: due reviews first (most overdue), then new ones (bank
    order), then the weakest (lowest last score, then earliest due). `exclude`: already done in
    this session. None when nothing is left (or, with due_only, nothing is due)."""
    mine = [a for a in attempts if a.bank == bank]
    states = reviews(mine)
    valid = [q for q in question_ids if q not in exclude]
    for b, qid in due_questions(mine, today, bank):
        if qid in valid:
            d = states[(b, qid)].due
            return Pick(qid, "due", "due today" if d == today else f"due since {d.isoformat()}")
    if due_only:
        return None
    for qid in valid:
        if (bank, qid) not in states:
            return Pick(qid, "new", "not practised yet")
    last = {k[1]: v[-1] for k, v in _by_question(sorted(mine, key=lambda a: a.created_at)).items()}
    tried = [q for q in valid if q in last]
    if not tried:
        return None
    qid = min(tried, key=lambda q: (last[q].normalized, states[(bank, q)].due or today, _id_key(q)))
    return Pick(qid, "weakest", f"last score {last[qid].final_score:g}/{last[qid].max_score:g}")


# ------------------------------------------------------------------ statistics


@dataclass(frozen=True)
class PointStat:
    bank: str
    question_id: str
    point_id: str
    text: str  # as in the latest attempt
    attempts: int
    covered: int
    partial: int
    missed: int

    @property
    def miss_rate(self) -> float:
        return (self.missed + self.partial / 2) / self.attempts if self.attempts else 0.0


def point_stats(attempts: list[Attempt]) -> list[PointStat]:
    """Every key point the learner met, weakest first (miss rate, then attempts, then id)."""
    counts: dict[tuple[str, str, str], list] = {}
    for a in sorted(attempts, key=lambda a: a.created_at):
        for p in a.points:
            v = p.effective_verdict
            if v == "unscored":
                continue
            c = counts.setdefault((a.bank, a.question_id, p.id), [p.text, 0, 0, 0, 0])
            c[0] = p.text
            c[1] += 1
            c[2] += v == "covered"
            c[3] += v == "partial"
            c[4] += v in ("missing", "contradicted")
    stats = [PointStat(b, q, pid, c[0], c[1], c[2], c[3], c[4]) for (b, q, pid), c in counts.items()]
    return sorted(stats, key=lambda s: (-s.miss_rate, -s.attempts, s.bank, _id_key(s.question_id), s.point_id))


@dataclass(frozen=True)
class Progress:
    bank: str
    question_id: str
    attempts: int
    best: float
    last: float
    max_score: float
    last_at: date
    next_due: date
    due: bool
    repetitions: int


def progress(attempts: list[Attempt], today: date) -> list[Progress]:
    """Per question practised: attempts, best and last score, next due date; bank and id order."""
    out = []
    for (b, qid), items in _by_question(attempts).items():
        items = sorted(items, key=lambda a: a.created_at)
        r = review_of(items)
        out.append(
            Progress(
                bank=b, question_id=qid, attempts=len(items), best=max(a.final_score for a in items),
                last=items[-1].final_score, max_score=items[-1].max_score, last_at=items[-1].created_at.date(),
                next_due=r.due, due=r.due <= today, repetitions=r.repetitions,  # type: ignore[operator,arg-type]
            )
        )
    return sorted(out, key=lambda p: (p.bank, _id_key(p.question_id)))
