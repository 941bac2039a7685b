"""Calibration equations: operators, precedence, functions, tables, and what is rejected."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.unit.workers import sck
from workers import equations
from workers.errors import CalibrationError


def evaluate(text: str, x: float) -> float:
    return float(equations.compile_equation(text)(np.array([x], dtype=np.float64))[0])


@pytest.mark.parametrize(
    ("text", "x", "expected"),
    [
        ("x + 2", 3, 5),
        ("x - 2", 3, 1),
        ("x * 2", 3, 6),
        ("x / 2", 3, 1.5),
        ("x ^ 2", 3, 9),
        ("x ** 2", 3, 9),
        ("2 + 3 * x", 4, 14),
        ("(2 + 3) * x", 4, 20),
        ("x - 1 - 1", 5, 3),
        ("x / 2 / 2", 8, 2),
        ("2 ^ 3 ^ 2", 0, 512),
        ("2 ** 3 ** 2", 0, 512),
        ("-x ^ 2", 3, -9),
        ("-x", 3, -3),
        ("--x", 3, 3),
        ("+x", 3, 3),
        ("2 ^ -1", 0, 0.5),
        ("x * -2", 3, -6),
        ("2 * x ^ 2", 3, 18),
        ("65536.0", 0, 65536),
        ("1e-3 * x", 5000, 5),
        ("1.5E2", 0, 150),
        (".5 * x", 4, 2),
        ("abs(x)", -3, 3),
        ("sqrt(x)", 16, 4),
        ("log(x)", math.e**2, 2),
        ("exp(x)", 0, 1),
        ("min(x, 2)", 3, 2),
        ("max(x, 2)", 3, 3),
        ("min(x, 5, 4, 7)", 6, 4),
        ("max(1, x, -2)", -3, 1),
        ("sqrt(abs(x - 10)) * 2", 1, 6),
        ("  x\t+ 1 ", 1, 2),
    ],
)
def test_arithmetic(text, x, expected):
    assert evaluate(text, x) == pytest.approx(expected)


def test_temperature_of_the_sck_1_1():
    assert evaluate("(175.72 / 65536.0 * x) - 53", 25132) == pytest.approx(14.3858, abs=1e-3)


def test_non_linear_equation_over_an_array():
    equation = equations.compile_equation("0.5 * x ^ 2 - 3 * sqrt(x) + exp(x / 100)")
    xs = np.array([0.0, 1.0, 4.0, 100.0])
    expected = [0.5 * x**2 - 3 * math.sqrt(x) + math.exp(x / 100) for x in xs]
    assert equation(xs) == pytest.approx(expected)


@pytest.mark.parametrize("text", [None, "", "   ", "x", "(x)", "((x))"])
def test_empty_or_bare_x_is_the_identity(text):
    equation = equations.compile_equation(text)
    xs = np.array([1.0, -2.5, np.nan])
    assert equation.is_identity
    assert np.array_equal(equation(xs), xs, equal_nan=True)


def test_a_constant_equation_gives_one_value_per_reading():
    assert equations.compile_equation("2 * 21")(np.array([1.0, 2.0, 3.0])).tolist() == [42, 42, 42]


@pytest.mark.parametrize(
    ("text", "x"),
    [("x / 0", 1), ("0 / x", 0), ("log(x)", -1), ("log(x)", 0), ("sqrt(x)", -4), ("exp(x)", 1e6)],
)
def test_non_finite_results_are_nan(text, x):
    assert math.isnan(evaluate(text, x))


def test_non_finite_results_do_not_touch_finite_neighbours():
    values = equations.compile_equation("1 / x")(np.array([2.0, 0.0, 4.0]))
    assert values[0] == 0.5 and math.isnan(values[1]) and values[2] == 0.25


def test_the_input_array_is_not_modified():
    xs = np.array([0.0, 2.0])
    equations.compile_equation("1 / x")(xs)
    assert xs.tolist() == [0.0, 2.0]


@pytest.mark.parametrize(
    ("x", "expected"),
    [(0, 50), (2, 55), (3, 57), (6, 58), (20, 59), (1200, 80), (1875, 110)],
)
def test_noise_table_at_its_points(x, expected):
    assert evaluate(sck.NOISE_TABLE, x) == expected


@pytest.mark.parametrize(
    ("x", "expected"),
    [(1, 52.5), (2.5, 56), (13, 58.5), (1237.5, 80.5), (1867.5, 109.5)],
)
def test_noise_table_interpolates_between_points(x, expected):
    assert evaluate(sck.NOISE_TABLE, x) == pytest.approx(expected)


@pytest.mark.parametrize(("x", "expected"), [(-10, 50), (-1e9, 50), (1876, 110), (1e9, 110)])
def test_noise_table_is_clamped_beyond_its_ends(x, expected):
    assert evaluate(sck.NOISE_TABLE, x) == expected


def test_table_points_may_come_unsorted_with_signs_and_a_trailing_comma():
    table = equations.compile_equation("{10: 1, -10: -1, 0: +0.5,}")
    assert table(np.array([-10.0, -5.0, 5.0, 20.0])).tolist() == [-1, -0.25, 0.75, 1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", "unknown name '__import__'"),
        ("x.y", "unexpected character '.' at position 1"),
        ("y + 1", "unknown name 'y'"),
        ("X", "unknown name 'X'"),
        ("sin(x)", "unknown name 'sin'"),
        ("(x + 1", "expected ')', found the end at position 6"),
        ("x + 1)", "unexpected ')' at position 5"),
        ("((x)", "expected ')'"),
        ("x +", "found the end"),
        ("2x", "unexpected 'x' at position 1"),
        ("x $ 1", "unexpected character '$' at position 2"),
        ("x ^^ 2", "at position 3"),
        ("abs(x, 1)", "abs() takes 1 argument, got 2"),
        ("max(x)", "max() takes 2 or more arguments"),
        ("abs x", "expected '('"),
        ("lambda: 0", "unknown name 'lambda'"),
        ("x if x else 0", "unexpected 'if'"),
        ("{}", "expected a number, found '}' at position 1"),
        ("{1: 2, 1: 3}", "appears twice"),
        ("{1: x}", "expected a number"),
        ("{1: 2", "expected '}'"),
        ("{1: 2} + 1", "unexpected '+'"),
        ("(" * 100 + "x" + ")" * 100, "nested deeper"),
        ("-" * 100 + "x", "nested deeper"),
        ("x" + " + x" * 5000, "longer than"),
    ],
)
def test_bad_equations_are_rejected_saying_where(text, message):
    with pytest.raises(CalibrationError) as caught:
        equations.compile_equation(text)
    assert message in str(caught.value)


def test_tokens_carry_their_positions():
    assert equations.tokenize("x ** 2") == [
        equations.Token("name", "x", 0),
        equations.Token("op", "**", 2),
        equations.Token("number", "2", 5),
        equations.Token("end", "", 6),
    ]


def test_parse_tree_binds_powers_tighter_than_unary_minus():
    assert equations.parse("-x^2") == equations.Negative(
        equations.Binary("^", equations.Variable(), equations.Number(2.0))
    )
