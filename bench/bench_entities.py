"""The cost of the built-in entity extractors per message, on 200+ typical support messages.

    .venv/bin/python bench/bench_entities.py [--rounds 20] [--baseline OLD_BUILTINS.py]

Prints, in microseconds per message (mean, p50, p99 over every call), single-threaded:

- ``extract_builtins`` as the extractor calls it, and each of its parts (dates, phone numbers,
  names) alone;
- dateparser's ``search_dates`` on the same messages, which dates.py does not use: the cost of
  searching every message for a date without the regex gate;
- with ``--baseline FILE``, ``extract_builtins`` of another builtins.py (e.g. the one before this
  change: ``git show HEAD:src/botsvc/nlu/builtins.py > /tmp/old_builtins.py``);

and the one-off cost of the first message with a date (dateparser's import and first parse).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from botsvc.nlu.builtins import extract_builtins
from botsvc.nlu.dates import find_dates
from botsvc.nlu.names import find_person_names
from botsvc.nlu.phones import find_phone_numbers

NOW = datetime(2025, 5, 14, 10, 0)

# Most support messages say no date: about a fifth of these do, as in a shop's real traffic.
PLAIN = [
    "hi",
    "hello there",
    "where is my order?",
    "where is my order NW-123456",
    "my package hasn't arrived yet",
    "I want a refund",
    "I want a refund for my order",
    "how do I reset my password?",
    "I forgot my password",
    "the password reset link doesn't work",
    "can I change my email address",
    "how do I cancel my subscription",
    "I was charged twice",
    "why was I charged 20 euros?",
    "I paid 40 bucks for this and it broke",
    "refund $45.50 to jo.doe@example.com",
    "the item arrived damaged",
    "the box was empty",
    "I received the wrong size",
    "can I exchange it for a larger one",
    "do you ship to Canada?",
    "how much is shipping",
    "is shipping free over $50?",
    "my discount code isn't working",
    "the coupon SAVE10 doesn't apply",
    "I want to talk to a human",
    "can I speak to an agent please",
    "this is useless",
    "you are not helping",
    "thanks!",
    "thank you so much",
    "ok",
    "yes",
    "no",
    "no thanks",
    "bye",
    "what are your opening hours",
    "do you have a phone number",
    "how do I contact support",
    "the app keeps crashing",
    "sync is not working on my iphone",
    "my files don't sync on windows",
    "sync problem on mac",
    "it doesn't sync between my laptop and phone",
    "how do I upgrade to Business",
    "I want to downgrade to the free plan",
    "what does the Plus plan include",
    "how much is Enterprise",
    "can I pay with PayPal",
    "do you accept Visa",
    "my card was declined",
    "I need an invoice",
    "where can I download my invoice",
    "can you add my VAT number to the invoice",
    "the invoice shows the wrong address",
    "I moved, can you update my address",
    "please send it to my office instead",
    "I want to return 2 items",
    "I ordered 3 items but only two arrived",
    "one of the mugs is broken",
    "the third one is missing",
    "I'll take the 2nd option",
    "which one is cheaper?",
    "I want to go to bed",
    "is this product in stock",
    "when will the blue kettle be back in stock",
    "do you sell gift cards",
    "can I buy a gift card for my mum",
    "is my data safe",
    "how do I delete my account",
    "I want to close my account",
    "can I have two accounts",
    "how do I add a team member",
    "how many users can I add on Plus",
    "we have 1.5k users, which plan",
    "about 3 million rows, will that work",
    "the export is stuck at 99%",
    "the page shows error 500",
    "I get error code E-4012",
    "the website is very slow",
    "the checkout button doesn't work",
    "my cart is empty after login",
    "I can't log in",
    "login doesn't work with Google",
    "two factor authentication code never arrives",
    "I didn't get the one-time password",
    "the verification email never came",
    "I have not received a confirmation email",
    "my order number is 100234",
    "order NW-482913 please",
    "NW-100234",
    "what is the status of NW-777777",
    "the tracking number doesn't work",
    "tracking says delivered but I have nothing",
    "the courier left it at the wrong house",
    "can I pick it up from a store",
    "do you have a store in Berlin",
    "can you deliver to a pickup point",
    "I want to cancel my order",
    "cancel it",
    "never mind",
    "stop",
    "actually I want to keep it",
    "is it too late to cancel",
    "can I change the delivery address",
    "how long does a refund take",
    "I have been waiting for 2 weeks",
    "still no refund",
    "it has been ages",
    "I asked three times already",
    "WHERE IS MY MONEY",
    "this is ridiculous",
    "I'm very disappointed",
    "great service, thanks",
    "the product is great",
    "can I leave a review",
    "do you have a loyalty program",
    "how do I earn points",
    "my points disappeared",
    "can I use two coupons",
    "is there a student discount",
    "do you price match",
    "I saw it cheaper elsewhere",
    "it cost me 413$",
    "they charged me 200 quid",
    "I want fifty dollars back",
    "the fee was €20",
    "refund the $1,200.50 please",
    "I need forty two labels",
    "two hundred and fifty units",
    "a dozen mugs arrived broken",
    "can I order two dozen?",
    "I want one",
    "one or two boxes",
    "no one answered my email",
    "I'm on version 2.3.1",
    "the screen is 27 inches",
    "it weighs 3.5 kg",
    "my size is 42",
    "do you have it in XL",
    "is it machine washable",
    "what is the warranty",
    "the warranty is 2 years right",
    "my coffee machine broke",
    "the air fryer stopped working",
    "the charger is missing",
    "the manual is in the wrong language",
    "can I get the manual in English",
    "the colour is different from the picture",
    "I want the red one",
    "it smells weird",
    "the battery drains fast",
    "is there a newer model",
    "how do I register my product",
    "send it to john smith",
    "upgrade me to Business",
    "switching from Windows to Mac",
    "I got an email from Amazon",
    "I Want To Go To Bed",
    "is anyone there?",
    "hello?",
    "are you a bot",
    "are you human",
    "what can you do",
    "help",
    "menu",
    "I have a question",
    "I have a complaint",
]
DATED = [
    "can you deliver it next Friday at 7?",
    "call me tomorrow at 7pm",
    "it arrived broken on 3 March",
    "I can wait, in two weeks is fine",
    "can someone call me tonight",
    "the courier comes at 19:30",
    "the 12th",
    "I need it by Monday",
    "I ordered it 3 days ago",
    "broken since yesterday",
    "delivered on the 12th of June",
    "Friday, 23 May works",
    "next sat please",
    "7pm on Friday",
    "tomorrow morning is best",
    "tonight at 8",
    "tomorrow at 3 then",
    "remind me in 2 hours",
    "ordered on 2024-05-01",
    "it shipped 03/04/2025",
    "is the 12th at 5pm ok?",
    "I ordered last week",
    "my subscription renews next month",
    "I was charged on May 2nd",
    "can you deliver on Saturday",
    "I'm away until the 20th",
    "please don't deliver before Thursday",
    "the parcel was due today",
    "can the technician come this afternoon",
    "it broke a week ago",
    "may I have a refund",
    "do you ship to sat nav?",
    "book a table for 2 at 8",
    "good morning",
    "it arrived at 5",
    "call me at 415-555-2671",
    "my number is (415) 555 2671 thanks",
    "you can reach me on +44 20 7946 0958",
    "send 50 to John Smith",
    "a table for Maria",
    "a gift for Mr. O'Brien!",
    "ship it to Jean-Luc Picard, thanks",
    "fly to Hamburg",
    "Send $45.50 to Maria Lopez tomorrow at 7pm, call 415-555-2671 or mail jo@example.com",
    "order NW-123456 cost 20 euros on 2024-05-01",
    "deliver NW-424242 to Paris next Friday at 7pm, for Maria Lopez: 415-555-2671",
]
MESSAGES = PLAIN + DATED


def _time_per_message(
    func: Callable[[str], Any], rounds: int, messages: list[str] = MESSAGES
) -> list[float]:
    """Microseconds of every call: one warm-up round, then ``rounds`` rounds over the messages."""
    for text in messages:
        func(text)
    samples: list[float] = []
    for _ in range(rounds):
        for text in messages:
            start = time.perf_counter_ns()
            func(text)
            samples.append((time.perf_counter_ns() - start) / 1000)
    return samples


def _row(label: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    mean = statistics.fmean(samples)
    return f"| {label} | {mean:,.1f} | {p50:,.1f} | {p99:,.1f} |"


def _load_baseline(path: Path) -> Callable[[str], Any]:
    spec = importlib.util.spec_from_file_location("baseline_builtins", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    func: Callable[[str], Any] = module.extract_builtins
    return func


def _first_date_cost_ms() -> float:
    start = time.perf_counter()
    extract_builtins("can you deliver it next Friday at 7?", now=NOW)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--baseline", type=Path, help="another builtins.py to time beside")
    args = parser.parse_args()

    cold_ms = _first_date_cost_ms()
    dated = [text for text in MESSAGES if find_dates(text, NOW)]
    undated = [text for text in MESSAGES if text not in dated]
    print(
        f"{len(MESSAGES)} messages ({len(dated)} with a date found), {args.rounds} rounds, "
        f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, single thread"
    )
    print(f"first message with a date: {cold_ms:,.0f} ms (dateparser import and first parse)\n")
    print("| what | mean µs/message | p50 µs | p99 µs |")
    print("| --- | ---: | ---: | ---: |")
    rows: list[tuple[str, Callable[[str], Any], int, list[str]]] = []
    if args.baseline is not None:
        old = _load_baseline(args.baseline)
        rows.append((f"baseline {args.baseline.name}", old, args.rounds, MESSAGES))
        rows.append(("  on the messages without a date", old, args.rounds, undated))
    rows += [
        ("extract_builtins (all built-ins)", _builtins, args.rounds, MESSAGES),
        (f"  on the {len(undated)} messages without a date", _builtins, args.rounds, undated),
        (f"  on the {len(dated)} messages with a date", _builtins, args.rounds, dated),
        ("dates.find_dates (regex gate + dateparser)", _dates, args.rounds, MESSAGES),
        ("phones.find_phone_numbers", find_phone_numbers, args.rounds, MESSAGES),
        ("names.find_person_names", find_person_names, args.rounds, MESSAGES),
        ("dateparser search_dates, ungated (not used)", _search_dates, 2, MESSAGES),
    ]
    for label, func, rounds, messages in rows:
        print(_row(label, _time_per_message(func, rounds, messages)), flush=True)


def _builtins(text: str) -> object:
    return extract_builtins(text, now=NOW)


def _dates(text: str) -> object:
    return find_dates(text, NOW)


def _search_dates(text: str) -> object:
    from dateparser.search import search_dates

    settings = {"PREFER_DATES_FROM": "future", "RELATIVE_BASE": NOW}
    return search_dates(text, languages=["en"], settings=settings)


if __name__ == "__main__":
    main()
