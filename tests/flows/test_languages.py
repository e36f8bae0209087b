"""Responses in several languages (`lang:` variants): the conversation follows the customer's
language, the same flow answers in it, and a language the bot does not serve still goes to a
person with the built-in text in that language.

tests/data/multilang/ is "Lumen", an English lamp shop's bot with German variants: its intents
have English and German examples, its responses `lang: de` variants (some with `condition:`).
"""

from __future__ import annotations

import asyncio
import random
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from textwrap import dedent

import httpx
import pytest

from botsvc.config import Settings
from botsvc.domain import Customer, DialogueState, TurnContext
from botsvc.embedding import Embedder
from botsvc.errors import ProjectError
from botsvc.flows.responses import in_language, render, render_response
from botsvc.nlu.language import SORRY, message_language
from botsvc.project import Project, load_project, prepare_project
from botsvc.spec.loader import load_flow_documents, load_flows_from_str
from botsvc.spec.variants import ResponseVariant
from tests.conftest import app_client, say
from tests.receiver import Receiver

MULTILANG = Path(__file__).resolve().parent.parent / "data" / "multilang"
SERVED = frozenset({"en", "de"})
CTX = TurnContext(conversation_id="t", customer=Customer(id="u"))


@pytest.fixture(scope="module")
def lumen(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """A trained copy of the bot (models/ and kb_index/ are never written into the repository)."""
    project = tmp_path_factory.mktemp("multilang") / "lumen"
    shutil.copytree(MULTILANG, project)
    prepare_project(project, embedder, progress=False)
    return project


@pytest.fixture
async def client(
    lumen: Path, embedder: Embedder, receiver: Receiver, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        project_dir=lumen,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        handoff_webhook_url=receiver.url,
        handoff_secret="webhook-secret",
        delivery_poll_s=0.2,
    )
    async with app_client(settings, embedder) as c:
        yield c


async def texts(client: httpx.AsyncClient, conv: str, text: str) -> list[str]:
    r = await say(client, conv, text)
    return [m["text"] for m in r["messages"]]


# --- whole conversations ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_german_customer_gets_the_flow_in_german(client: httpx.AsyncClient) -> None:
    assert await texts(client, "de-1", "Wo ist meine Bestellung?") == [
        "Wie lautet Ihre Bestellnummer? Sie sieht so aus: LU-1234."
    ]
    # a number says nothing of a language: the rejection and the question stay German
    assert await texts(client, "de-1", "12345") == [
        "Das sieht nicht wie eine Bestellnummer von Lumen aus. Sie sieht so aus: LU-1234.",
        "Wie lautet Ihre Bestellnummer? Sie sieht so aus: LU-1234.",
    ]
    assert await texts(client, "de-1", "LU-1234") == ["Ihre Bestellung LU-1234 ist unterwegs."]


@pytest.mark.anyio
async def test_an_english_customer_gets_the_same_flow_in_english(
    client: httpx.AsyncClient,
) -> None:
    assert await texts(client, "en-1", "has my order shipped yet?") == [
        "What is your order number? It looks like LU-1234."
    ]
    assert await texts(client, "en-1", "LU-1234") == ["Your order LU-1234 is on its way."]


@pytest.mark.anyio
async def test_the_conversation_follows_the_customer_into_another_served_language(
    client: httpx.AsyncClient,
) -> None:
    await texts(client, "mix-1", "Wo ist meine Bestellung?")
    switched = await texts(client, "mix-1", "sorry, can we do this in English please")
    assert switched[-1] == "What is your order number? It looks like LU-1234."
    assert await texts(client, "mix-1", "LU-1234") == ["Your order LU-1234 is on its way."]


@pytest.mark.anyio
async def test_the_variant_for_the_slots_is_said_in_the_conversations_language(
    client: httpx.AsyncClient,
) -> None:
    await texts(client, "de-ex", "Wann kommt meine Lampe an?")
    assert await texts(client, "de-ex", "EX-1234") == [
        "Ihre Expressbestellung EX-1234 kommt morgen an."
    ]
    await texts(client, "en-ex", "when will my lamp arrive?")
    assert await texts(client, "en-ex", "EX-1234") == [
        "Your express order EX-1234 arrives tomorrow."
    ]


@pytest.mark.anyio
async def test_a_language_the_bot_does_not_serve_still_gets_the_built_in_text_and_a_handoff(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    r = await say(client, "fr-1", "Bonjour, où est ma commande ? Je l'attends depuis une semaine.")
    assert r["handled_by"] == "human" and r["handoff"]["reason"] == "language"
    assert [m["text"] for m in r["messages"]] == [SORRY["fr"]]
    [got] = await asyncio.to_thread(receiver.wait_for, 1, event="handoff.created")
    assert got.json["handoff"]["language"] == "fr"


@pytest.mark.anyio
async def test_a_served_language_is_no_reason_for_a_handoff_and_a_handoff_carries_it(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    r = await say(client, "de-human", "ich möchte mit einem Menschen sprechen")
    assert r["handoff"]["reason"] == "customer_request"
    assert [m["text"] for m in r["messages"]] == [
        "Ich verbinde Sie mit einem Kollegen aus unserem Team."
    ]
    [got] = await asyncio.to_thread(receiver.wait_for, 1, event="handoff.created")
    assert got.json["handoff"]["language"] == "de"


# --- the pipeline's language, turn by turn --------------------------------------------------------


@pytest.fixture
async def project(lumen: Path, embedder: Embedder) -> AsyncIterator[Project]:
    async with httpx.AsyncClient() as http:
        yield load_project(lumen, embedder=embedder, http=http)


@pytest.mark.anyio
async def test_short_messages_and_values_keep_the_conversations_language(
    project: Project, embedder: Embedder
) -> None:
    assert project.pipeline.served == SERVED
    state = DialogueState()
    for text, languages in [
        ("ok", ["en"]),  # nothing known yet: the bot's own
        ("Wo ist meine Bestellung?", ["de", "en"]),
        ("ok", ["de", "en"]),
        ("LU-1234", ["de", "en"]),
        ("jo.schmidt@example.com", ["de", "en"]),
        ("Je voudrais annuler ma commande", ["de", "en"]),  # not served: kept
        ("my order has not arrived", ["en"]),
    ]:
        vector = embedder.encode([text])[0]
        out = await project.pipeline.run(project.parser.parse(text, vector), vector, state, CTX)
        assert out.state.languages == languages, text
        state = DialogueState(languages=out.state.languages)  # no flow waits for an answer


def test_an_old_stored_state_without_languages_still_loads() -> None:
    stored = '{"slots": {"order_id": "LU-1234"}, "stack": [], "consecutive_fallbacks": 1}'
    state = DialogueState.model_validate_json(stored)
    assert state.languages == [] and state.slots == {"order_id": "LU-1234"}


@pytest.mark.anyio
@pytest.mark.parametrize("lang", ["", "lang: en"], ids=["no lang", "only its own"])
async def test_a_bot_without_other_languages_detects_nothing_per_message(
    lumen: Path, embedder: Embedder, tmp_path: Path, lang: str
) -> None:
    plain = tmp_path / "plain"
    shutil.copytree(lumen, plain)  # its trained model and index too
    flows = plain / "flows" / "flows.yml"
    flows.write_text(flows.read_text().replace("lang: de", lang))
    async with httpx.AsyncClient() as http:
        project = load_project(plain, embedder=embedder, http=http)
    assert project.pipeline.served == frozenset()
    text = "Wo ist meine Bestellung?"
    vector = embedder.encode([text])[0]
    nlu = project.parser.parse(text, vector)
    out = await project.pipeline.run(nlu, vector, DialogueState(), CTX)
    assert out.state.languages == []


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Wo ist meine Bestellung?", "de"),
        ("Meine Bestellnummer ist LU-1234", "de"),
        ("my order has not arrived", "en"),
        ("ok", None),
        ("danke", None),
        ("1234 5678", None),
        ("jo.schmidt@example.com", None),
        ("https://lumen.example/orders/LU-1234", None),
        ("Tamron BP monitor HEM 8712 available", None),  # product names, no German small words
        ("Je voudrais annuler ma commande", None),  # French: not served
    ],
)
def test_a_message_is_evidence_of_a_served_language_only_when_it_shows_one(
    text: str, language: str | None
) -> None:
    assert message_language(text, served=SERVED) == language


# --- choosing the variant ------------------------------------------------------------------------

EN = ResponseVariant("Hello", lang="en")
DE = ResponseVariant("Hallo", lang="de")
FR = ResponseVariant("Bonjour", lang="fr")
NEUTRAL = ResponseVariant("LU-1234")


def test_the_conversations_language_comes_first_then_neutral_then_the_bots_own() -> None:
    assert in_language([EN, DE, NEUTRAL], ["de", "en"]) == [DE]
    assert in_language([EN, NEUTRAL], ["de", "en"]) == [NEUTRAL]
    assert in_language([FR, EN], ["de", "en"]) == [EN]
    assert in_language([FR], ["de", "en"]) == [FR]  # never silent for want of a translation
    assert in_language([EN, DE, NEUTRAL], []) == [NEUTRAL]


def test_conditions_choose_first_then_the_language_then_the_tone() -> None:
    spec = load_flows_from_str(
        dedent(
            """\
            slots:
              express: {type: bool}
            responses:
              utter_status:
                - text: Express, tomorrow.
                  condition: [{type: slot, name: express, value: true}]
                - text: Express, morgen.
                  condition: [{type: slot, name: express, value: true}]
                  lang: de
                - text: On its way.
                - text: Unterwegs.
                  lang: de
                  tone: neutral
                - text: Leider noch unterwegs.
                  lang: de
                  tone: empathetic
            """
        )
    )

    def said(slots: dict[str, object], languages: list[str], sentiment: float = 0.0) -> str:
        [m] = render_response(
            spec,
            "utter_status",
            slots=slots,
            languages=languages,
            sentiment=sentiment,
            rng=random.Random(0),
        )
        return m.text

    assert said({"express": True}, ["de", "en"]) == "Express, morgen."
    assert said({"express": True}, ["en"]) == "Express, tomorrow."
    assert said({}, ["de", "en"]) == "Unterwegs."
    assert said({}, ["de", "en"], sentiment=-0.8) == "Leider noch unterwegs."
    assert said({}, ["en"]) == "On its way."
    message = render(spec.responses["utter_status"], values={}, sentiment=0, rng=random.Random(1))
    assert message.text == "On its way."  # no languages: the variants without `lang`


# --- loading and validate ------------------------------------------------------------------------

RESPONSES = """\
responses:
  utter_greet:
    - text: Hello
    - text: Hallo
      lang: {lang}
"""


@pytest.mark.parametrize("lang", ["xx", "german", "de-CH", "1", "''"])
def test_an_unknown_language_code_is_an_error_at_its_line(lang: str) -> None:
    with pytest.raises(ProjectError) as info:
        load_flows_from_str(RESPONSES.format(lang=lang), file="flows/greet.yml")
    [problem] = info.value.problems
    assert (problem.file, problem.line, problem.severity) == ("flows/greet.yml", 5, "error")
    assert "lang" in problem.message


def test_a_code_is_read_in_any_case_and_rasa_domains_read_it_too() -> None:
    ours = load_flows_from_str(RESPONSES.format(lang="DE"))
    assert [v.lang for v in ours.responses["utter_greet"]] == [None, "de"]
    domain = 'version: "3.1"\n' + RESPONSES.format(lang="es")
    rasa = load_flow_documents([("domain.yml", domain)], rasa_project=True)
    assert [v.lang for v in rasa.responses["utter_greet"]] == [None, "es"]
    with pytest.raises(ProjectError) as info:
        load_flow_documents([("domain.yml", RESPONSES.format(lang="zz"))], rasa_project=True)
    assert [(p.file, p.line) for p in info.value.problems] == [("domain.yml", 5)]


def test_validate_warns_where_a_flow_would_switch_language() -> None:
    spec = load_flows_from_str(
        dedent(
            """\
            slots:
              order_id: {type: text}
            responses:
              utter_ask_order_id:
                - text: Your order number?
                  lang: en
              utter_done:
                - text: Done.
                  lang: en
                - text: Erledigt.
                  lang: de
              utter_thanks:
                - text: Thanks!
            flows:
              track:
                description: Track an order.
                steps:
                  - collect: order_id
                  - action: utter_done
                  - action: utter_thanks
            """
        ),
        file="flows/track.yml",
    )
    found = [w for w in spec.warnings if "switch" in w.message]
    assert [(w.file, w.line) for w in found] == [("flows/track.yml", 5)]
    assert "utter_ask_order_id" in found[0].message and "lang: de" in found[0].message
