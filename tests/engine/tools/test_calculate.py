"""`calculate`: correct answers, and every hostile expression refused quickly with a reason."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from heavy_engine.tools import Calculate, ToolRefused, evaluate, execute_tool

from .conftest import make_ctx


async def calc(scratch: Path, expression: str) -> str:
    args = json.dumps({"expression": expression})
    res = await execute_tool(Calculate(), "calculate", args, make_ctx(scratch), timeout=5)
    return res.text


@pytest.mark.parametrize(("expression", "expected"), [
    ("2 * (3 + 4) ** 2", "98"),  # precedence
    ("sqrt(144) + 1", "13"),  # integral floats print as integers
    ("math.sqrt(2) ** 2", "2.0000000000000004"),
    ("pi", "3.141592653589793"),  # a constant
    ("7 // 2 + 7 % 3 - -1", "5"),
    ("factorial(20)", "2432902008176640000"),
    ("comb(52, 5)", "2598960"),
    ("2 ** 100", "1267650600228229401496703205376"),  # exact big integers
    ("10 ** -2", "0.01"),
    ("round(2.567, 2)", "2.57"),  # the few plain helpers allowed
    ("max(3, 9, 4) + abs(-1)", "10"),
    ("log(8, 2)", "3"),
])
async def test_calculates(scratch: Path, expression: str, expected: str) -> None:
    assert await calc(scratch, expression) == expected


@pytest.mark.parametrize(("expression", "expected"), [
    # the right-associative tower: refused by the digit estimate before anything is computed
    ("9**9**9", "refused: 9**387420489 would have about 3.7e+08 digits; the limit is 4000"),
    ("10**10**10", "refused: 10**10000000000 would have about 1e+10 digits; the limit is 4000"),
    # code execution: the call is refused by name, the inner __import__ is never evaluated
    ("__import__('os').system('id')",
     "refused: system() is not allowed: only math functions can be called"),
    ("__import__('os')", "refused: __import__() is not allowed: only math functions can be called"),
    # introspection escapes
    ("().__class__", "refused: attribute access is not allowed (only math.<function>)"),
    ("(1).__class__.__mro__", "refused: attribute access is not allowed (only math.<function>)"),
    ("math.__loader__", "refused: attribute access is not allowed (only math.<function>)"),
    ("os", "refused: unknown name 'os': only numbers, math functions and constants"),
    ("[x for x in range(10**9)]", "refused: ListComp is not allowed in a calculation"),
    ("lambda: 1", "refused: Lambda is not allowed in a calculation"),
    ("(1, 2)", "refused: Tuple is not allowed in a calculation"),
    ("'a' * 10**9", "refused: only numbers are allowed, not str"),
    ("sqrt(x=4)", "refused: keyword arguments are not allowed"),
    # size: a 1 MB expression is refused before it is parsed
    ("1+" * 500_000 + "1", "refused: the expression is 1000001 characters long; the limit is 1000"),
    # cost bounds on functions and on results
    ("factorial(100000)", "refused: factorial is limited to n <= 1000"),
    ("comb(10**6, 500000)", "refused: comb is limited to n <= 5000"),
    ("factorial(1000) * factorial(1000)", "refused: the result would have more than 4000 digits"),
    ("round(1, -10**8)", "refused: round() is limited to 100 digits"),
    ("-" * 200 + "1", "refused: the expression is nested more than 60 levels deep"),
    ("gcd(1,2,3,4,5,6,7,8,9,10,11)", "refused: a function takes at most 10 arguments here"),
    # ordinary failures are errors, not refusals
    ("1/0", "error: division by zero"),
    ("9.0 ** 9 ** 9", "error: the result is too large for a floating-point number"),
    ("(-8) ** 0.5", "error: the result is a complex number, which is not supported"),
    ("sqrt(-1)", "error: cannot compute this: math domain error"),
    ("2 +", "error: not a valid expression (invalid syntax)"),
])
async def test_hostile_expressions_are_refused(scratch: Path, expression: str, expected: str) -> None:
    start = time.monotonic()
    text = await calc(scratch, expression)
    assert text.startswith(expected), text
    # nothing hangs the event loop: unrefused, most of these would compute for hours
    assert time.monotonic() - start < 3


def test_the_time_budget_stops_a_slow_walk() -> None:
    with pytest.raises(ToolRefused, match="took longer than"):
        evaluate("1 + 2 + 3", budget_s=-1)
