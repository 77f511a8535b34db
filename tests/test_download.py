"""Downloads through huggingface_hub against a local stand-in hub (no test touches the internet)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lsp_server.model_files.download import (
    DownloadError,
    download_model,
    model_url,
    stderr_progress,
)
from lsp_server.model_files.registry import ModelEntry, resolve_model
from tests.hub_standin import COMMIT, Hub, running

DATA = b"GGUF" + bytes(range(256)) * 10_000  # 2.5 MB: several progress reports


def make_entry(repo: str = "test/tiny-GGUF", file: str = "tiny.gguf") -> ModelEntry:
    return ModelEntry("tiny-test", repo, file, len(DATA), True, "seed-coder", "")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("HF_TOKEN", "HF_HUB_OFFLINE", "HF_ENDPOINT", "SEED_CODER_LSP_MODEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setenv("SEED_CODER_LSP_CACHE", str(tmp_path / "ours"))


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    with running(Hub(files={"test/tiny-GGUF/tiny.gguf": DATA})) as h:
        monkeypatch.setenv("HF_ENDPOINT", h.url)
        yield h


def test_model_url_honours_hf_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = make_entry()
    assert model_url(entry) == "https://huggingface.co/test/tiny-GGUF/resolve/main/tiny.gguf"
    monkeypatch.setenv("HF_ENDPOINT", "https://mirror.example/")
    assert model_url(entry) == "https://mirror.example/test/tiny-GGUF/resolve/main/tiny.gguf"


def test_download_into_the_hf_cache_with_progress_then_no_transfer(hub: Hub, tmp_path: Path):
    seen: list[tuple[int, int]] = []
    path = download_model(make_entry(), progress=lambda d, t: seen.append((d, t)))
    assert path.read_bytes() == DATA and len(seen) >= 3  # a report per MB
    assert COMMIT in str(path) and str(tmp_path / "hf" / "hub") in str(path)
    assert seen[-1] == (len(DATA), len(DATA))
    # found in the cache from now on, without the network
    assert resolve_model("test/tiny-GGUF:tiny.gguf").path == path
    gets, sent = hub.gets(), hub.body_bytes
    assert download_model(make_entry()) == path  # a second run transfers nothing
    assert hub.gets() == gets and hub.body_bytes == sent


def test_resume_after_an_interrupted_transfer(hub: Hub) -> None:
    hub.drop_after = 1_200_000
    try:
        path = download_model(make_entry())
    except DownloadError:  # huggingface_hub gave up on the dropped link: run it again
        path = download_model(make_entry())
    assert path.read_bytes() == DATA
    ranged = [p for m, p in hub.requests if m == "GET"]
    assert len(ranged) == 2
    assert hub.body_bytes < len(DATA) + 300_000  # resumed, not sent again from the start


def test_two_concurrent_downloads_leave_one_intact_file(hub: Hub) -> None:
    hub.delay = 0.01
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(download_model(make_entry())))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 2 and results[0] == results[1]
    assert results[0].read_bytes() == DATA


def test_offline_says_what_to_do_in_one_line(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DownloadError) as exc:
        download_model(make_entry())
    msg = str(exc.value)
    assert "\n" not in msg and "HF_HUB_OFFLINE is set" in msg and "by hand" in msg
    assert hub.requests == []


def test_unreachable_hub_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(DownloadError, match="could not be reached.*by hand"):
        download_model(make_entry())


def test_gated_repository_says_to_log_in(hub: Hub) -> None:
    hub.refuse = 401
    with pytest.raises(DownloadError, match=r"hf auth login.*HF_TOKEN"):
        download_model(make_entry())


def test_missing_file_is_named(hub: Hub) -> None:
    with pytest.raises(DownloadError, match="was not found"):
        download_model(make_entry(file="nope.gguf"))


def test_hub_spec_by_quant_tag_from_the_cache(hub: Hub) -> None:
    hub.files["test/quants-GGUF/m.Q4_K_M.gguf"] = DATA
    path = download_model(make_entry("test/quants-GGUF", "m.Q4_K_M.gguf"))
    assert resolve_model("test/quants-GGUF:Q4_K_M").path == path
    with pytest.raises(Exception, match="hf download test/quants-GGUF"):
        resolve_model("test/quants-GGUF:Q8_0")  # not cached: never fetched unasked


def test_stderr_progress_writes_stderr_only(capsys: pytest.CaptureFixture[str]) -> None:
    stderr_progress(0, 200)
    stderr_progress(100, 200)
    stderr_progress(200, 200)
    out, err = capsys.readouterr()
    assert out == ""
    assert "50.0%" in err and "100.0%" in err and err.endswith("\n")


def test_stderr_progress_unknown_total(capsys: pytest.CaptureFixture[str]) -> None:
    stderr_progress(5_000_000, 0)
    out, err = capsys.readouterr()
    assert out == "" and "0.01 GB" in err
