"""Pure scheduling tests of the keystroke path, with a test double for the engine."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest

from lsp_server.keystroke.scheduler import Scheduler
from lsp_server.postprocess.rules import Suggestion
from lsp_server.settings import DEFAULTS, Settings

PREFIX, SUFFIX = "def f():\n    ", "\n"
INFILL = "ok_42 = compute(1)"


@dataclass
class FakeJob:
    payload: dict[str, Any]
    future: concurrent.futures.Future[dict[str, Any]] = field(
        default_factory=concurrent.futures.Future
    )
    partial: str = ""
    cancelled: bool = False
    on_partial: Any = None

    @property
    def done(self) -> bool:
        return self.future.done()

    def stream(self, text: str) -> None:
        self.partial = text
        if self.on_partial is not None:
            self.on_partial(text)

    def finish(self, text: str, cancelled: bool = False) -> None:
        self.future.set_result({"text": text, "cancelled": cancelled, "stats": {}})


class FakeEngine:
    """Records submissions and cancels; tests decide when and how each job ends."""

    def __init__(self) -> None:
        self.jobs: list[FakeJob] = []
        self.prefills: list[FakeJob] = []
        self.ready = True
        self.restartable = False

    def submit(self, op: str = "complete", **payload: Any) -> FakeJob:
        job = FakeJob(payload)
        if op == "prefill":  # warms the cache; tests decide when it ends
            self.prefills.append(job)
        else:
            self.jobs.append(job)
        return job

    def cancel(self, job: FakeJob) -> None:
        job.cancelled = True
        if not job.future.done():
            job.finish("", cancelled=True)

    def wasted_steps(self, job: Any, result: dict[str, Any]) -> int:
        return 0


def make(
    settings: Settings | None = None, text: dict[str, str] | None = None
) -> tuple[Scheduler, FakeEngine]:
    """A scheduler over the fake engine; no speculation unless the test asks for it."""
    engine = FakeEngine()
    chosen = settings or dataclasses.replace(DEFAULTS, debounce_ms=0, speculative=False)
    texts = text if text is not None else {}
    return Scheduler(lambda: engine, lambda: chosen, text_of=texts.get), engine


async def until(predicate: Any) -> None:
    for _ in range(200):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never held")


async def test_model_answer_then_typed_through_from_cache() -> None:
    sched, engine = make()
    task = asyncio.ensure_future(sched.complete("u", PREFIX, SUFFIX))
    await until(lambda: engine.jobs)
    engine.jobs[0].finish(INFILL)
    answer = await task
    assert (answer.source, answer.suggestion) == ("model", Suggestion(INFILL, 0))
    typed = await sched.complete("u", PREFIX + "ok_", SUFFIX)
    assert (typed.source, typed.suggestion) == ("cache", Suggestion("42 = compute(1)", 0))
    assert len(engine.jobs) == 1 and sched.counters.cache_hits == 1


async def test_typing_what_the_running_generation_produces_attaches() -> None:
    sched, engine = make()
    first = asyncio.ensure_future(sched.complete("u", PREFIX, SUFFIX))
    await until(lambda: engine.jobs)
    job = engine.jobs[0]
    job.partial = "ok_4"
    second = asyncio.ensure_future(sched.complete("u", PREFIX + "ok", SUFFIX))
    await until(lambda: sched.counters.attached == 1)
    job.finish(INFILL)
    old, new = await first, await second
    assert old.source == "superseded" and old.suggestion is None
    assert (new.source, new.suggestion) == ("attached", Suggestion("_42 = compute(1)", 0))
    assert len(engine.jobs) == 1 and not job.cancelled


async def test_diverging_keystroke_cancels_and_restarts() -> None:
    sched, engine = make()
    first = asyncio.ensure_future(sched.complete("u", PREFIX, SUFFIX))
    await until(lambda: engine.jobs)
    engine.jobs[0].partial = "ok_4"
    second = asyncio.ensure_future(sched.complete("u", PREFIX + "z", SUFFIX))
    await until(lambda: len(engine.jobs) == 2)
    assert engine.jobs[0].cancelled
    engine.jobs[1].finish(" = 3")
    assert (await first).source == "superseded"
    assert (await second).suggestion == Suggestion(" = 3", 0)
    assert sched.counters.attached == 0 and sched.counters.generations == 2


async def test_never_attaches_to_a_cancelled_generation() -> None:
    sched, engine = make()
    asyncio.ensure_future(sched.complete("u", PREFIX, SUFFIX))
    await until(lambda: engine.jobs)
    job = engine.jobs[0]
    job.partial = "ok_4"
    job.future = concurrent.futures.Future()  # cancel does not resolve it at once
    engine.cancel = lambda j: setattr(j, "cancelled", True)  # type: ignore[method-assign]
    asyncio.ensure_future(sched.complete("u", PREFIX + "z", SUFFIX))  # cancels the first
    await until(lambda: len(engine.jobs) == 2)
    asyncio.ensure_future(sched.complete("u", PREFIX + "ok", SUFFIX))
    await until(lambda: sched.counters.requests == 3)
    await asyncio.sleep(0.02)
    assert sched.counters.attached == 0


async def test_burst_during_debounce_starts_one_generation() -> None:
    sched, engine = make(dataclasses.replace(DEFAULTS, debounce_ms=50, speculative=False))
    tasks = [asyncio.ensure_future(sched.complete("u", PREFIX + "x" * i, SUFFIX)) for i in range(5)]
    await until(lambda: engine.jobs)
    engine.jobs[0].finish(" = 1")
    answers = await asyncio.gather(*tasks)
    assert [a.source for a in answers] == ["superseded"] * 4 + ["model"]
    assert engine.jobs[0].payload["prefix"] == PREFIX + "xxxx"
    assert sched.counters.generations == 1 and sched.counters.superseded == 4


async def test_invoked_request_skips_the_debounce() -> None:
    sched, engine = make(dataclasses.replace(DEFAULTS, debounce_ms=5000, speculative=False))
    task = asyncio.ensure_future(sched.complete("u", PREFIX, SUFFIX, invoked=True))
    await until(lambda: engine.jobs)
    engine.jobs[0].finish(INFILL)
    assert (await task).source == "model"


async def test_cancelled_request_stops_its_generation() -> None:
    sched, engine = make()
    task = asyncio.ensure_future(sched.complete("u", PREFIX, SUFFIX))
    await until(lambda: engine.jobs)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert engine.jobs[0].cancelled and sched.counters.cancelled == 1


async def test_documents_do_not_supersede_each_other() -> None:
    sched, engine = make()
    a = asyncio.ensure_future(sched.complete("a", PREFIX, SUFFIX))
    b = asyncio.ensure_future(sched.complete("b", "x = ", SUFFIX))
    await until(lambda: len(engine.jobs) == 2)
    engine.jobs[0].finish(INFILL)
    engine.jobs[1].finish("1")
    assert [(await a).source, (await b).source] == ["model", "model"]


async def test_not_ready_engine_answers_empty_without_submitting() -> None:
    sched, engine = make()
    engine.ready = False
    answer = await sched.complete("u", PREFIX, SUFFIX)
    assert (answer.source, answer.suggestion, engine.jobs) == ("not-ready", None, [])


async def test_closed_document_cancels_its_generation() -> None:
    sched, engine = make()
    task = asyncio.ensure_future(sched.complete("u", PREFIX, SUFFIX))
    await until(lambda: engine.jobs)
    sched.forget("u")
    assert engine.jobs[0].cancelled
    assert (await task).suggestion is None


def test_debounce_follows_generation_cost_against_typing_pace() -> None:
    from lsp_server.keystroke.flights import DocState

    sched, _ = make()
    base = dataclasses.replace(DEFAULTS, debounce_ms=30)
    assert sched.debounce(DocState(pace=0.04), base) == 0.03  # cost not measured yet
    sched.cost = 0.02  # a generation is done before the next key: no extra wait
    assert sched.debounce(DocState(pace=0.04), base) == 0.03
    assert sched.debounce(DocState(pace=0.04), dataclasses.replace(base, debounce_ms=0)) == 0
    sched.cost = 2.0  # 8B on a CPU: wait for a pause (1.5x the pace, at most 250 ms)
    assert sched.debounce(DocState(pace=0.04), base) == pytest.approx(0.06)
    assert sched.debounce(DocState(pace=0.01), base) == 0.03  # never below debounceMs
    assert sched.debounce(DocState(pace=0.3), base) == 0.25  # capped
    assert sched.debounce(DocState(), base) == 0.03  # no typing rhythm yet
    fixed = dataclasses.replace(base, adaptive_debounce=False)
    assert sched.debounce(DocState(pace=0.04), fixed) == 0.03


def test_a_stopped_generation_keeps_the_cost_estimate_up() -> None:
    """It ran this long before the next key stopped it: its cost is at least that."""
    from lsp_server.keystroke import pacing

    ran = {"generate_ms": 300.0, "prompt_ms": 20.0, "evaluated_tokens": 2}
    assert pacing.cancelled_cost(None, ran) == pytest.approx(0.32)
    assert pacing.cancelled_cost(0.1, ran) == pytest.approx(0.32)
    assert pacing.cancelled_cost(0.5, ran) == 0.5
    assert pacing.cancelled_cost(0.5, {}) == 0.5  # stopped before it ran: nothing learned
    cold = {**ran, "evaluated_tokens": 2000}  # a cold start's prompt is not a keystroke's
    assert pacing.cancelled_cost(None, cold) == pytest.approx(0.3)


async def test_pace_is_measured_from_request_gaps_and_ignores_pauses() -> None:
    now = [100.0]
    engine = FakeEngine()
    engine.ready = False  # answers at once: only the pace bookkeeping matters here
    sched = Scheduler(lambda: engine, lambda: DEFAULTS, clock=lambda: now[0])
    for gap in (0.0, 0.04, 0.04, 5.0, 0.1):
        now[0] += gap
        await sched.complete("u", PREFIX, SUFFIX)
    # 0.04, then 0.7*0.04 + 0.3*0.04, the 5 s pause ignored, then 0.7*0.04 + 0.3*0.1
    assert sched.docs["u"].pace == pytest.approx(0.058)


@pytest.mark.parametrize(("cost", "generations"), [(2.0, 2), (0.01, 10), (0.3, 6)])
async def test_typing_starts_work_by_generation_cost(cost: float, generations: int) -> None:
    """Ten keys at a steady 0.2 s pace (fake clock): a cheap generation starts at every key
    (each one still unshowable is stopped), an expensive one waits for the pause. An estimate
    just above the gap (measured in a busy moment) decays while keys wait: the first key
    generates (no rhythm yet), keys 2-5 wait (0.3 * 0.9**4 < 0.2), keys 6-10 generate."""
    now = [0.0]
    engine = FakeEngine()
    engine.cancel = lambda j: setattr(j, "cancelled", True)  # type: ignore[method-assign]
    settings = dataclasses.replace(DEFAULTS, debounce_ms=0, speculative=False)
    sched = Scheduler(lambda: engine, lambda: settings, clock=lambda: now[0])
    sched.cost = cost
    tasks = []
    for i in range(10):
        now[0] += 0.2
        tasks.append(asyncio.ensure_future(sched.complete("u", PREFIX + "x" * i, SUFFIX)))
        await asyncio.sleep(0.01)  # let it reach its debounce (or its submit)
    await until(lambda: len(engine.jobs) == generations)
    for job in engine.jobs:
        job.finish(" = 1", cancelled=job.cancelled)
    answers = await asyncio.gather(*tasks)
    assert answers[-1].source == "model"
    assert [a.source for a in answers[:-1]] == ["superseded"] * 9
    assert sched.counters.generations == generations
    assert sched.counters.stopped == generations - 1


async def test_prefill_once_per_line_and_never_cancelled_by_typing_on_it() -> None:
    sched, engine = make(dataclasses.replace(DEFAULTS, debounce_ms=50, speculative=False))
    tasks = [asyncio.ensure_future(sched.complete("u", PREFIX + "x" * i, SUFFIX)) for i in range(4)]
    await until(lambda: engine.jobs)
    assert len(engine.prefills) == 1 and not engine.prefills[0].cancelled
    assert engine.prefills[0].payload["prefix"] == PREFIX  # the window the completions will use
    engine.jobs[0].finish(" = 1")
    await asyncio.gather(*tasks)
    # A new line changes what is stable: the old prefill (still running) gives way to a new one.
    nxt = asyncio.ensure_future(sched.complete("u", PREFIX + "xxx\n    ", SUFFIX))
    await until(lambda: len(engine.prefills) == 2)
    assert engine.prefills[0].cancelled and not engine.prefills[1].cancelled
    await until(lambda: len(engine.jobs) == 2)
    engine.jobs[1].finish("pass")
    assert (await nxt).suggestion == Suggestion("pass", 0)
    assert sched.counters.prefills == 2


async def test_cache_hit_stops_an_outdated_generation() -> None:
    sched, engine = make()
    first = asyncio.ensure_future(sched.complete("u", PREFIX, SUFFIX))
    await until(lambda: engine.jobs)
    engine.jobs[0].finish(INFILL)
    await first
    stale = asyncio.ensure_future(sched.complete("u", PREFIX + "q", SUFFIX))
    await until(lambda: len(engine.jobs) == 2)
    hit = await sched.complete("u", PREFIX + "ok", SUFFIX)  # typed through the shown suggestion
    assert hit.source == "cache" and engine.jobs[1].cancelled
    assert (await stale).suggestion is None


async def test_a_new_worker_is_prefilled_again() -> None:
    sched, engine = make()
    engine.starts = 1  # type: ignore[attr-defined]
    first = asyncio.ensure_future(sched.complete("u", PREFIX, SUFFIX))
    await until(lambda: engine.jobs)
    engine.jobs[0].finish("")
    await first
    engine.starts = 2  # type: ignore[attr-defined]  # the model was reloaded or the worker crashed
    second = asyncio.ensure_future(sched.complete("u", PREFIX + "x", SUFFIX))
    await until(lambda: len(engine.jobs) == 2)
    engine.jobs[1].finish("")
    await second
    assert len(engine.prefills) == 2


async def test_busy_engine_newest_waits_and_older_requests_answer_at_once() -> None:
    """Single flight: while the generation runs, each newer consistent keystroke takes it over
    and the one before answers empty at once; the result lands trimmed by what was typed."""
    sched, engine = make()
    first = asyncio.ensure_future(sched.complete("u", PREFIX, SUFFIX))
    await until(lambda: engine.jobs)
    engine.jobs[0].partial = "ok_4"
    second = asyncio.ensure_future(sched.complete("u", PREFIX + "o", SUFFIX))
    await until(lambda: first.done())
    third = asyncio.ensure_future(sched.complete("u", PREFIX + "ok", SUFFIX))
    await until(lambda: second.done())
    assert [(await first).source, (await second).source] == ["superseded", "superseded"]
    assert not third.done()
    engine.jobs[0].finish(INFILL)
    assert (await third).suggestion == Suggestion("_42 = compute(1)", 0)
    assert len(engine.jobs) == 1 and sched.counters.attached == 2


async def test_generation_with_nothing_produced_yet_is_restarted_for_the_new_key() -> None:
    sched, engine = make()
    asyncio.ensure_future(sched.complete("u", PREFIX, SUFFIX))
    await until(lambda: engine.jobs)
    second = asyncio.ensure_future(sched.complete("u", PREFIX + "x", SUFFIX))
    await until(lambda: len(engine.jobs) == 2)
    assert engine.jobs[0].cancelled  # its text is unknown: a restart only evaluates "x"
    engine.jobs[1].finish(" = 2")
    assert (await second).suggestion == Suggestion(" = 2", 0)
    assert sched.counters.stopped == 1


async def test_edit_stops_a_generation_that_can_no_longer_be_shown() -> None:
    """Clients that ask only after a pause (Neovim 0.12) never cancel: the edit itself does."""
    sched, engine = make()
    task = asyncio.ensure_future(sched.complete("u", PREFIX, SUFFIX))
    await until(lambda: engine.jobs)
    job = engine.jobs[0]
    job.partial = "ok_4"
    sched.on_change("u", PREFIX + "ok" + SUFFIX)  # typed what it produces: keep going
    assert not job.cancelled
    sched.on_change("u", PREFIX + "oz" + SUFFIX)
    assert job.cancelled and sched.counters.stopped == 1
    assert (await task).suggestion is None


async def test_cancel_keeps_a_generation_the_user_typed_into() -> None:
    """VS Code cancels the previous request on every key: a generation whose text the user is
    typing keeps running for the next request; a cancel without typing stops it."""
    text = {"u": PREFIX + SUFFIX}
    sched, engine = make(text=text)
    first = asyncio.ensure_future(sched.complete("u", PREFIX, SUFFIX))
    await until(lambda: engine.jobs)
    engine.jobs[0].partial = "ok_4"
    text["u"] = PREFIX + "o" + SUFFIX
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert not engine.jobs[0].cancelled and sched.counters.cancelled == 0
    second = asyncio.ensure_future(sched.complete("u", PREFIX + "o", SUFFIX))
    await until(lambda: sched.counters.attached == 1)
    second.cancel()  # cancelled without typing on: stop it
    with pytest.raises(asyncio.CancelledError):
        await second
    assert engine.jobs[0].cancelled and sched.counters.cancelled == 1


async def test_request_for_a_state_already_gone_starts_nothing() -> None:
    text = {"u": PREFIX + "x" + SUFFIX}
    sched, engine = make(text=text)
    answer = await sched.complete("u", PREFIX, SUFFIX)
    assert answer.source == "superseded" and engine.jobs == []


async def test_speculative_next_suggestion_after_a_shown_one() -> None:
    sched, engine = make(dataclasses.replace(DEFAULTS, debounce_ms=0, speculative=True))
    task = asyncio.ensure_future(sched.complete("u", PREFIX, SUFFIX))
    await until(lambda: engine.jobs)
    engine.jobs[0].finish("x = 1")
    assert (await task).suggestion == Suggestion("x = 1", 0)
    await until(lambda: len(engine.jobs) == 2)  # the state after accepting it
    spec = engine.jobs[1]
    assert (spec.payload["prefix"], spec.payload["suffix"]) == (PREFIX + "x = 1", SUFFIX)
    assert sched.counters.speculations == 1 and sched.counters.generations == 1
    typed = await sched.complete("u", PREFIX + "x", SUFFIX)  # typing through keeps it running
    assert typed.source == "cache" and not spec.cancelled
    spec.finish("\n    return x")
    await asyncio.sleep(0.01)
    accepted = await sched.complete("u", PREFIX + "x = 1", SUFFIX)
    assert (accepted.source, accepted.suggestion) == ("cache", Suggestion("\n    return x", 0))
    await until(lambda: len(engine.jobs) == 3)  # and the next speculation, after a short pause
    assert sched.counters.generations == 1
    assert engine.jobs[2].payload["prefix"] == PREFIX + "x = 1\n    return x"


async def test_capped_window_grows_in_the_background_and_gives_way_to_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("lsp_server.keystroke.background.GROW_PAUSE_S", 0.01)
    sched, engine = make()
    task = asyncio.ensure_future(sched.complete("u", PREFIX, SUFFIX))
    await until(lambda: engine.jobs)
    engine.jobs[0].future.set_result({"text": INFILL, "stats": {"capped": True}})
    await task
    await until(lambda: any(p.payload.get("uncapped") for p in engine.prefills))
    grow = [p for p in engine.prefills if p.payload.get("uncapped")]
    assert len(grow) == 1 and sched.counters.grows == 1 and not grow[0].cancelled
    nxt = asyncio.ensure_future(sched.complete("u", PREFIX + "q", SUFFIX))
    await until(lambda: len(engine.jobs) == 2)
    assert grow[0].cancelled  # the keystroke goes first; the grow resumes after its answer
    assert len(engine.prefills) == 3  # the small window, evaluated again by a prefill
    engine.jobs[1].future.set_result({"text": "= 1", "stats": {"capped": True}})
    await nxt
    await until(lambda: sched.counters.grows == 2)


async def test_no_background_work_while_the_user_keeps_typing() -> None:
    """Speculation waits for a pause (1.5x the typing pace): a key before that cancels it."""
    now = [0.0]
    engine = FakeEngine()
    settings = dataclasses.replace(DEFAULTS, debounce_ms=0, speculative=True)
    sched = Scheduler(lambda: engine, lambda: settings, clock=lambda: now[0])

    def job_for(prefix: str) -> FakeJob | None:
        return next((j for j in engine.jobs if j.payload["prefix"] == prefix), None)

    for i in range(4):  # a key every 0.1 s: once the pace is known, background work waits 0.15 s
        now[0] += 0.1
        prefix = PREFIX + "x" * i
        task = asyncio.ensure_future(sched.complete("u", prefix, SUFFIX))
        await until(lambda prefix=prefix: job_for(prefix) is not None)
        job_for(prefix).finish(" = 1")  # type: ignore[union-attr]
        assert (await task).source == "model"
    # Only the first answer (no typing rhythm yet) was followed by a speculation at once.
    assert sched.counters.speculations == 1
    await asyncio.sleep(0.2)  # the pause
    assert sched.counters.speculations == 2
    assert engine.jobs[-1].payload["prefix"] == PREFIX + "xxx = 1"


async def test_background_work_is_for_the_document_in_use() -> None:
    """Speculation for a document the user left is stopped when another one asks."""
    sched, engine = make(dataclasses.replace(DEFAULTS, debounce_ms=0, speculative=True))
    task = asyncio.ensure_future(sched.complete("a", PREFIX, SUFFIX))
    await until(lambda: engine.jobs)
    engine.jobs[0].finish("x = 1")
    await task
    await until(lambda: len(engine.jobs) == 2)
    spec = engine.jobs[1]
    other = asyncio.ensure_future(sched.complete("b", "y = ", SUFFIX))
    await until(lambda: len(engine.jobs) == 3)
    assert spec.cancelled
    engine.jobs[2].finish("2")
    assert (await other).suggestion == Suggestion("2", 0)


async def test_edit_pause_starts_the_generation_before_the_client_asks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Neovim 0.12 asks 200 ms after the last key: the server starts at 100 ms, so the
    request finds the suggestion ready (and VS Code, asking at once, never triggers it)."""
    monkeypatch.setattr("lsp_server.keystroke.scheduler.EAGER_PAUSE_S", 0.02)
    sched, engine = make()
    first = asyncio.ensure_future(sched.complete("u", PREFIX, SUFFIX))
    await until(lambda: engine.jobs)
    engine.jobs[0].finish(" = 1")
    await first
    text = PREFIX + "z" + SUFFIX
    sched.on_change("u", text, len(PREFIX) + 1)  # typed "z"; no request follows
    await until(lambda: len(engine.jobs) == 2)
    assert engine.jobs[1].payload["prefix"] == PREFIX + "z" and sched.counters.eager == 1
    engine.jobs[1].finish(" = 2")
    await asyncio.sleep(0.01)
    answer = await sched.complete("u", PREFIX + "z", SUFFIX)  # the client's request, later
    assert (answer.source, answer.suggestion) == ("cache", Suggestion(" = 2", 0))
    assert sched.counters.generations == 1
    # An edit followed at once by a request (VS Code) starts nothing extra.
    sched.on_change("u", PREFIX + "zq" + SUFFIX, len(PREFIX) + 2)
    task = asyncio.ensure_future(sched.complete("u", PREFIX + "zq", SUFFIX))
    await until(lambda: len(engine.jobs) == 3)
    engine.jobs[2].finish(" = 3")
    await task
    await asyncio.sleep(0.05)
    assert sched.counters.eager == 1 and len(engine.jobs) == 3


async def test_no_eager_generation_for_documents_never_asked_about() -> None:
    sched, engine = make()
    sched.on_change("u", PREFIX + SUFFIX, len(PREFIX))
    await asyncio.sleep(0.2)
    assert engine.jobs == [] and sched.counters.eager == 0


def test_suggestion_cache_is_bounded_by_size_too() -> None:
    from lsp_server.keystroke.suggestion_cache import SuggestionCache

    cache = SuggestionCache(size=64, chars=1000)
    for i in range(10):
        cache.put("x" * 300 + str(i), "\n", Suggestion("y", 0))
    assert len(cache.entries) == 3 and cache.chars <= 1000
    assert cache.get("x" * 300 + "9", "\n") == Suggestion("y", 0)  # the newest stay
    assert cache.get("x" * 300 + "0", "\n") is None
    cache.clear()
    assert cache.chars == 0 and not cache.entries


async def test_a_landed_empty_result_for_the_same_state_is_not_asked_again() -> None:
    sched, engine = make()
    first = asyncio.ensure_future(sched.complete("u", PREFIX, SUFFIX))
    await until(lambda: engine.jobs)
    engine.jobs[0].partial = "ok"
    second = asyncio.ensure_future(sched.complete("u", PREFIX, SUFFIX))  # the same state again
    await until(lambda: first.done())
    engine.jobs[0].finish("   ")  # post-processing leaves nothing to show
    answer = await second
    assert (answer.source, answer.suggestion) == ("empty", None)
    assert len(engine.jobs) == 1


async def test_a_request_waiting_on_a_closed_document_starts_nothing() -> None:
    sched, engine = make()
    first = asyncio.ensure_future(sched.complete("u", PREFIX, SUFFIX))
    await until(lambda: engine.jobs)
    engine.jobs[0].partial = "ok"
    second = asyncio.ensure_future(sched.complete("u", PREFIX + "o", SUFFIX))
    await until(lambda: first.done())
    sched.forget("u")
    assert (await second).source == "superseded"
    assert len(engine.jobs) == 1


def test_suggestion_cache_holds_the_text_near_the_cursor_not_documents() -> None:
    """64 suggestions in a 1 MB document cost kilobytes; a lookup still checks the whole text:
    the same near text under a different head, or another suffix, is not a hit."""
    from lsp_server.keystroke.suggestion_cache import NEAR, SuggestionCache

    cache = SuggestionCache()
    body = "a = 1\n" * 170_000  # about 1 MB
    for i in range(64):
        cache.put(body + f"x{i} = ", "\n" + body, Suggestion(f"compute({i})", 0))
    assert len(cache.entries) == 64 and cache.chars < 64 * (2 * NEAR + 20)
    assert cache.get(body + "x7 = comp", "\n" + body) == Suggestion("ute(7)", 0)
    other_head = "b = 2\n" + body[6:]
    assert cache.get(other_head + "x7 = comp", "\n" + body) is None
    assert cache.get(body + "x7 = comp", "\n" + body + "#") is None
    assert cache.get(body + "x7 = compute(7)", "\n" + body) is None  # typed it all: nothing left


async def test_a_run_on_past_the_block_is_answered_at_the_block_end_and_the_rest_cached() -> None:
    """With a grammar the engine does not stop where the block ends; the request is answered
    there anyway, and the finished generation's longer suggestion replaces it in the cache."""
    sched, engine = make()
    prefix, suffix = "def f(x):\n    if x:\n        ", "\n"
    task = asyncio.ensure_future(sched.complete("u", prefix, suffix, language="python"))
    await until(lambda: engine.jobs)
    job = engine.jobs[0]
    job.stream("return True\n")
    await asyncio.sleep(0.02)
    assert not task.done()  # the block may go on
    job.stream("return True\n\n    return")  # a dedented line has begun: the block ended
    answer = await asyncio.wait_for(task, 1)
    assert (answer.source, answer.suggestion) == ("early", Suggestion("return True", 0))
    assert not job.done and sched.counters.early == 1
    full = {"text": "return True\n\n    return False", "stats": {"stop_reason": "eos"}}
    job.future.set_result(full)  # EOS: the model meant to go on
    await asyncio.sleep(0.02)
    again = await sched.complete("u", prefix, suffix, language="python")
    assert again.suggestion == Suggestion("return True\n\n    return False", 0)
    typed = await sched.complete("u", prefix + "return True\n", suffix, language="python")
    assert typed.suggestion == Suggestion("\n    return False", 0)
    assert len(engine.jobs) == 1


async def test_without_a_grammar_there_is_no_early_answer() -> None:
    sched, engine = make()
    prefix, suffix = "def f(x):\n    if x:\n        ", "\n"
    task = asyncio.ensure_future(sched.complete("u", prefix, suffix, language="cobol"))
    await until(lambda: engine.jobs)
    engine.jobs[0].stream("return True\n\n    return")
    await asyncio.sleep(0.02)
    assert not task.done()
    engine.jobs[0].finish("return True\n\n    return False")
    answer = await task
    assert (answer.source, answer.suggestion) == ("model", Suggestion("return True", 0))
