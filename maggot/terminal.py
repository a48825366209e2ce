"""Text from run files made safe for a terminal: control characters shown, never obeyed.

A run directory from someone else is untrusted: an escape sequence in a
config value, a command or a file name could redraw the screen (a plan that
shows one command while another runs), set the window title or write the
clipboard. Everything maggot prints from run files goes through here.
"""

from __future__ import annotations

import re

_SGR = re.compile(r"\x1b\[[0-9;]*m")


def _escape(character: str) -> str:
    code = ord(character)
    if character == "\n":
        return "\\n"
    if character == "\r":
        return "\\r"
    if character == "\t":
        return "\\t"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str, keep: str = "") -> str:
    """``text`` with every non-printable character (controls, bidi overrides) escaped.

    Characters in ``keep`` (e.g. ``"\\n\\t"`` for multi-line text) stay as they are.
    """
    if text.isprintable():
        return text
    return "".join(
        character if character.isprintable() or character in keep else _escape(character)
        for character in text
    )


def printable_lines(text: str, colored: bool = False) -> str:
    """Multi-line text (a diff) escaped line by line; ``colored`` keeps color codes only."""
    if not colored:
        return printable(text, keep="\n\t")
    pieces = _SGR.split(text)
    codes = _SGR.findall(text)
    out = [printable(pieces[0], keep="\n\t")]
    for code, piece in zip(codes, pieces[1:]):
        out.append(code)
        out.append(printable(piece, keep="\n\t"))
    return "".join(out)


def printable_json(text: str) -> str:
    """JSON text with the non-printable characters ``json.dumps`` leaves raw escaped as ``\\uXXXX``.

    With ``ensure_ascii=False`` JSON keeps C1 controls and bidi overrides as
    they are; escaped, the text is still the same JSON.
    """
    if text.isprintable():
        return text
    lines = text.split("\n")
    # line by line: a newline is not printable, and a character loop over a listing of
    # 100,000 runs takes seconds
    if all(map(str.isprintable, lines)):
        return text
    return "\n".join(line if line.isprintable() else _escape_json_line(line) for line in lines)


def _escape_json_line(text: str) -> str:
    out = []
    for character in text:
        if character.isprintable():
            out.append(character)
        elif ord(character) > 0xFFFF:
            code = ord(character) - 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{ord(character):04x}")
    return "".join(out)
