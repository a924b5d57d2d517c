"""lakeforge.sources.csvparse: RFC 4180 records with their number and raw text (SPEC §1, §2)."""

from __future__ import annotations

import pytest

from lakeforge.sources.csvparse import decode, normalize_header_name, parse_csv_text, read_header


def parse(text: str) -> tuple[list[str] | None, list[tuple[int, list[str] | None, str]]]:
    """(header, [(line_number, fields or None when malformed, raw text)])."""
    header, records = parse_csv_text(text)
    return header, [(r.line_number, r.fields, r.raw) for r in records]


# --- header -----------------------------------------------------------------------------------------------
def test_header_names_are_trimmed_and_lower_cased() -> None:
    assert parse(" Order_ID ,\tStatus\t, TOTAL_amount \n") == (["order_id", "status", "total_amount"], [])
    assert parse("Order_ID,Status \r\n") == (["order_id", "status"], [])


def test_normalize_header_name_trims_spaces_tabs_cr_lf_only() -> None:
    assert normalize_header_name(" \t\r\nEmail\n\r\t ") == "email"
    assert normalize_header_name("first name") == "first name"


def test_quoted_header_names_are_unquoted() -> None:
    assert parse('"id","a, b","say ""x"""\n1,2,3\n') == (
        ["id", "a, b", 'say "x"'],
        [(1, ["1", "2", "3"], "1,2,3")],
    )


def test_header_only_is_an_empty_batch() -> None:
    assert parse("id,name\n") == (["id", "name"], [])
    assert parse("id,name") == (["id", "name"], [])
    assert parse("id,name\r\n\r\n\n") == (["id", "name"], [])


def test_empty_text_has_no_header() -> None:
    assert parse("") == (None, [])
    assert parse("\n\r\n\n") == (None, [])


def test_blank_lines_before_the_header_are_skipped() -> None:
    assert parse("\n\nid,name\n1,a\n") == (["id", "name"], [(1, ["1", "a"], "1,a")])


def test_a_header_that_is_not_valid_csv_has_no_columns() -> None:
    assert parse('"id,name\n1,a\n') == ([], [])


# --- records ----------------------------------------------------------------------------------------------
def test_plain_records_are_numbered_from_one() -> None:
    assert parse("id,name\n1,a\n2,b\n3,c\n") == (
        ["id", "name"],
        [(1, ["1", "a"], "1,a"), (2, ["2", "b"], "2,b"), (3, ["3", "c"], "3,c")],
    )


def test_quoted_commas_line_breaks_and_doubled_quotes() -> None:
    text = 'id,note\n1,"a, b"\n2,"line one\nline two"\n3,"say ""hi"""\n4,""\n'
    assert parse(text) == (
        ["id", "note"],
        [
            (1, ["1", "a, b"], '1,"a, b"'),
            (2, ["2", "line one\nline two"], '2,"line one\nline two"'),
            (3, ["3", 'say "hi"'], '3,"say ""hi"""'),
            (4, ["4", ""], '4,""'),
        ],
    )


def test_crlf_line_endings_are_not_part_of_values_or_raw_text() -> None:
    text = 'id,name\r\n1,a\r\n2,"x\r\ny"\r\n3,c'
    assert parse(text) == (
        ["id", "name"],
        [(1, ["1", "a"], "1,a"), (2, ["2", "x\r\ny"], '2,"x\r\ny"'), (3, ["3", "c"], "3,c")],
    )


def test_values_are_not_trimmed_by_the_parser() -> None:
    assert parse("id,name\n 1 ,\ta\t\n") == (["id", "name"], [(1, [" 1 ", "\ta\t"], " 1 ,\ta\t")])


def test_empty_values_are_empty_strings() -> None:
    assert parse("id,name\n,\n") == (["id", "name"], [(1, ["", ""], ",")])


def test_multi_line_records_count_as_one_record_each() -> None:
    text = 'id,note\n1,"a\nb\nc"\n2,"d\n\ne"\n3,f\n'
    assert parse(text) == (
        ["id", "note"],
        [(1, ["1", "a\nb\nc"], '1,"a\nb\nc"'), (2, ["2", "d\n\ne"], '2,"d\n\ne"'), (3, ["3", "f"], "3,f")],
    )


def test_blank_lines_are_skipped_and_not_numbered() -> None:
    text = "id,name\n\n1,a\n\n\n2,b\r\n\r\n3,c\n\n"
    assert parse(text) == (
        ["id", "name"],
        [(1, ["1", "a"], "1,a"), (2, ["2", "b"], "2,b"), (3, ["3", "c"], "3,c")],
    )


def test_a_line_of_spaces_is_a_record_not_a_blank_line() -> None:
    assert parse("id,name\n \n1,a\n") == (["id", "name"], [(1, None, " "), (2, ["1", "a"], "1,a")])


# --- malformed records ------------------------------------------------------------------------------------
def test_too_few_and_too_many_fields_are_malformed_with_their_raw_text() -> None:
    text = "id,name\n1\n2,a,b\n3,c\n4,d,\n"
    assert parse(text) == (
        ["id", "name"],
        [(1, None, "1"), (2, None, "2,a,b"), (3, ["3", "c"], "3,c"), (4, None, "4,d,")],
    )


def test_malformed_multi_line_record_keeps_its_whole_text() -> None:
    text = 'id,name\n1,"a\nb",extra\n2,c\n'
    assert parse(text) == (["id", "name"], [(1, None, '1,"a\nb",extra'), (2, ["2", "c"], "2,c")])


def test_text_after_a_closing_quote_is_malformed_and_parsing_goes_on() -> None:
    text = 'id,name\n1,"a"b\n2,"c" \n3,d\n'
    assert parse(text) == (
        ["id", "name"],
        [(1, None, '1,"a"b'), (2, None, '2,"c" '), (3, ["3", "d"], "3,d")],
    )


def test_unterminated_quote_makes_the_rest_of_the_file_one_malformed_record() -> None:
    text = 'id,name\n1,a\n2,"never closed\n3,c\n4,d\n'
    assert parse(text) == (
        ["id", "name"],
        [(1, ["1", "a"], "1,a"), (2, None, '2,"never closed\n3,c\n4,d')],
    )


def test_a_quote_inside_an_unquoted_value_is_kept_as_text() -> None:
    assert parse('id,name\n1,a"b\n2,c\n') == (
        ["id", "name"],
        [(1, ["1", 'a"b'], '1,a"b'), (2, ["2", "c"], "2,c")],
    )


def test_records_are_produced_lazily() -> None:
    header, records = parse_csv_text("id\n1\n2\n")
    assert header == ["id"]
    first = next(records)
    assert (first.line_number, first.fields, first.raw, first.malformed) == (1, ["1"], "1", False)
    assert [r.line_number for r in records] == [2]


def test_malformed_property() -> None:
    _, records = parse_csv_text("a,b\n1\n1,2\n")
    assert [r.malformed for r in records] == [True, False]


# --- bytes ------------------------------------------------------------------------------------------------
def test_decode_drops_a_leading_bom() -> None:
    data = "\ufeffID,Name\r\n1,é\r\n".encode()
    assert decode(data) == "ID,Name\r\n1,é\r\n"
    assert parse(decode(data)) == (["id", "name"], [(1, ["1", "é"], "1,é")])


def test_decode_keeps_text_without_bom() -> None:
    assert decode(b"id\n1\n") == "id\n1\n"


def test_decode_refuses_text_that_is_not_utf8() -> None:
    with pytest.raises(UnicodeDecodeError):
        decode("id,name\n1,café\n".encode("latin-1"))


def test_read_header_from_bytes() -> None:
    assert read_header("\ufeff Customer_ID ,EMAIL\n1,a@b\n".encode()) == ["customer_id", "email"]
    assert read_header(b"") is None
