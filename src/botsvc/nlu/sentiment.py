"""Sentiment of a customer's message: VADER's compound score in [-1, 1] (negative is upset).

VADER is a lexicon and rule set tuned on short social-media text, which suits chat messages:
it reads "NOT happy!!!", "worst service ever :(" and "thanks, great" as people mean them.
"""

from __future__ import annotations

import functools

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer


def sentiment(text: str) -> float:
    """Compound score in [-1, 1]: below about -0.05 negative, above 0.05 positive."""
    if not text.strip():
        return 0.0
    return float(_analyzer().polarity_scores(text)["compound"])


@functools.cache
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()  # loads its lexicon once, on first use
