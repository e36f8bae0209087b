from __future__ import annotations

import random

from botsvc.domain import Button, Customer
from botsvc.flows.responses import render, render_response, tone_for
from botsvc.spec.loader import load_flows_from_str
from botsvc.spec.variants import ResponseVariant, template_names

NEUTRAL = ResponseVariant("Done, {customer_name}: refund for {order_id}.", tone="neutral")
EMPATHETIC = ResponseVariant(
    "I'm so sorry, {customer_name}. Refund for {order_id}.", tone="empathetic"
)
ANY = ResponseVariant("Refund for {order_id} started.")


def test_tone_follows_sentiment() -> None:
    assert tone_for(-0.3) == "empathetic"
    assert tone_for(-0.29) == "neutral"
    assert tone_for(0.8) == "neutral"


def test_variants_are_picked_by_tone_and_untoned_ones_suit_both() -> None:
    rng = random.Random(1)
    values = {"customer_name": "Ana", "order_id": "NW-1"}
    upset = {
        render([NEUTRAL, EMPATHETIC, ANY], values=values, sentiment=-0.7, rng=rng).text
        for _ in range(40)
    }
    calm = {
        render([NEUTRAL, EMPATHETIC, ANY], values=values, sentiment=0.2, rng=rng).text
        for _ in range(40)
    }
    assert upset == {"I'm so sorry, Ana. Refund for NW-1.", "Refund for NW-1 started."}
    assert calm == {"Done, Ana: refund for NW-1.", "Refund for NW-1 started."}


def test_when_no_variant_suits_the_tone_any_variant_is_used() -> None:
    message = render([EMPATHETIC], values={}, sentiment=0.9, rng=random.Random(0))
    assert message.text == "I'm so sorry, there. Refund for ."


def test_missing_values_render_empty_and_customer_name_falls_back() -> None:
    variant = ResponseVariant("Hi {customer_name}, {unknown}{order_id} {{literal}} {amount} {ok}")
    message = render(
        [variant],
        values={"customer_name": None, "amount": 12.0, "ok": True},
        sentiment=0,
        rng=random.Random(0),
    )
    assert message.text == "Hi there,  {literal} 12 yes"


def test_buttons_are_carried_and_templated() -> None:
    variant = ResponseVariant(
        "Refund {order_id}?",
        buttons=(Button("Yes, refund {order_id}", "/affirm"), Button("No", "/deny")),
    )
    message = render([variant], values={"order_id": "NW-1"}, sentiment=0, rng=random.Random(0))
    assert message.buttons == (Button("Yes, refund NW-1", "/affirm"), Button("No", "/deny"))
    assert template_names(variant) == {"order_id"}


def test_render_response_renders_a_project_response_like_the_engine() -> None:
    spec = load_flows_from_str(
        "slots:\n  plan: {type: text, initial_value: free}\n"
        "responses:\n  utter_plan: [{text: '{customer_name} is on {plan}'}]\n"
    )
    (message,) = render_response(spec, "utter_plan", slots={}, customer=Customer("c", "Ana"))
    assert message.text == "Ana is on free"
    (message,) = render_response(spec, "utter_plan", slots={"plan": "pro"}, extra={"plan": "x"})
    assert message.text == "there is on x"
    assert render_response(spec, "utter_missing", slots={}) == ()


def test_an_image_is_filled_like_the_text_and_a_custom_payload_is_passed_on() -> None:
    spec = load_flows_from_str(
        "slots:\n  order_id: {type: text}\n"
        "responses:\n"
        "  utter_parcel:\n"
        '    - text: "Order {order_id}:"\n'
        '      image: "https://img.example/{order_id}.png"\n'
        "      custom: {type: map, lat: 52.37}\n"
    )
    (message,) = render_response(spec, "utter_parcel", slots={"order_id": "NW-1"})
    assert (message.text, message.image) == ("Order NW-1:", "https://img.example/NW-1.png")
    assert message.custom == {"type": "map", "lat": 52.37}
