"""The edge checks of api/request.py that work on raw bytes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boulevard.api.request import check_depth
from boulevard.errors import BadRequestData


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


# strings full of brackets, quotes and backslashes: the cases a byte-level check can get wrong
_tricky = st.text(alphabet='[]{}"\\ax', max_size=6)
_json = st.recursive(
    st.none() | st.integers() | _tricky,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_tricky, inner, max_size=3),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(_json, st.integers(min_value=1, max_value=8))
def test_check_depth_agrees_with_the_parsed_depth(value: Any, limit: int) -> None:
    raw = json.dumps(value).encode()
    if _depth(value) <= limit:
        check_depth(raw, limit)
    else:
        with pytest.raises(BadRequestData):
            check_depth(raw, limit)


@pytest.mark.parametrize("escaped", [False, True])
def test_brackets_in_strings_do_not_hide_real_nesting(escaped: bool) -> None:
    # string "]]]" lowers, string "[[[" raises a naive bracket count around a deep list
    deep = "[" * 10 + "1" + "]" * 10
    text = '\\"]]]' if escaped else "]]]"
    raw = f'{{"a":"{text}","b":{deep},"c":"[[["}}'.encode()
    with pytest.raises(BadRequestData):
        check_depth(raw, 8)
    check_depth(raw, 11)
