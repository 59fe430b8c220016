"""The tokenizer's specification: what a token is, for `preprocess` and `predict` alike. Read this first;
`fast_tokenizer.py` computes exactly the same tokens over a whole corpus's bytes, and the tests check it does.

lower-case -> HTML line breaks (<br />) to spaces -> every Unicode punctuation character (\\p{P}) removed
-> split on white space. "Don't" becomes "dont", "well-known" becomes "wellknown", "café!" becomes "café".
"""

from __future__ import annotations

import regex

SETTINGS = {"lowercase": True, "html_breaks": "<br />", "remove": r"\p{P}", "split": "whitespace"}

_BREAK = regex.compile(r"<br[ \t]*/?>", regex.IGNORECASE)
_PUNCTUATION = regex.compile(r"\p{P}+")


def normalize(text: str) -> str:
    """Lower-cased text without HTML breaks or punctuation."""
    return _PUNCTUATION.sub("", _BREAK.sub(" ", text.lower()))


def tokenize(text: str) -> list[str]:
    return normalize(text).split()


def tokenize_many(texts: list[str]) -> list[list[str]]:
    """`tokenize` for each text. (Review by review is faster here than one regex pass over all of them
    joined: the short-lived strings stay in cache.)"""
    return [normalize(text).split() for text in texts]
