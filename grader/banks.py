"""Banks on disk -> `Bank` objects.

A bank is a directory with `bank.yaml` (name, title, source, licence) and one YAML file per
question (`q01.yaml` ...) holding the question, its reference answer and its rubric. Bundled banks
live in the repository's `rubrics/` directory and are shipped inside the wheel; they are found
relative to this package, never relative to the current directory.

Errors name the file, the line and the field, so a person editing a rubric can fix it.
"""

from __future__ import annotations

import re
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import NotFoundError, RubricError

if TYPE_CHECKING:  # imported where used: resolving a bank and reading its files' signature need no pydantic
    from .models import Bank, BankInfo, Question

DEFAULT_BANK = "llm-interview"
_PKG = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """`rubrics` or `prompts`: inside the installed package, or at the top of a checkout."""
    for candidate in (_PKG / "_data" / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise RubricError(f"bundled {name}/ directory not found next to {_PKG}; reinstall the package")


@lru_cache(maxsize=1)
def bundled_banks() -> dict[str, Path]:
    root = data_dir("rubrics")
    return {p.name: p for p in sorted(root.iterdir()) if (p / "bank.yaml").is_file()}


def resolve_bank_path(bank: str | Path | None) -> Path:
    if bank is None or str(bank) == "":
        bank = DEFAULT_BANK
    banks = bundled_banks()
    if isinstance(bank, str) and bank in banks:
        return banks[bank]
    path = Path(bank).expanduser()
    if path.is_dir() and (path / "bank.yaml").is_file():
        return path.resolve()
    if path.is_dir():
        raise NotFoundError(f"{path} is not a bank directory: it has no bank.yaml (run 'grader rubric build' to make one)")
    raise NotFoundError(
        f"unknown bank {str(bank)!r}: use a bundled bank ({', '.join(banks) or 'none'}) or a path to a bank directory"
    )


MAX_FILE_BYTES = 2 * 1024 * 1024  # a question file of the bundled bank is ~5 KB


def read_bank_file(path: Path, root: Path | None = None) -> str:
    """A bank file's text, bounded: a regular file inside the bank directory `root` (a symlink
    may point within it, not out of it: not to /dev/zero, not to another user's files), at most
    MAX_FILE_BYTES, UTF-8."""
    root = (root or path.parent).resolve()
    real = path.resolve()
    if root not in real.parents:
        raise RubricError(f"{path}: a link out of the bank directory {root}; copy the file into the bank instead")
    if not real.is_file():
        raise RubricError(f"{path}: not a regular file; a bank holds YAML files")
    with open(real, "rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise RubricError(f"{path}: over {MAX_FILE_BYTES // (1024 * 1024)} MiB; split the bank into more question files")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RubricError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None


def _yaml():
    """PyYAML and its safe loader (libyaml's when present), imported on first use."""
    import yaml

    return yaml, getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _refuse_aliases(path: Path, text: str) -> None:
    """YAML aliases (`*a` repeating an anchored `&a` list) let a 26 KB file expand to gigabytes:
    a bank file may not use them. Only files with both characters are scanned (libyaml's events)."""
    if "&" not in text or "*" not in text:
        return
    yaml, loader = _yaml()
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.AliasEvent):
            raise RubricError(f"{path}:{event.start_mark.line + 1}: YAML aliases (*name) are not allowed in a bank "
                              "file; write the values out")


@lru_cache(maxsize=4)
def _compose(text: str):
    yaml, loader = _yaml()
    return yaml.compose(text, Loader=loader)


def _yaml_line(text: str, loc: tuple) -> int | None:
    """Best-effort line of a pydantic error location in a YAML document."""
    import yaml

    try:
        node = _compose(text)  # once per file, not once per finding
    except yaml.YAMLError:
        return None
    line = None
    for key in loc:
        if node is None:
            break
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if k.value == key:
                    line, nxt = k.start_mark.line + 1, v
                    break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def load_yaml_model(path: Path, model: type):
    yaml, loader = _yaml()  # here: a grade whose rubric comes from the compiled cache never reads YAML
    text = read_bank_file(path)
    try:
        _refuse_aliases(path, text)
        data = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader (libyaml's when present)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise RubricError(f"{where}: invalid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise RubricError(f"{path}:1: expected a mapping of fields, got {type(data).__name__}")
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        line = _yaml_line(text, loc)
        where = f"{path}:{line}" if line else str(path)
        field = ".".join(str(p) for p in loc) or "(document)"
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise RubricError(f"{where}: {field}: {err['msg']}{more}") from None


def load_bank_dir(path: Path) -> Bank:
    from .models import Bank, BankInfo, Question

    info = load_yaml_model(path / "bank.yaml", BankInfo)
    questions: dict[str, Question] = {}
    for f in sorted(path.glob("*.yaml")):
        if f.name == "bank.yaml":
            continue
        q = load_yaml_model(f, Question)
        if q.id in questions:
            raise RubricError(f"{f}: question id {q.id!r} is also used by another file of the bank")
        questions[q.id] = q.with_scales(info.scales)
    if not questions:
        raise RubricError(f"{path}: the bank has no question files (*.yaml beside bank.yaml)")
    ordered = dict(sorted(questions.items(), key=lambda kv: _id_key(kv[0])))
    return Bank(info=info, questions=ordered, path=str(path))


def _id_key(qid: str):
    return (0, int(qid), "") if qid.isdigit() else (1, 0, qid)


@lru_cache(maxsize=32)
def _load_cached(path: str, mtime_ns: int) -> Bank:
    return load_bank_dir(Path(path))


def load_bank(bank: str | Path | None = None) -> Bank:
    path = resolve_bank_path(bank)
    mtime = max(f.stat().st_mtime_ns for f in path.glob("*.yaml"))
    return _load_cached(str(path), mtime)


_ID_LINE = re.compile(r"""^id:\s*(?:'([^']*)'|"([^"]*)"|(\S+))\s*(?:#.*)?$""", re.M)


def _file_id(path: Path) -> str | None:
    """The question id of a file, read from its `id:` line without parsing the YAML."""
    try:
        head = path.read_text(encoding="utf-8")
    except OSError:
        return None
    m = _ID_LINE.search(head)
    return next((g for g in m.groups() if g is not None), None) if m else None


_SIG_TTL = 1.0  # seconds a bank directory's listing is trusted before it is looked at again
_sig_cache: dict[str, tuple[float, tuple]] = {}


def _signature(path: Path) -> tuple:
    """Names, mtimes and sizes of a bank's files, re-read at most once a second."""
    now = time.monotonic()
    hit = _sig_cache.get(str(path))
    if hit and now - hit[0] < _SIG_TTL:
        return hit[1]
    sig = tuple((f.name, st.st_mtime_ns, st.st_size) for f in sorted(path.glob("*.yaml")) for st in (f.stat(),))
    _sig_cache[str(path)] = (now, sig)
    return sig


def forget(path: Path) -> None:
    """Drop what is known of a bank's files, after writing to them in this process."""
    _sig_cache.pop(str(path), None)


@lru_cache(maxsize=64)
def _index(path: str, signature: tuple) -> dict[str, list[str]]:
    """Question id -> files whose `id:` line names it (read without parsing the YAML)."""
    index: dict[str, list[str]] = {}
    for name, _, _ in signature:
        if name != "bank.yaml":
            index.setdefault(_file_id(Path(path) / name) or "", []).append(name)
    return index


@lru_cache(maxsize=1024)
def _load_file(path: str, mtime_ns: int, model: type):
    return load_yaml_model(Path(path), model)


def load_question(bank: str | Path | None, qid: str) -> tuple[Question, BankInfo]:
    """One question, parsing only its own file when the ids can be read from the `id:` lines.

    Parsed files are cached by modification time, so an edited rubric is picked up; any doubt
    about the index falls back to loading the whole bank.
    """
    path = resolve_bank_path(bank)
    return _question(path, str(qid).strip(), _signature(path))


# A grade asks for its question each time; the signature keys out stale files. A question is ~46 KB
# in memory (the bundled bank's, unpickled under tracemalloc): 256 entries, 16 banks of 16, ~12 MB.
@lru_cache(maxsize=256)
def _question(path: Path, qid: str, sig: tuple) -> tuple[Question, BankInfo]:
    from .models import BankInfo, Question

    mtimes = {name: mtime for name, mtime, _ in sig}
    info = _load_file(str(path / "bank.yaml"), mtimes.get("bank.yaml", 0), BankInfo)
    files = _index(str(path), sig).get(qid, [])
    if len(files) == 1:
        q = _load_file(str(path / files[0]), mtimes[files[0]], Question)
        if q.id == qid:
            return q.with_scales(info.scales), info
    full = load_bank(path)
    return get_question(full, qid), full.info


def get_question(bank: Bank, qid: str) -> Question:
    q = bank.questions.get(str(qid).strip())
    if q is None:
        ids = ", ".join(bank.questions)
        raise NotFoundError(f"unknown question {qid!r} in bank {bank.name!r}; valid ids: {ids}")
    return q
