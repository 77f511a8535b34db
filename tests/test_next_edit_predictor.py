"""The predictor's scheduling with an engine double (pure scheduling; the real engine is tested
in test_next_edit_engine.py and over stdio): newest wins, a change stops the running prediction
softly and a completion hard, and fast typing waits for a pause, warming the prompt meanwhile."""

from __future__ import annotations

import asyncio
import concurrent.futures
from dataclasses import dataclass, field
from typing import Any

from lsp_server.next_edit.history import EditHistory
from lsp_server.next_edit.predictor import Predictor, Request
from tests.tiny_model import ZETA_ANSWER, ZETA_DOCUMENT

URI = "file:///p/area.py"


@dataclass
class FakeJob:
    payload: dict[str, Any]
    future: concurrent.futures.Future[dict[str, Any]] = field(
        default_factory=concurrent.futures.Future
    )

    @property
    def done(self) -> bool:
        return self.future.done()


class FakeEngine:
    ready = True

    def __init__(self) -> None:
        self.jobs: list[FakeJob] = []
        self.cancels: list[tuple[FakeJob, bool]] = []

    def submit(self, op: str = "complete", **payload: Any) -> FakeJob:
        job = FakeJob({"op": op, **payload})
        self.jobs.append(job)
        return job

    def cancel(self, job: FakeJob, soft: bool = False) -> None:
        self.cancels.append((job, soft))
        if not job.done:
            job.future.set_result({"text": "", "cancelled": True, "stats": {"total_ms": 1}})


def answer(job: FakeJob, text: str = ZETA_ANSWER, ms: float = 900) -> None:
    job.future.set_result({"text": text, "cancelled": False, "stats": {"total_ms": ms}})


def predictor(engine: FakeEngine, text: list[str]) -> Predictor:
    return Predictor(lambda: engine, EditHistory(), lambda uri: (text[0], 1))


def request(cursor: int = ZETA_DOCUMENT.index("(2)") + 2) -> Request:
    return Request(URI, 1, ZETA_DOCUMENT, cursor, "p/area.py", "python")


async def test_an_answer_becomes_one_edit_and_a_change_stops_it_softly() -> None:
    engine = FakeEngine()
    p = predictor(engine, [ZETA_DOCUMENT])
    task = asyncio.ensure_future(p.predict(request()))
    await asyncio.sleep(0)
    (job,) = engine.jobs
    assert job.payload["op"] == "edit" and job.payload["max_tokens"] == 512
    answer(job, ms=1)  # faster than the keys: nothing waits
    prediction = await task
    assert prediction is not None and prediction.edit.text == ", 3"
    second = asyncio.ensure_future(p.predict(request()))
    await asyncio.sleep(0)
    p.supersede()  # a didChange
    assert engine.cancels[-1] == (engine.jobs[-1], True) and await second is None
    third = asyncio.ensure_future(p.predict(request()))
    await asyncio.sleep(0)
    p.preempt()  # a completion
    assert engine.cancels[-1] == (engine.jobs[-1], False) and await third is None
    assert p.counters.preempted == 1 and p.counters.superseded >= 1


async def test_fast_typing_waits_for_a_pause_and_warms_the_prompt() -> None:
    engine = FakeEngine()
    p = predictor(engine, [ZETA_DOCUMENT])
    now = [100.0]
    p.clock = lambda: now[0]
    p.cost = 0.9  # a prediction takes 0.9 s; keys come every 0.1 s
    tasks = []
    for _ in range(4):
        tasks.append(asyncio.ensure_future(p.predict(request())))
        await asyncio.sleep(0)
        now[0] += 0.1
    # each request started a prompt-only warm-up and waits; the next one stopped it softly
    assert [j.payload["max_tokens"] for j in engine.jobs] == [512, 0, 0, 0]
    assert all(soft for _, soft in engine.cancels)
    results = await asyncio.gather(*tasks[:-1])
    assert results == [None, None, None]
    await asyncio.sleep(0.2)  # the pause: the newest request's real prediction starts
    assert engine.jobs[-1].payload["max_tokens"] == 512 and not engine.jobs[-1].done
    answer(engine.jobs[-1])
    last = await tasks[-1]
    assert last is not None and p.counters.warmups == 3


async def test_a_completion_also_stops_a_prediction_still_finishing_a_soft_stop() -> None:
    """A change stops a prediction softly (it finishes its batch); the completion that follows
    must still be able to stop it inside its decode."""
    engine = FakeEngine()
    engine.cancel = lambda job, soft=False: engine.cancels.append((job, soft))  # type: ignore[method-assign]
    p = predictor(engine, [ZETA_DOCUMENT])
    task = asyncio.ensure_future(p.predict(request()))
    await asyncio.sleep(0)
    (job,) = engine.jobs
    p.supersede()
    p.preempt()
    assert engine.cancels == [(job, True), (job, False)]
    answer(job)
    await task
