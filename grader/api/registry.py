"""`BankRegistry`: the banks a server serves, by name (a client names a bank, never a path)."""

import logging
import time
from typing import Optional

from ..banks import DEFAULT_BANK, bundled_banks, load_bank, resolve_bank_path
from ..errors import GraderError, NotFoundError
from ..models import Bank
from ..settings import Settings
from .schemas import BankSummary

log = logging.getLogger("grader.api")


class BankRegistry:
    """The banks this server serves, by name: bundled ones and the configured one."""

    RECHECK_S = 1.0

    def __init__(self, settings: Settings, bundled: bool = True):
        self.paths: dict[str, str] = {}
        if bundled:
            try:
                self.paths = {name: str(path) for name, path in bundled_banks().items()}
            except GraderError as exc:
                log.warning("no bundled banks: %s", exc)
        self.default = DEFAULT_BANK
        self._warned: set[str] = set()
        self._recent: dict[str, tuple[float, Bank]] = {}
        if settings.bank:
            path = resolve_bank_path(settings.bank)
            bank = load_bank(path)  # fail at start, not on the first request
            self.paths[bank.name] = str(path)
            self.default = bank.name

    def load(self, name: Optional[str]) -> Bank:
        name = name or self.default
        path = self.paths.get(name)
        if path is None:
            shown = name if len(name) <= 80 else name[:79] + "…"
            raise NotFoundError(f"unknown bank {shown!r}: this server has {', '.join(self.paths) or 'none'} (GET /v1/banks)")
        # load_bank re-reads a bank whose files changed, at the price of a directory scan and a
        # stat per file on every call; on the request path, look at most once per RECHECK_S.
        now = time.monotonic()
        hit = self._recent.get(name)
        if hit is not None and now - hit[0] < self.RECHECK_S:
            return hit[1]
        bank = load_bank(path)
        self._recent[name] = (now, bank)
        return bank

    def summaries(self) -> list[BankSummary]:
        out = []
        for name in self.paths:
            try:
                bank = self.load(name)
            except GraderError as exc:  # a broken bank is not offered; the operator sees why, once
                if name not in self._warned:
                    self._warned.add(name)
                    log.warning("bank %s is not served: %s", name, exc)
                continue
            out.append(
                BankSummary(
                    **bank.info.model_dump(include={"title", "language", "description", "source", "licence"}),
                    name=name,
                    questions=len(bank.questions),
                    default=name == self.default,
                )
            )
        return out
