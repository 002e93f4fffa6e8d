"""`grader questions|grade|batch|eval|rubric ...|serve`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import typer

from ..errors import UsageError

from .app import BankOpt, BaseUrlOpt, ExamplesOpt, JsonOpt, ModelOpt, ModeOpt, NExamplesOpt, NoCacheOpt, _console, _err, _read_text_arg, _run, _settings, app, rubric_app


# ------------------------------------------------------------------ questions


@app.command()
def questions(bank: Optional[str] = BankOpt, as_json: bool = JsonOpt) -> None:
    """List the question ids and texts of a bank."""
    from ..banks import load_bank

    b = _run(lambda: load_bank(bank))
    if as_json:
        typer.echo(json.dumps([{"id": q.id, "question": q.question} for q in b.questions.values()], ensure_ascii=False, indent=2))
        return
    con = _console()
    con.print(f"[bold]{b.info.title}[/bold]  ({b.name}, {len(b.questions)} questions)")
    for q in b.questions.values():
        con.print(f"[cyan]{q.id:>3}[/cyan]  {q.question}")


# ------------------------------------------------------------------ grade


@app.command()
def grade(
    args: Optional[list[str]] = typer.Argument(None, metavar="[QID] [ANSWER]", help="Question id, then the answer ('-' or absent with a pipe: stdin)."),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="Read the answer from this file."),
    bank: Optional[str] = BankOpt,
    mode: Optional[str] = ModeOpt,
    reference: Optional[list[str]] = typer.Option(
        None, "--reference", help="Grade against this reference answer instead of a bank question; give it again for other references (the best grade is kept)."
    ),
    reference_file: Optional[Path] = typer.Option(None, "--reference-file", help="Read the reference answer from a file."),
    question: Optional[str] = typer.Option(None, "--question", help="The question text, with --reference."),
    model: Optional[str] = ModelOpt,
    base_url: Optional[str] = BaseUrlOpt,
    examples: Optional[Path] = ExamplesOpt,
    n_examples: Optional[int] = NExamplesOpt,
    no_cache: bool = NoCacheOpt,
    no_fallback: bool = typer.Option(False, "--no-fallback", help="Fail instead of falling back to fuzzy when the judge fails."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Include the judge transcript in --json output."),
    as_json: bool = JsonOpt,
) -> None:
    """Grade one answer: against a bank question (QID), or an ad-hoc --reference."""
    from ..pipeline import Grader

    args = list(args or [])
    overrides = {"mode": mode, "model": model, "base_url": base_url, "examples": examples, "n_examples": n_examples}
    if no_cache:
        overrides["use_cache"] = False
    if no_fallback:
        overrides["fallback"] = False
    settings = _settings(**overrides)

    def work():
        refs = list(reference or [])
        if refs or reference_file is not None:
            if len(args) > 1:
                raise UsageError("with --reference, give only the answer as an argument (no question id)")
            if reference_file is not None:
                refs.insert(0, _read_text_arg(None, reference_file, "reference"))
            if any(r == "-" for r in refs):
                raise UsageError("--reference - is not supported: pass the reference text, or a file with --reference-file")
            if not refs[0].strip():
                raise UsageError("the reference answer is empty: pass the text with --reference or --reference-file")
            answer = _read_text_arg(args[0] if args else None, file, "answer")
            return Grader(settings).grade_reference(refs[0], answer, question=question, verbose=audit, alternatives=tuple(refs[1:]))
        if not args:
            raise UsageError("no question id: run 'grader questions' to list them, or use --reference")
        if len(args) > 2:
            raise UsageError("too many arguments: quote the answer, e.g. grader grade 3 \"RoPE ...\"")
        if file is not None and len(args) > 1:
            raise UsageError("give the answer either as an argument or with --file, not both")
        g = Grader(settings, bank=bank)
        _question_first(g, args[0], bank)
        answer = _read_text_arg(args[1] if len(args) > 1 else None, file, "answer")
        return g.grade(args[0], answer, verbose=audit)

    # the judge's details say why it was not used; kept in the output only with --verbose
    audit = verbose or settings.mode in ("llm", "hybrid")
    result = _run(work)
    if "llm_fallback" in result.flags:
        why = (result.details or {}).get("fallback_reason") or "no usable reply"
        _err_warn(f"the judge was not used ({result.mode} -> fuzzy fallback): {_clip(str(why), 200)}; this grade is "
                  "fuzzy's (flag llm_fallback, exit 0). Pass --no-fallback to fail instead (exit 1)")
    if not verbose and result.details is not None:
        result = result.model_copy(update={"details": None})
    if as_json:
        typer.echo(result.model_dump_json(indent=2, exclude_none=False))
    else:
        from ..render import print_result, wants_colour

        print_result(_console() if wants_colour() else None, result)


def _err_warn(msg: str) -> None:
    typer.echo(f"grader: warning: {msg}", err=True)


def _clip(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _question_first(g, qid: str, bank: Optional[str]) -> None:
    """An unknown question id that reads like an answer: the id was forgotten, say so."""
    from ..errors import NotFoundError

    try:
        g.question(qid, bank)
    except NotFoundError:
        text = qid.strip()
        if len(text) > 12 or any(c.isspace() for c in text) or any(ord(c) > 127 for c in text):
            shown = text if len(text) <= 40 else text[:39] + "…"
            raise UsageError(f"{shown!r} is not a question id: give the question id first, e.g. grader grade 4 "
                             f"\"{shown}\" ('grader questions' lists the ids; --reference grades against your own reference)") from None
        raise


# ------------------------------------------------------------------ batch and eval


@app.command()
def batch(
    input: str = typer.Argument(..., metavar="INPUT", help="JSONL ({id, question_id, answer[, bank]} or {id, reference_answer, answer}) or CSV; with --engine ray also Parquet, a directory or a URI."),
    out: Path = typer.Option(..., "--out", "-o", help="JSONL output; re-running with the same OUT resumes."),
    mode: Optional[str] = ModeOpt,
    bank: Optional[str] = BankOpt,
    concurrency: Optional[int] = typer.Option(None, "--concurrency", "-c", min=1, max=1024, help="Judge calls in flight for llm/hybrid (default 8)."),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", min=0, max=256, help="Worker processes for keyword/fuzzy (default: the usable cores unless the input is tiny; 0: in this process)."),
    model: Optional[str] = ModelOpt,
    base_url: Optional[str] = BaseUrlOpt,
    examples: Optional[Path] = ExamplesOpt,
    n_examples: Optional[int] = NExamplesOpt,
    no_cache: bool = NoCacheOpt,
    summary_json: bool = typer.Option(False, "--summary-json", help="Print the summary as one JSON object on stdout."),
    report: Optional[Path] = typer.Option(None, "--report", metavar="REPORT.html", help="Write a self-contained HTML report (per student or other column, key points missed per question, every answer with its evidence; sort and filter) and REPORT.csv beside it."),
    compare: Optional[Path] = typer.Option(None, "--compare", metavar="OLD_OUT", help="With --report: an earlier OUT of the same input; the report shows which answers moved and why."),
    price_in: Optional[float] = typer.Option(None, "--price-in", min=0, help="Price per 1M prompt tokens, for the cost estimate (default $GRADER_PRICE_IN)."),
    price_out: Optional[float] = typer.Option(None, "--price-out", min=0, help="Price per 1M completion tokens (default $GRADER_PRICE_OUT)."),
    via: str = typer.Option("direct", "--via", help="direct | openai-batch (llm/hybrid: through the OpenAI Batch API)."),
    poll_interval: float = typer.Option(30.0, "--poll-interval", min=0.0, help="Seconds between status checks with --via openai-batch."),
    batch_size: int = typer.Option(50000, "--batch-size", min=1, max=50000, help="Requests per OpenAI batch with --via openai-batch."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Progress bar on stderr (default: when stderr is a terminal)."),
    engine: str = typer.Option("local", "--engine", help="local | ray (a Ray cluster; needs the extra grader[ray])."),
    address: Optional[str] = typer.Option(None, "--address", help="With --engine ray: the cluster's address (default $RAY_ADDRESS, else a local cluster)."),
) -> None:
    """Grade many answers; one JSON line per input row in OUT. Ctrl-C stops cleanly (exit 130); run again to resume."""
    from ..runs.batch import run_batch
    from ..pipeline import Grader
    from ..runs.report import print_summary, summarize

    overrides = {"mode": mode, "model": model, "base_url": base_url, "examples": examples, "n_examples": n_examples}
    if no_cache:
        overrides["use_cache"] = False
    settings = _settings(**overrides)
    price_in = price_in if price_in is not None else _env_price("GRADER_PRICE_IN")
    price_out = price_out if price_out is not None else _env_price("GRADER_PRICE_OUT")

    def work():
        if via not in ("direct", "openai-batch"):
            raise UsageError(f"unknown --via {via!r}: use direct or openai-batch")
        if engine not in ("local", "ray"):
            raise UsageError(f"unknown --engine {engine!r}: use local or ray")
        if report is not None and report.is_dir():  # checked before grading, not after
            raise UsageError(f"--report {report} is a directory: pass a file path, e.g. {report / 'report.html'}")
        grader = Grader(settings, bank=bank)
        if engine == "ray":
            if via != "direct":
                raise UsageError("--engine ray grades directly: drop --via")
            from ..runs.ray_engine import run_ray_batch

            return run_ray_batch(input, out, grader, settings.mode, concurrency=concurrency, workers=workers,
                                 address=address, progress=progress)
        if via == "openai-batch":
            from ..runs.openai_batch import run_openai_batch

            return run_openai_batch(Path(input), out, grader, settings.mode, poll_interval=poll_interval,
                                    batch_size=batch_size, progress=progress)
        return run_batch(Path(input), out, grader, settings.mode, concurrency=concurrency, workers=workers, progress=progress)

    if compare is not None and (report is None or not compare.is_file()):
        _err("--compare needs --report and an earlier OUT file: grader batch INPUT --out OUT --report R.html --compare OLD_OUT")
        raise typer.Exit(2)
    summary = _run(work)
    run = summary.as_dict()
    stats = _run(lambda: summarize(out, price_in, price_out))
    if summary.repeated and summary_json:  # else the summary on stderr names them
        _err_warn(f"{summary.repeated} row(s) repeat an id given earlier in INPUT and were not graded: "
                  f"{', '.join(summary.repeated_ids)}; give each row its own id")
    csv_path = None
    if report is not None:
        from ..runs.report_html import write_report

        run_info = {**run, "mode": settings.mode, "model": settings.model if settings.mode in ("llm", "hybrid") else None,
                    "input": str(input)}
        answers_from = None if input.lower().endswith((".parquet", ".pq")) or "://" in input else Path(input)
        csv_path = _run(lambda: write_report(report, run_info, stats, answers_from, compare))
    if summary_json:
        typer.echo(json.dumps({**run, **stats}, ensure_ascii=False))
    else:
        from rich.console import Console

        print_summary(Console(stderr=True, highlight=False), run, stats)
        if report is not None:
            typer.echo(f"report: {report} (and {csv_path})", err=True)
    if summary.interrupted:
        raise typer.Exit(130)


def _env_price(name: str) -> Optional[float]:
    value = os.environ.get(name)
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        _err(f"{name}={value!r} is not a number: set it to the price per 1M tokens, e.g. 0.15")
        raise typer.Exit(2) from None


@app.command("eval")
def eval_cmd(
    labeled: Path = typer.Argument(..., metavar="LABELED", help="JSONL: {id, question_id, answer, score[, max_score, kind, reference_answer, question]}."),
    mode: Optional[str] = ModeOpt,
    bank: Optional[str] = BankOpt,
    model: Optional[str] = ModelOpt,
    base_url: Optional[str] = BaseUrlOpt,
    examples: Optional[Path] = ExamplesOpt,
    n_examples: Optional[int] = NExamplesOpt,
    no_cache: bool = NoCacheOpt,
    worst: int = typer.Option(10, "--worst", help="How many of the worst disagreements to list."),
    as_json: bool = JsonOpt,
) -> None:
    """Agreement with human scores: n, Pearson, Spearman, QWK (0-10), MAE (0-10)."""
    from ..runs.evaluate import evaluate, read_labeled
    from ..pipeline import Grader

    overrides = {"mode": mode, "model": model, "base_url": base_url, "examples": examples, "n_examples": n_examples}
    if no_cache:
        overrides["use_cache"] = False
    settings = _settings(**overrides)
    rows = _run(lambda: read_labeled(labeled))
    res = _run(lambda: evaluate(rows, Grader(settings, bank=bank), settings.mode, worst=worst))
    res.pop("graded", None)
    if as_json:
        typer.echo(json.dumps(res, ensure_ascii=False, indent=2))
        return
    from ..render import print_eval

    print_eval(_console(), res)


@app.command("calibrate")
def calibrate_cmd(
    labeled: Path = typer.Argument(..., metavar="LABELED", help="JSONL of answers you scored: {id, question_id, answer, score[, max_score]}."),
    bank: Optional[str] = BankOpt,
    mode: Optional[str] = ModeOpt,
    folds: int = typer.Option(2, "--folds", min=2, help="Cross-validation folds over questions (2: fit on half the questions, report on the other half)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report only; do not store the scale in the bank."),
    model: Optional[str] = ModelOpt,
    base_url: Optional[str] = BaseUrlOpt,
    no_cache: bool = NoCacheOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Fit your own score scale from answers you scored, store it with the bank for this mode, and
    report agreement before and after (cross-validated over questions)."""
    from ..banks import bundled_banks, resolve_bank_path
    from ..pipeline import Grader
    from ..runs.calibrate import cross_validate, fit_scale, write_scale
    from ..runs.evaluate import evaluate, read_labeled

    overrides = {"mode": mode, "model": model, "base_url": base_url}
    if no_cache:
        overrides["use_cache"] = False
    settings = _settings(**overrides)
    rows = _run(lambda: read_labeled(labeled))
    target = None
    if not dry_run:
        if any(r.reference_answer for r in rows) and bank is None:
            _err("these rows carry their own reference answers, so no bank holds them: give --bank DIR to store the "
                 "scale in that bank, or add --dry-run to report only")
            raise typer.Exit(2)
        target = _run(lambda: resolve_bank_path(bank))
        if target.resolve() in {p.resolve() for p in bundled_banks().values()}:
            _err(f"the bundled bank at {target} is part of grader and read-only: copy it (cp -r {target} mybank) and "
                 "pass --bank mybank, or add --dry-run to report only")
            raise typer.Exit(2)
    res = _run(lambda: evaluate(rows, Grader(settings, bank=bank), settings.mode))
    graded = [{"question_id": g["question_id"], "human": g["human"], "grader": g["raw"]} for g in res["graded"]]
    report = _run(lambda: cross_validate(graded, folds))
    knots = _run(lambda: fit_scale([(g["grader"] / 10, g["human"] / 10) for g in graded]))
    report.update(mode=settings.mode, n=len(graded), errors=res["errors"], scale=[list(k) for k in knots])
    if target is not None:
        report["written"] = str(_run(lambda: write_scale(target, settings.mode, knots)))
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    b, a = report["before"], report["after"]
    typer.echo(f"{report['n']} answers, {report['questions']} questions, mode {report['mode']}; "
               f"{report['folds']}-fold cross-validation over questions")
    for name, m in (("before", b), ("after", a)):
        typer.echo(f"  {name:6s} Pearson {m['pearson']:.3f}  Spearman {m['spearman']:.3f}  QWK {m['qwk']:.3f}  MAE {m['mae']:.3f}")
    typer.echo("scale: " + ", ".join(f"{x:g} -> {y:g}" for x, y in knots))
    typer.echo(f"written to {report['written']}" if target is not None else "not written (--dry-run)")


# ------------------------------------------------------------------ rubric


@rubric_app.command("show")
def rubric_show(qid: str = typer.Argument(..., metavar="QID"), bank: Optional[str] = BankOpt, as_json: bool = JsonOpt) -> None:
    """Print a question's rubric: key points, weights, keywords."""
    from ..banks import get_question, load_bank

    b = _run(lambda: load_bank(bank))
    q = _run(lambda: get_question(b, qid))
    if as_json:
        out = {"question_id": q.id, "bank": b.name, "question": q.question, "version": q.rubric.version,
               **q.rubric.model_dump(mode="json")}
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    from ..render import print_rubric

    print_rubric(_console(), q, b.name)


@rubric_app.command("build")
def rubric_build(
    bank_md: Path = typer.Argument(..., metavar="BANK.md", help="Markdown bank: numbered questions + '## 参考回答', '## question' headings, or Q:/A: pairs."),
    out: Path = typer.Option(..., "--out", "-o", help="Bank directory to write (bank.yaml + one YAML per question)."),
    name: Optional[str] = typer.Option(None, "--name", help="Bank name in bank.yaml (default: the directory's name)."),
    llm: bool = typer.Option(False, "--llm", help="Ask the judge model for key points; only points grounded in the reference are kept."),
    max_points: int = typer.Option(12, "--max-points", min=1, max=40, help="At most this many key points per question."),
    model: Optional[str] = ModelOpt,
    base_url: Optional[str] = BaseUrlOpt,
    no_cache: bool = NoCacheOpt,
) -> None:
    """Build a bank of rubrics from a markdown question bank (review it, then 'grader rubric check')."""
    import logging

    from ..authoring.bank_build import build_bank

    logging.getLogger("langchain_text_splitters").setLevel(logging.ERROR)
    llm_settings = None
    if llm:
        overrides = {"model": model, "base_url": base_url}
        if no_cache:
            overrides["use_cache"] = False
        llm_settings = _settings(**overrides)
        from ..llm.client import check_config

        _run(lambda: check_config(llm_settings))
    report = _run(lambda: build_bank(bank_md, out, name=name, llm_settings=llm_settings, max_points=max_points))
    for w in report.warnings:
        typer.echo(f"grader: warning: {w}", err=True)
    typer.echo(
        f"wrote {len(report.written)} rubrics to {out}"
        + (f"; skipped {len(report.skipped)} without a reference answer ({', '.join(report.skipped)})" if report.skipped else "")
        + (f"; {report.llm_calls} model calls, {report.llm_dropped} ungrounded points dropped" if llm else ""),
        err=True,
    )


@rubric_app.command("check")
def rubric_check(
    bank_dir: Path = typer.Argument(..., metavar="DIR", help="A bank directory (bank.yaml + question files)."),
    strict: bool = typer.Option(False, "--strict", help="Treat warnings as errors."),
) -> None:
    """Check a bank directory: schema, ids, weights, sources and keywords grounded in the reference."""
    from ..authoring.check import check_bank

    if not bank_dir.is_dir():
        _err(f"{bank_dir} is not a directory: pass a bank directory (bank.yaml + one YAML per question)")
        raise typer.Exit(2)
    report = check_bank(bank_dir)
    for f in report.findings:
        typer.echo(str(f), err=f.level == "error")
    n_err, n_warn = len(report.errors), len(report.warnings)
    typer.echo(f"{report.questions} questions, {report.points} key points: {n_err} errors, {n_warn} warnings", err=True)
    if n_err or (strict and n_warn):
        raise typer.Exit(1)


@rubric_app.command("schema")
def rubric_schema() -> None:
    """Print the JSON Schema of a question file (rubrics/question.schema.json is this output)."""
    from ..models import Question

    typer.echo(json.dumps(Question.model_json_schema(), ensure_ascii=False, indent=2))


# ------------------------------------------------------------------ serve


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8000, "--port", "-p", help="TCP port."),
    bank: Optional[str] = BankOpt,
    workers: int = typer.Option(1, "--workers", min=1, help="Server processes (each grades on its own core)."),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request (off: it costs throughput)."),
) -> None:
    """Serve the HTTP API and the grading page (GRADER_API_KEY: require a bearer token)."""
    import uvicorn  # imported here: the offline commands never load the web stack

    from ..api import create_app
    from ..api.limits import port_free, server_limits

    settings = _settings(bank=bank)
    # checks the configuration before serving; each worker's app warms up as it starts (create_app's warm_up)
    application = _run(lambda: create_app(settings, warm_up=workers == 1))
    limits = _run(server_limits)
    _run(lambda: port_free(host, port))
    typer.echo(f"grader: serving on http://{host}:{port}/ (API docs at /docs)", err=True)
    # uvicorn takes uvloop and httptools when they are installed (loop="auto", http="auto")
    options = dict(host=host, port=port, log_level="info", server_header=False, access_log=access_log, **limits)
    if workers > 1:
        if bank:  # each worker builds its app from the environment
            os.environ["GRADER_BANK"] = bank
        uvicorn.run("grader.api.app:served_app", factory=True, workers=workers, **options)
    else:
        uvicorn.run(application, **options)
