from toolgym.tools.mcp.stdio import split_lines


def test_lines_are_split_across_chunks():
    pending = bytearray()
    assert split_lines(pending, b'{"a": ') == []
    assert split_lines(pending, b'1}\n{"b": 2}\n{"c"') == [b'{"a": 1}', b'{"b": 2}']
    assert pending == b'{"c"'
    assert split_lines(pending, b": 3}\n") == [b'{"c": 3}']
    assert pending == b""


def test_a_huge_line_arrives_whole():
    pending = bytearray()
    chunk = b"x" * 65536
    for _ in range(256):  # 16 MB without a newline: appended, not re-split each time
        assert split_lines(pending, chunk) == []
    (line,) = split_lines(pending, b"\n")
    assert len(line) == 256 * 65536 and pending == b""
