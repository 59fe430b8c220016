"""The one tokenizer, shared by `preprocess` and `predict` so both see text the same way.

lower-case -> HTML line breaks (<br />) to spaces -> every Unicode punctuation character (\\p{P}) removed
-> split on white space. "Don't" becomes "dont", "well-known" becomes "wellknown", "café!" becomes "café".
"""

from __future__ import annotations

import regex

SETTINGS = {"lowercase": True, "html_breaks": "<br />", "remove": r"\p{P}", "split": "whitespace"}

_BREAK = regex.compile(r"<br[ \t]*/?>", regex.IGNORECASE)
_PUNCTUATION = regex.compile(r"\p{P}+")


def normalize(text: str) -> str:
    """Lower-cased text without HTML breaks or punctuation; newlines are kept, so many reviews joined by
    newlines can be normalised in one call and split apart again."""
    return _PUNCTUATION.sub("", _BREAK.sub(" ", text.lower()))


def tokenize(text: str) -> list[str]:
    return normalize(text).split()


def tokenize_many(texts: list[str]) -> list[list[str]]:
    """`tokenize` for many texts at once (one regex pass over them all). Texts must not contain newlines."""
    if not texts:
        return []
    return [line.split() for line in normalize("\n".join(texts)).split("\n")]
