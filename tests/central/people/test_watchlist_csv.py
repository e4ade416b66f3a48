"""The watch-list CSV parser: good files, and every way a file can be bad (reported by line, nothing taken)."""

from __future__ import annotations

from central.people.watchlist_csv import MAX_REPORTED, parse
from tests.central.people.conftest import csv_of, id_number

A, B = id_number(1), id_number(2)


def test_rows_with_and_without_a_bom() -> None:
    for bom in (False, True):
        parsed = parse(csv_of([(A, "张三", "wanted", "case-1"), (B, "李四", "missing", "")], bom=bom))
        assert parsed.error_count == 0
        assert parsed.rows == 2
        assert sorted(parsed.entries) == sorted([A, B])
        assert parsed.entries[A].name == "张三"


def test_columns_in_any_order_quoted_fields_and_crlf() -> None:
    body = f'case_ref,reason,name,id_number\r\n"c,1","said ""hello""",王五,{A.lower()}\r\n\r\n'.encode()
    parsed = parse(body)
    assert parsed.error_count == 0, parsed.errors
    entry = parsed.entries[A]
    assert (entry.case_ref, entry.reason, entry.name) == ("c,1", 'said "hello"', "王五")


def test_a_number_twice_keeps_the_later_row() -> None:
    parsed = parse(csv_of([(A, "one", "r1", ""), (A, "two", "r2", "")]))
    assert parsed.duplicates == 1
    assert parsed.entries[A].name == "two"


def test_bad_rows_are_reported_by_line() -> None:
    body = csv_of([
        (A, "ok", "", ""),
        ("110105194912310021", "bad check", "", ""),  # line 3
        (B, "x" * 65, "", ""),  # line 4: name too long
        (A, "ctl\x01", "", ""),  # line 5
    ]) + b"only,three,fields\n"  # line 6
    parsed = parse(body)
    assert [line for line, _ in parsed.errors] == [3, 4, 5, 6]
    assert "GB 11643" in parsed.errors[0][1]
    assert "name" in parsed.errors[1][1]
    assert "3 fields" in parsed.errors[3][1]


def test_bad_utf8_names_its_line_and_bytes() -> None:
    body = csv_of([(A, "ok", "", "")]) + B.encode() + b",\xff\xfe,r,c\n"
    parsed = parse(body)
    assert parsed.error_count == 1
    line, error = parsed.errors[0]
    assert line == 3
    assert "not UTF-8" in error and "fffe" in error


def test_a_header_is_required() -> None:
    parsed = parse(f"{A},name,reason,case\n".encode())
    assert parsed.errors[0][0] == 1
    assert "header" in parsed.errors[0][1]
    assert parse(b"").error_count == 1
    assert parse(b"\xef\xbb\xbf\n\n").error_count == 1


def test_only_the_first_errors_are_listed_but_all_are_counted() -> None:
    parsed = parse(csv_of([("123", "", "", "")] * (MAX_REPORTED + 50)))
    assert parsed.error_count == MAX_REPORTED + 50
    assert len(parsed.errors) == MAX_REPORTED


def test_a_nul_byte_and_an_unclosed_quote_are_refused() -> None:
    assert parse(csv_of([(A, "a\x00b", "", "")])).error_count == 1
    assert parse(b'id_number,name,reason,case_ref\n' + A.encode() + b',"open,r,c\n').error_count == 1


def test_sql_looking_text_is_data() -> None:
    parsed = parse(csv_of([(A, "Robert'); DROP TABLE watchlist;--", "' OR '1'='1", "1;DELETE")]))
    assert parsed.error_count == 0
    assert parsed.entries[A].name == "Robert'); DROP TABLE watchlist;--"
