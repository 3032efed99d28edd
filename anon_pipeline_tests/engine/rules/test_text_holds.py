"""What text read from pixels means: identifying, safe annotation, or unread."""

import pytest

from anon_pipeline.engine.rules.text_holds import TextVerdict, judge_words, safe_annotation

SURE = 95.0


@pytest.mark.parametrize(
    "words",
    [
        ["KOWALSKA", "Żaneta"],
        ["Kowalska^Zaneta"],
        ["1962-03-04"],
        ["04.03.1962"],
        ["PESEL", "62030412345"],
        ["ID", "4471029"],
        ["Szpital", "Bielański"],
        ["19620304"],
    ],
)
def test_names_dates_and_ids_hold(words):
    assert judge_words([(word, SURE) for word in words]) is TextVerdict.IDENTIFYING


@pytest.mark.parametrize(
    "words", [["R"], ["L", "120kV", "250mAs"], ["W", "400", "L", "40"], ["5", "cm"], ["AP"]]
)
def test_safe_annotations_pass(words):
    assert judge_words([(word, SURE) for word in words]) is TextVerdict.CLEAN


def test_a_file_identifier_holds_even_when_short_and_safe_looking():
    assert judge_words([("ZX91", SURE)], identifiers=["zx91"]) is TextVerdict.IDENTIFYING


def test_nothing_confident_is_unread_and_nothing_guessed():
    assert judge_words([("K0WA", 20.0), ("|", 10.0)]) is TextVerdict.UNREAD
    assert judge_words([]) is TextVerdict.UNREAD  # a line of letters that OCR cannot make out


@pytest.mark.parametrize(
    "words",
    [
        ["1963"],
        ["2006", "-"],
        ["1939."],
        ["8.1932"],
        ["10/1955"],
        ["06-1987"],
        ["04-06"],
        ["06.01"],
        ["12-31"],
        ["31.12"],
        ["973-06-24"],
        ["8/11/"],
        ["/03/194"],
        ["Szczęsny", "8/11/"],
    ],
)
def test_what_is_left_of_a_date_read_in_part_holds_a_year_or_a_day_and_a_month(words):
    assert judge_words([(word, SURE) for word in words]) is TextVerdict.IDENTIFYING


@pytest.mark.parametrize(
    "word",
    ["05/12", "1.25", "12.50", "13-13", "120", "0.75", "+12.5", "1.25/2.5", "1/2/3", "L:-600"],
)
def test_counters_and_measurements_are_no_date_read_in_part(word):
    assert judge_words([(word, SURE)], characters=len(word)) is TextVerdict.CLEAN


def test_a_reading_that_explains_too_little_of_a_line_is_unread():
    # A line of 12 characters that OCR reads as one safe-looking letter: not clean.
    assert judge_words([("p", SURE), ("|", SURE)], characters=12) is TextVerdict.UNREAD
    assert judge_words([("L", SURE)], characters=1) is TextVerdict.CLEAN
    assert judge_words([("120", SURE), ("kV", SURE)], characters=6) is TextVerdict.CLEAN
    # A name is a name however little of its line was read.
    assert judge_words([("Nowak", SURE)], characters=30) is TextVerdict.IDENTIFYING


@pytest.mark.parametrize(
    "word", ["59010665969|", "|4471029", "ID:4471029]", "Nowak^EWA", "«Kowalska»"]
)
def test_marks_ocr_adds_or_joins_hide_nothing(word):
    assert judge_words([(word, SURE)]) is TextVerdict.IDENTIFYING


@pytest.mark.parametrize(
    "words",
    [
        [("250", 93.0), ("mAs", 90.0)],
        [("W:1500", 91.0), ("L:-600", 90.0)],
        [("W", 95.0), ("400", 92.0), ("L", 92.0), ("40", 95.0)],
        [("120kV", 63.0)],
        [("5", 90.0), ("cm", 90.0)],
    ],
)
def test_safe_annotation_read_whole_is_safe_annotation(words):
    assert judge_words(words) is TextVerdict.CLEAN
    assert safe_annotation(words)


@pytest.mark.parametrize(
    "words",
    [
        [("989-0", 90.0)],  # "1989-05-13" read in part: clean, but no annotation
        [("13", 90.0), ("s", 90.0)],
        [("1.25", 90.0)],
        [("W", 90.0), ("1500", 90.0)],
        [("250", 93.0), ("mAs", 50.0)],  # the word unsure
        [("250", 93.0), ("mAs", 90.0), ("Lis", 88.0)],
        [],
    ],
)
def test_a_clean_reading_is_not_always_safe_annotation(words):
    assert not safe_annotation(words)
