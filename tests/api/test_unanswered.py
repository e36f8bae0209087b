"""The loop that makes next week's bot: questions the bot could not answer come back grouped by
topic, and a group exports as a new intent's examples or an article to write."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from botsvc.nlu.trainingdata import load_training_data_from_str
from tests.api.test_api import ADMIN
from tests.conftest import say, token_headers

pytestmark = pytest.mark.anyio

# topics the example shop has no intent, flow or article for
PLANTED = {
    "gift wrapping": [
        "can you gift wrap my order",
        "do you offer gift wrapping?",
        "is gift wrapping available",
        "can I add gift wrapping to my parcel",
    ],
    "price match": [
        "do you price match",
        "I found it cheaper elsewhere, can you match the price",
        "do you have a price match guarantee",
    ],
}


@pytest.fixture
async def client(example_app: Any, sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with example_app(sqlite_url) as c:
        yield c


async def _ask_and_be_let_down(client: httpx.AsyncClient, conv: str, text: str) -> None:
    """The customer asks; an answer, if the bot gives one, is marked not helpful."""
    turn = await say(client, conv, text)
    if turn["handled_by"] in ("kb", "flow"):
        r = await client.post(
            f"/v1/conversations/{conv}/turns/{turn['turn_id']}/feedback",
            json={"helpful": False},
            headers=token_headers(client, conv),
        )
        assert r.status_code == 200


async def test_unanswered_questions_come_back_grouped_by_topic_and_export(
    client: httpx.AsyncClient,
) -> None:
    for topic, questions in PLANTED.items():
        for i, q in enumerate(questions):
            await _ask_and_be_let_down(client, f"{topic[:4]}-{i}", q)
    await say(client, "ok-1", "where is my order NW-482913")  # answered: not a gap

    r = await client.get("/admin/unanswered", params={"since": "1h"}, headers=ADMIN)
    assert r.status_code == 200
    clusters = r.json()["clusters"]
    found = {
        topic: [c for c in clusters if set(c["examples"]) & set(qs)]
        for topic, qs in PLANTED.items()
    }
    for topic, questions in PLANTED.items():
        [cluster] = found[topic]  # each planted topic is one cluster, holding all its questions
        assert sorted(cluster["examples"]) == sorted(questions), topic
        assert cluster["size"] == len(questions)
    gift = found["gift wrapping"][0]
    assert "gift" in " ".join(gift["terms"])

    r = await client.get(
        f"/admin/unanswered/{gift['id']}/export",
        params={"format": "rasa", "since": "1h"},
        headers=ADMIN,
    )
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    data = load_training_data_from_str(r.text)  # valid Rasa NLU, as botsvc train reads it
    assert sorted(e.text for e in data.examples) == sorted(PLANTED["gift wrapping"])

    stub = await client.get(
        f"/admin/unanswered/{gift['id']}/export",
        params={"format": "kb", "since": "1h"},
        headers=ADMIN,
    )
    assert stub.status_code == 200 and stub.text.startswith("---\ntitle: ")
    assert all(q in stub.text for q in PLANTED["gift wrapping"])

    missing = await client.get("/admin/unanswered/nope/export", headers=ADMIN)
    assert missing.status_code == 404
