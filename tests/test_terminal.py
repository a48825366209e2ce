from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from maggot.terminal import printable, printable_json, printable_lines

DANGEROUS = [chr(code) for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))] + ["\u202e", "\u2066"]


@given(st.text())
def test_printable_text_holds_no_control_character(text: str) -> None:
    assert printable(text).isprintable()


@given(st.text())
def test_escaped_json_is_the_same_json(text: str) -> None:
    encoded = json.dumps({"key": text}, ensure_ascii=False, indent=2)
    escaped = printable_json(encoded)
    assert json.loads(escaped) == {"key": text}
    assert not any(character in escaped.replace("\n", "") for character in DANGEROUS)


def test_multi_line_text_keeps_its_lines_and_colors_only() -> None:
    text = "\x1b[31m-old\x1b[m\n+new \x1b]52;c;cHduZWQ=\x07\tend\n"
    assert printable_lines(text, colored=True) == (
        "\x1b[31m-old\x1b[m\n+new \\x1b]52;c;cHduZWQ=\\x07\tend\n"
    )
    assert printable_lines(text) == "\\x1b[31m-old\\x1b[m\n+new \\x1b]52;c;cHduZWQ=\\x07\tend\n"
