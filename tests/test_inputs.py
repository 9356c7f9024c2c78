"""dpinfogan.inputs: form fields are refused with the field's name, URL parameters clamped with a note."""
import math

import pytest

from dpinfogan.inputs import TRAIN_FIELDS, NumberField, clamp_param, parse_form, parse_number

STEPS = TRAIN_FIELDS["train_steps"]
LR = TRAIN_FIELDS["train_lr_d"]


@pytest.mark.parametrize("text,want", [("300", 300), ("1e3", 1000), (" 1,000 ", 1000), ("1000.0", 1000),
                                       ("100000", 100_000), ("1", 1)])
def test_whole_field_accepts_what_it_means(text, want):
    v = parse_number(text, STEPS)
    assert v == want and isinstance(v, int)


@pytest.mark.parametrize("text,why", [("-5", "between 1 and 100,000"), ("0", "between"), ("abc", "not a number"),
                                      ("", "empty"), ("1.5", "whole number"), ("nan", "must be"),
                                      ("inf", "must be"), ("1e400", "must be"), ("100001", "between")])
def test_whole_field_refuses_with_its_name(text, why):
    with pytest.raises(ValueError) as e:
        parse_number(text, STEPS)
    assert str(e.value).startswith(STEPS.label) and why in str(e.value)


@pytest.mark.parametrize("text,ok", [("2e-4", True), ("1", True), ("0", False), ("-1e-3", False), ("1.5", False)])
def test_open_range_float_field(text, ok):
    if ok:
        assert math.isclose(parse_number(text, LR), float(text))
    else:
        with pytest.raises(ValueError, match="above 0"):
            parse_number(text, LR)


def test_parse_form_names_every_bad_field():
    texts = {k: f.text() for k, f in TRAIN_FIELDS.items()}
    values, problems = parse_form(texts, TRAIN_FIELDS)
    assert not problems and values["train_steps"] == 300 and values["train_lr_g"] == 1e-4
    texts.update(train_steps="-5", train_batch="0", train_seed="x")
    _, problems = parse_form(texts, TRAIN_FIELDS)
    assert [p.split(":")[0] for p in problems] == [TRAIN_FIELDS[k].label for k in
                                                   ("train_steps", "train_batch", "train_seed")]


@pytest.mark.parametrize("raw,want,noted", [("7", 7, False), ("99", 9, True), ("-1", 0, True), ("abc", 0, True),
                                            ("2.7", 2, True), ("", 0, True), ("nan", 0, True), ("1e400", 0, True),
                                            (["1", "2"], 2, False), (" 3 ", 3, False)])
def test_url_parameter_is_clamped_with_a_note(raw, want, noted):
    value, note = clamp_param(raw, "digit", 0, 9, 0)
    assert value == want and (note is not None) == noted
    if note:
        assert "digit" in note and f"using {want}" in note


def test_float_url_parameter_keeps_values_between_steps():
    assert clamp_param("0.35", "c1", -2.0, 2.0, 0.0, whole=False) == (0.35, None)
    assert clamp_param("-9", "c1", -2.0, 2.0, 0.0, whole=False)[0] == -2.0


def test_field_text_shows_its_default():
    assert NumberField("x", 2e-4, 0, 1, whole=False).text() == "0.0002" and STEPS.text() == "300"
