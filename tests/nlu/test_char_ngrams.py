"""The classifier's character n-grams are computed without sklearn at serving time: they must
be exactly sklearn's, or a model trained by one would be read wrongly by the other."""

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from botsvc.nlu.features import NGRAM_RANGE, CharNgrams, char_wb_ngrams

TEXTS = [
    "wheres my pakage??",
    "I'd like to change my   subscription",
    "Wo ist meine Bestellung? Straße",
    "NW-10234\tarrived\n\ntoday",
    "a b cd",
    "  leading and trailing  ",
    "",
    "ÉCOLE naïve café 😀",
    "x" * 30,
]


@pytest.mark.parametrize("text", TEXTS)
def test_the_ngrams_are_sklearns_char_wb_ngrams_in_order(text: str) -> None:
    sklearn = TfidfVectorizer(analyzer="char_wb", ngram_range=NGRAM_RANGE).build_analyzer()
    assert char_wb_ngrams(text) == sklearn(text)


def test_one_row_is_the_same_as_the_training_matrix_row() -> None:
    ngrams = CharNgrams.fit(TEXTS[:5])
    matrix = ngrams.transform(TEXTS).toarray()
    for i, text in enumerate(TEXTS):
        cols, vals = ngrams.row(text)
        dense = np.zeros(len(ngrams.vocabulary))
        dense[cols] = vals
        assert np.allclose(dense, matrix[i])
    assert len(ngrams.row("qqqq zzzz")[0]) == 0  # nothing known: an empty row, no error
