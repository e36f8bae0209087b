"""The encoder: ONNX int8 serves what torch would, from a folder of ours, batched, bounded."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest

from botsvc.embedding import Embedder
from botsvc.errors import ConfigError, Overloaded
from tests.conftest import REPO, app_client

TEXTS = [
    "wheres my pakage??",
    "I was charged twice for one order",
    "Kann ich meine Bestellung stornieren?",
    "hi",
    "how long do refunds take? I sent the parcel back two weeks ago and nothing yet",
    "NW-482913",
    "😀 thanks!!",
]


def test_int8_vectors_agree_with_torch_and_the_backends_never_share_artefacts(
    embedder: Embedder,
) -> None:
    torch = Embedder(backend="torch")
    reference = torch.encode(TEXTS)
    int8 = embedder.encode(TEXTS)
    assert int8.dtype == np.float32 and int8.shape == reference.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-5)
    cosines = (int8 * reference).sum(axis=1)
    # short texts move most (an emoji is one unknown token): 0.95 here, 0.99 for sentences
    assert cosines.mean() >= 0.98 and cosines.min() >= 0.94, cosines
    # a text's vector does not depend on what it was batched with (nor on padding)
    one_by_one = np.stack([embedder.encode([t])[0] for t in TEXTS])
    assert np.allclose(one_by_one, int8, atol=1e-6)
    assert np.allclose(embedder.encode(TEXTS[::-1])[::-1], int8, atol=1e-6)
    assert embedder.model_id.endswith("+onnx-int8") and torch.model_id.endswith("+torch")
    assert embedder.model_id != torch.model_id


def test_the_export_is_written_once_into_our_folder_and_serving_never_exports(
    tmp_path: Path,
) -> None:
    serving = Embedder(cache_dir=tmp_path / "encoder", backend="onnx")
    with pytest.raises(ConfigError, match="botsvc train"):
        serving.load(export=False)
    Embedder(cache_dir=tmp_path / "encoder", backend="onnx").load(export=True)
    (folder,) = (tmp_path / "encoder").iterdir()
    assert sorted(p.name for p in folder.iterdir()) == [
        "encoder.json",
        "model.onnx",
        "tokenizer.json",
    ]
    assert json.loads((folder / "encoder.json").read_text())["backend"] == "onnx"
    serving.load(export=False)  # now it is there
    assert serving.encode(["hello"]).shape == (1, 384)


@pytest.mark.anyio
async def test_messages_that_arrive_together_are_answered_each_with_its_own_vector(
    embedder: Embedder,
) -> None:
    vectors = await asyncio.gather(*(embedder.encode_one(t) for t in TEXTS * 5))
    expected = embedder.encode(TEXTS * 5)
    assert np.allclose(np.stack(vectors), expected, atol=1e-4)


@pytest.mark.anyio
async def test_past_the_queue_bound_the_encoder_refuses_rather_than_queueing(
    embedder: Embedder,
) -> None:
    small = Embedder(cache_dir=REPO / "models" / "encoder", max_queue=2)
    small.load(export=False)
    try:
        results = await asyncio.gather(
            *(small.encode_one(t) for t in TEXTS * 3), return_exceptions=True
        )
    finally:
        await small.aclose()
    refused = [r for r in results if isinstance(r, Overloaded)]
    answered = [r for r in results if isinstance(r, np.ndarray)]
    assert refused and answered and len(refused) + len(answered) == len(results)


@pytest.mark.anyio
async def test_an_overloaded_service_answers_503_with_retry_after_and_stores_what_it_accepted(
    example_project: Path, tmp_path: Path
) -> None:
    from botsvc.config import Settings

    small = Embedder(cache_dir=REPO / "models" / "encoder", max_queue=1)
    small.load(export=False)
    settings = Settings(
        project_dir=example_project, database_url=f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"
    )
    async with app_client(settings, small) as client:

        async def post(i: int) -> httpx.Response:
            return await client.post(f"/v1/conversations/o-{i}/messages", json={"text": "hi"})

        # the encoder thread is busy (a slow machine) until a request has been refused
        gate = threading.Event()
        small._executor.submit(gate.wait)
        tasks = [asyncio.create_task(post(i)) for i in range(12)]
        for _ in range(600):
            if any(t.done() and t.result().status_code == 503 for t in tasks):
                break
            await asyncio.sleep(0.05)
        gate.set()
        answers = await asyncio.gather(*tasks)
        refused = [r for r in answers if r.status_code == 503]
        assert refused and all(r.status_code in (200, 503) for r in answers)
        assert all(r.headers["retry-after"].isdigit() for r in refused)
        assert {r.json()["error"]["code"] for r in refused} == {"overloaded"}
        for i, r in enumerate(answers):
            if r.status_code == 200:
                token = {"x-conversation-token": r.json()["conversation_token"]}
                got = await client.get(f"/v1/conversations/o-{i}", headers=token)
                assert [m["text"] for m in got.json()["messages"]][0] == "hi"
    await small.aclose()


def test_serving_imports_no_torch_and_no_sklearn(example_project: Path, tmp_path: Path) -> None:
    """The service's whole start-up and a turn, in a fresh interpreter: neither torch nor
    sklearn loads (they are for exporting and training; together seconds and 300 MB)."""
    script = f"""
import asyncio, sys
from asgi_lifespan import LifespanManager
import httpx
from botsvc.api.app import create_app
from botsvc.config import Settings

async def main():
    app = create_app(Settings(project_dir={str(example_project)!r},
                              database_url="sqlite+aiosqlite:///{tmp_path}/t.db"))
    async with LifespanManager(app, startup_timeout=120) as m:
        t = httpx.ASGITransport(app=m.app)
        async with httpx.AsyncClient(transport=t, base_url="http://x") as c:
            r = await c.post("/v1/conversations/t1/messages", json={{"text": "where is my order"}})
            assert r.status_code == 200, r.text
    print(sorted(m for m in ("torch", "sentence_transformers", "sklearn", "scipy")
                 if m in sys.modules))

asyncio.run(main())
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=REPO
    )
    assert out.returncode == 0, out.stderr[-3000:]
    loaded = out.stdout.splitlines()[-1]
    assert loaded == "['scipy']", loaded  # scipy.sparse comes with bm25s, the lexical leg
