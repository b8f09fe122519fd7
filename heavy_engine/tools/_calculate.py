"""`calculate`: arithmetic and `math` functions through a whitelisting AST walk, never `eval`.

Invariant: every operation is bounded before it runs (integer size estimated from logarithms,
factorial/comb/perm arguments capped, expression length and nesting capped) and the walk checks
a wall-clock budget at every node, so no expression can hang the event loop or eat memory.
"""

from __future__ import annotations

import ast
import math
import operator
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from ._base import Tool, ToolContext, ToolFailed, ToolRefused

MAX_CHARS = 1000
MAX_DEPTH = 60
MAX_DIGITS = 4000  # below CPython's 4300-digit int-to-str limit
MAX_FACTORIAL = 1000
MAX_COMB_N = 5000
MAX_ROUND_DIGITS = 100
MAX_ARGS = 10
TIME_BUDGET_S = 0.5

Number = int | float

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}

_MATH_FUNCS = frozenset({
    "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "cbrt", "ceil", "comb", "copysign",
    "cos", "cosh", "degrees", "erf", "erfc", "exp", "exp2", "expm1", "fabs", "factorial", "floor",
    "fmod", "gamma", "gcd", "hypot", "isqrt", "lcm", "ldexp", "lgamma", "log", "log10", "log1p",
    "log2", "perm", "pow", "radians", "remainder", "sin", "sinh", "sqrt", "tan", "tanh", "trunc",
})
# Plain numeric helpers models reach for; each is bounded below like the math functions.
_BUILTINS: dict[str, Callable[..., Any]] = {"abs": abs, "round": round, "min": min, "max": max}
_CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau, "inf": math.inf, "nan": math.nan}


def _digits(n: int) -> int:
    """Decimal digits of |n|, estimated from the bit length (exact enough for a limit)."""
    return int(n.bit_length() * math.log10(2)) + 1


def _check_int(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and _digits(value) > MAX_DIGITS:
        raise ToolRefused(f"the result would have more than {MAX_DIGITS} digits")
    return value


def _check_number(value: Any) -> Any:
    if isinstance(value, complex):  # e.g. (-8) ** 0.5
        raise ToolFailed("the result is a complex number, which is not supported")
    return _check_int(value)


def _check_pow(base: Any, exp: Any) -> None:
    """Refuse `base ** exp` when the result would be too large, before computing it."""
    if not (isinstance(base, int) and isinstance(exp, int)) or exp <= 0 or abs(base) <= 1:
        return  # float powers overflow cheaply (OverflowError); 0, 1 and -1 stay small
    digits = exp * math.log10(abs(base))
    if digits > MAX_DIGITS:
        raise ToolRefused(
            f"{base}**{exp} would have about {digits:.3g} digits; the limit is {MAX_DIGITS}"
        )


def _check_call(name: str, args: list[Any]) -> None:
    """Bound the functions whose cost grows with their arguments."""
    ints = [a for a in args if isinstance(a, int)]
    if name == "factorial" and ints and ints[0] > MAX_FACTORIAL:
        raise ToolRefused(f"factorial is limited to n <= {MAX_FACTORIAL}")
    if name in ("comb", "perm") and ints and ints[0] > MAX_COMB_N:
        raise ToolRefused(f"{name} is limited to n <= {MAX_COMB_N}")
    if name == "round" and len(args) > 1 and isinstance(args[1], int):
        if abs(args[1]) > MAX_ROUND_DIGITS:
            raise ToolRefused(f"round() is limited to {MAX_ROUND_DIGITS} digits")
    if name == "ldexp" and len(args) > 1 and isinstance(args[1], int) and abs(args[1]) > 100_000:
        raise ToolRefused("ldexp exponent is too large")


class _Evaluator:
    def __init__(self, budget_s: float) -> None:
        self.stop_at = time.monotonic() + budget_s

    def eval(self, node: ast.AST, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise ToolRefused(f"the expression is nested more than {MAX_DEPTH} levels deep")
        if time.monotonic() > self.stop_at:
            raise ToolRefused(f"the calculation took longer than {TIME_BUDGET_S} s")
        d = depth + 1
        match node:
            case ast.Expression(body=body):
                return self.eval(body, d)
            case ast.Constant(value=value):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ToolRefused(f"only numbers are allowed, not {type(value).__name__}")
                return _check_int(value)
            case ast.UnaryOp(op=op, operand=operand) if type(op) in _UNARY:
                return _UNARY[type(op)](self.eval(operand, d))
            case ast.BinOp(left=left, op=op, right=right) if type(op) in _BINOPS:
                a, b = self.eval(left, d), self.eval(right, d)
                if isinstance(op, ast.Pow):
                    _check_pow(a, b)
                return _check_number(_BINOPS[type(op)](a, b))
            case ast.Name(id=name):
                if name in _CONSTANTS:
                    return _CONSTANTS[name]
                raise ToolRefused(f"unknown name {name!r}: only numbers, math functions and "
                                  "constants (pi, e, tau, inf, nan) are allowed")
            case ast.Attribute(value=ast.Name(id="math"), attr=attr) if attr in _CONSTANTS:
                return _CONSTANTS[attr]
            case ast.Call(func=func, args=args, keywords=[]):
                name = self._function_name(func)
                if len(args) > MAX_ARGS:
                    raise ToolRefused(f"a function takes at most {MAX_ARGS} arguments here")
                values = [self.eval(a, d) for a in args]
                _check_call(name, values)
                fn = _BUILTINS.get(name) or getattr(math, name)
                return _check_number(fn(*values))
            case ast.Call():
                raise ToolRefused("keyword arguments are not allowed")
            case ast.Attribute():
                raise ToolRefused("attribute access is not allowed (only math.<function>)")
        raise ToolRefused(f"{type(node).__name__} is not allowed in a calculation")

    def _function_name(self, func: ast.expr) -> str:
        match func:
            case ast.Name(id=name) if name in _MATH_FUNCS or name in _BUILTINS:
                return name
            case ast.Attribute(value=ast.Name(id="math"), attr=attr) if attr in _MATH_FUNCS:
                return attr
            case ast.Name(id=name) | ast.Attribute(attr=name):
                raise ToolRefused(f"{name}() is not allowed: only math functions can be called")
        raise ToolRefused("only math functions can be called")


def _format(value: Number) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return str(value)


def evaluate(expression: str, budget_s: float = TIME_BUDGET_S) -> str:
    """The value of `expression` as text; `ToolRefused` / `ToolFailed` say why not."""
    if len(expression) > MAX_CHARS:
        raise ToolRefused(
            f"the expression is {len(expression)} characters long; the limit is {MAX_CHARS}"
        )
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError) as err:
        raise ToolFailed(f"not a valid expression ({getattr(err, 'msg', err)})") from None
    except (RecursionError, MemoryError):
        raise ToolRefused("the expression is nested too deeply") from None
    try:
        value = _Evaluator(budget_s).eval(tree)
    except ZeroDivisionError:
        raise ToolFailed("division by zero") from None
    except OverflowError:
        raise ToolFailed("the result is too large for a floating-point number") from None
    except (ValueError, TypeError) as err:
        raise ToolFailed(f"cannot compute this: {err}") from None
    except RecursionError:
        raise ToolRefused("the expression is nested too deeply") from None
    return _format(value)


class _Params(BaseModel):
    expression: str = Field(
        description="An arithmetic expression, e.g. `2 * (3 + 4) ** 2` or `sqrt(2) * pi`. "
        "Supports + - * / // % ** and math functions (sqrt, log, sin, factorial, comb, ...)."
    )


class Calculate(Tool):
    name = "calculate"
    description = (
        "Evaluate an arithmetic expression exactly (integers of any size up to 4000 digits) "
        "and return the result. Use it for every non-trivial calculation."
    )
    Params = _Params

    async def run(self, params: _Params, ctx: ToolContext) -> str:
        # Synchronous on purpose: every step is bounded and the budget is well under a second.
        return evaluate(params.expression)
