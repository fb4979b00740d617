"""One row as one checked line: a torn or corrupt line is found, and so is everything after it."""

from __future__ import annotations

import zlib

import pytest

from predictor.capture import framing


def test_a_line_is_its_crc_a_space_and_the_json() -> None:
    body = b'{"x":[1,2]}'
    assert framing.frame(body) == b"%08x " % zlib.crc32(body) + body + b"\n"
    data = framing.frame(body) + framing.frame(b"[3]")
    assert framing.good_prefix(data) == (len(data), 2)
    assert list(framing.bodies(data)) == [body, b"[3]"]


@pytest.mark.parametrize(
    "tail",
    [
        b"",  # nothing after the whole lines: nothing torn
        b"0000",  # the power cut stopped in the prefix
        b'%08x {"x":' % zlib.crc32(b'{"x":1}'),  # in the JSON, before its newline
        b"\0" * 40,  # blocks not written yet, read back as zeros
        b"\0" * 20 + b"\n",  # ... that happen to hold a newline
        b'%08x {"x":2}\n' % zlib.crc32(b'{"x":1}'),  # stale bytes: the check fails
        b"zzzzzzzz {}\n",  # not hex
        b"%08x{}\n" % zlib.crc32(b"{}"),  # no space
    ],
)
def test_a_torn_tail_is_cut_off_and_never_read(tail: bytes) -> None:
    whole = framing.frame(b'{"a":1}') + framing.frame(b'{"a":2}')
    assert framing.good_prefix(whole + tail) == (len(whole), 2)
    assert list(framing.bodies(whole + tail)) == [b'{"a":1}', b'{"a":2}']


def test_nothing_after_a_corrupt_line_is_read_even_if_whole() -> None:
    good, later = framing.frame(b"[1]"), framing.frame(b"[3]")
    corrupt = bytearray(framing.frame(b"[2]"))
    corrupt[10] ^= 0x01
    data = good + bytes(corrupt) + later
    assert framing.good_prefix(data) == (len(good), 1)
    assert list(framing.bodies(data)) == [b"[1]"]
