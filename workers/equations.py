"""Calibration equations: a safe parser of arithmetic in `x` and of lookup tables, never `eval`.

An equation is either arithmetic in `x` (`(175.72 / 65536.0 * x) - 53`) with `+ - * /`, `^` or
`**` for powers (right-associative, binding tighter than unary minus: `-x^2` is `-(x^2)`),
parentheses, numbers and the functions `abs sqrt log exp min max`; or a piecewise-linear table
`{0:50, 2:55, 3:57}` of x:y points, interpolated between them and clamped beyond both ends. Each
text is parsed once into a small tree, folded where it does not depend on `x`, and compiled into
a function of a whole numpy array.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from workers.errors import CalibrationError

Array = npt.NDArray[np.float64]
Transform = Callable[[Array], Array]

MAX_LENGTH = 10_000
MAX_DEPTH = 64

_TOKEN = re.compile(
    r"(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_]\w*)"
    r"|(?P<op>\*\*|[-+*/^(),:{}])"
)
# numpy's ufuncs take arrays or floats alike.
_BINARY: dict[str, Callable[..., Array]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "^": np.power,
}
_UNARY: dict[str, Callable[..., Array]] = {
    "abs": np.abs,
    "sqrt": np.sqrt,
    "log": np.log,
    "exp": np.exp,
}
_VARIADIC: dict[str, Callable[..., Array]] = {"min": np.minimum, "max": np.maximum}


class Token(NamedTuple):
    """A piece of equation text: `number`, `name`, `op`, `bad` or `end`, and where it starts."""

    kind: str
    text: str
    position: int


# The tree a text parses into.
@dataclass(frozen=True, slots=True)
class Number:
    value: float


@dataclass(frozen=True, slots=True)
class Variable:
    pass


@dataclass(frozen=True, slots=True)
class Negative:
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Call:
    function: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Table:
    xs: tuple[float, ...]
    ys: tuple[float, ...]


Node = Number | Variable | Negative | Binary | Call | Table


def tokenize(text: str) -> list[Token]:
    """The tokens of `text`, ending with an `end` token; a stray character is a `bad` token."""
    tokens: list[Token] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            tokens.append(Token("end", "", position))
            return tokens
        match = _TOKEN.match(text, position)
        if match is None:  # the parser reports it where it stops, after what came before
            tokens.append(Token("bad", text[position], position))
            tokens.append(Token("end", "", len(text)))
            return tokens
        kind = match.lastgroup or "op"
        tokens.append(Token(kind, match.group(), position))
        position = match.end()


def parse(text: str) -> Node:
    """The tree of an equation or table; raises CalibrationError saying what is wrong and where."""
    if len(text) > MAX_LENGTH:
        raise CalibrationError(f"equation longer than {MAX_LENGTH} characters")
    parser = _Parser(text)
    node = parser.table() if text.lstrip().startswith("{") else parser.expression()
    parser.expect_end()
    return node


class _Parser:
    """Recursive descent over the grammar:

    expression := term (('+' | '-') term)*
    term       := unary (('*' | '/') unary)*
    unary      := ('-' | '+') unary | power
    power      := atom (('^' | '**') unary)?
    atom       := number | 'x' | function '(' expression (',' expression)* ')' | '(' expression ')'
    table      := '{' point (',' point)* ','? '}'     point := signed ':' signed
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0

    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def accept(self, *ops: str) -> Token | None:
        token = self.peek()
        if token.kind == "op" and token.text in ops:
            return self.take()
        return None

    def expect(self, op: str) -> Token:
        token = self.accept(op)
        if token is None:
            raise self.error(f"expected {op!r}, found {_what(self.peek())}", self.peek())
        return token

    def expect_end(self) -> None:
        token = self.peek()
        if token.kind != "end":
            raise self.error(f"unexpected {_what(token)}", token)

    def error(self, message: str, token: Token) -> CalibrationError:
        return _error(self.text, message, token.position)

    def expression(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nested deeper than {MAX_DEPTH} levels", self.peek())
        node = self.term()
        while (op := self.accept("+", "-")) is not None:
            node = Binary(op.text, node, self.term())
        self.depth -= 1
        return node

    def term(self) -> Node:
        node = self.unary()
        while (op := self.accept("*", "/")) is not None:
            node = Binary(op.text, node, self.unary())
        return node

    def unary(self) -> Node:
        sign = self.accept("-", "+")
        if sign is None:
            return self.power()
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nested deeper than {MAX_DEPTH} levels", sign)
        operand = self.unary()
        self.depth -= 1
        return Negative(operand) if sign.text == "-" else operand

    def power(self) -> Node:
        base = self.atom()
        if self.accept("^", "**") is None:
            return base
        return Binary("^", base, self.unary())

    def atom(self) -> Node:
        token = self.take()
        if token.kind == "number":
            return Number(float(token.text))
        if token.kind == "name":
            return self.name(token)
        if token.kind == "op" and token.text == "(":
            node = self.expression()
            self.expect(")")
            return node
        raise self.error(f"expected a number, x, a function or '(', found {_what(token)}", token)

    def name(self, token: Token) -> Node:
        if token.text == "x":
            return Variable()
        if token.text not in _UNARY and token.text not in _VARIADIC:
            known = ", ".join([*_UNARY, *_VARIADIC])
            raise self.error(f"unknown name {token.text!r} (only x and {known})", token)
        self.expect("(")
        args = [self.expression()]
        while self.accept(",") is not None:
            args.append(self.expression())
        self.expect(")")
        if token.text in _UNARY and len(args) != 1:
            raise self.error(f"{token.text}() takes 1 argument, got {len(args)}", token)
        if token.text in _VARIADIC and len(args) < 2:
            raise self.error(f"{token.text}() takes 2 or more arguments", token)
        return Call(token.text, tuple(args))

    def table(self) -> Table:
        self.expect("{")
        points: dict[float, float] = {}
        while True:
            at = self.peek()
            x = self.signed()
            self.expect(":")
            y = self.signed()
            if x in points:
                raise self.error(f"x = {x:g} appears twice in the table", at)
            points[x] = y
            if self.accept(",") is None or self.peek().text == "}":
                break
        self.expect("}")
        xs = sorted(points)
        return Table(tuple(xs), tuple(points[x] for x in xs))

    def signed(self) -> float:
        sign = self.accept("-", "+")
        token = self.take()
        if token.kind != "number":
            raise self.error(f"expected a number, found {_what(token)}", token)
        value = float(token.text)
        return -value if sign is not None and sign.text == "-" else value


def _what(token: Token) -> str:
    if token.kind == "end":
        return "the end"
    if token.kind == "bad":
        return f"character {token.text!r}"
    return repr(token.text)


def _error(text: str, message: str, position: int) -> CalibrationError:
    return CalibrationError(f"{message} at position {position} of {text!r}")


@dataclass(frozen=True, slots=True)
class Equation:
    """A compiled equation: call it with an array of x to get an array of results.

    Results that are not finite (division by zero, the log of a negative number) are NaN.
    """

    text: str
    function: Transform | None = None  # None: the identity
    constant: float | None = None

    @property
    def is_identity(self) -> bool:
        """Whether the equation returns its input unchanged."""
        return self.function is None and self.constant is None

    def __call__(self, x: Array) -> Array:
        if self.constant is not None:
            return np.full(x.shape, self.constant if np.isfinite(self.constant) else np.nan)
        if self.function is None:
            return x
        with np.errstate(all="ignore"):
            y = self.function(x)
        finite = np.isfinite(y)
        if not finite.all():
            y[~finite] = np.nan
        return y


IDENTITY = Equation("x")


@functools.lru_cache(maxsize=1024)
def compile_equation(text: str | None) -> Equation:
    """The compiled equation of `text`; empty or None is the identity.

    Raises CalibrationError, saying what is wrong and at which position, if `text` is not valid.
    """
    if text is None or not text.strip():
        return IDENTITY
    compiled = _compile(parse(text))
    if isinstance(compiled, float):
        return Equation(text, constant=compiled)
    if compiled is _identity:
        return Equation(text)
    return Equation(text, function=compiled)


def _identity(x: Array) -> Array:
    return x


def _compile(node: Node) -> float | Transform:
    """A constant where the subtree does not depend on x, else a function of x."""
    match node:
        case Number(value):
            return value
        case Variable():
            return _identity
        case Negative(operand):
            return _map(np.negative, _compile(operand))
        case Binary(op, left, right):
            return _combine(_BINARY[op], _compile(left), _compile(right))
        case Call(name, args) if name in _UNARY:
            return _map(_UNARY[name], _compile(args[0]))
        case Call(name, args):
            compiled = _compile(args[0])
            for arg in args[1:]:
                compiled = _combine(_VARIADIC[name], compiled, _compile(arg))
            return compiled
        case Table(xs, ys):
            points_x, points_y = np.array(xs), np.array(ys)
            return lambda x: np.interp(x, points_x, points_y)
    raise AssertionError(f"unknown node {node!r}")  # pragma: no cover


def _map(function: Callable[..., Array], inner: float | Transform) -> float | Transform:
    if isinstance(inner, float):
        with np.errstate(all="ignore"):
            return float(function(np.float64(inner)))
    return lambda x: function(inner(x))


def _combine(
    function: Callable[..., Array], left: float | Transform, right: float | Transform
) -> float | Transform:
    if isinstance(left, float):
        if isinstance(right, float):
            with np.errstate(all="ignore"):
                return float(function(np.float64(left), np.float64(right)))
        right_function, constant_left = right, left
        return lambda x: function(constant_left, right_function(x))
    left_function = left
    if isinstance(right, float):
        constant_right = right
        return lambda x: function(left_function(x), constant_right)
    right_function = right
    return lambda x: function(left_function(x), right_function(x))
