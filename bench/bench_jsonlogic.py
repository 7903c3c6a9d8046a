"""Evaluations per second: engine.rules.jsonlogic (compiled once) vs panzi-json-logic, same run.

The four rules are the ones measured in shared/reference/jsonlogic/bakeoff.md section 4:
(a) ``and`` + ``+`` + ``in`` over a cart with 2 line items and a customer record;
(b) 10 nested ``if`` where ``applicant.score`` = 95 makes every condition run;
(c) ``some`` over 50 items where only the last has qty > 5;
(d) ``var`` ``a.b.c`` on a 3-level dictionary.

Usage: ``.venv/bin/python bench/bench_jsonlogic.py [--seconds 0.3] [--repeat 5] [--min-ratio 10]``.
Exits 2 if panzi-json-logic (``import json_logic``) is missing, 1 if a ratio is below
``--min-ratio`` or the two evaluators disagree on a result.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.rules.jsonlogic import compile_logic

SUMMARY = Path(__file__).resolve().parent / "results" / "jsonlogic.json"
SCORE = {"var": "applicant.score"}


def _nested_if(level: int) -> Any:
    """if score < 10 -> "band-1" elif score < 20 -> "band-2" ... elif score < 100 -> "band-10"."""
    if level == 10:
        return {"if": [{"<": [SCORE, 100]}, "band-10", "off-scale"]}
    return {"if": [{"<": [SCORE, level * 10]}, f"band-{level}", _nested_if(level + 1)]}


CASES: list[tuple[str, Any, Any]] = [
    (
        "(a) and + in",
        {
            "and": [
                {">=": [{"+": [{"var": "cart.items.0.price"}, {"var": "cart.items.1.price"}]}, 50]},
                {"in": [{"var": "customer.tier"}, ["gold", "platinum"]]},
            ]
        },
        {
            "cart": {
                "id": "c-1",
                "items": [
                    {"sku": "A-1", "price": 30.5, "qty": 1},
                    {"sku": "B-2", "price": 25, "qty": 2},
                ],
            },
            "customer": {"id": "u-1", "tier": "gold", "country": "PL"},
        },
    ),
    ("(b) nested if x10", _nested_if(1), {"applicant": {"score": 95, "name": "Ann"}}),
    (
        "(c) some over 50 items",
        {"some": [{"var": "items"}, {">": [{"var": "qty"}, 5]}]},
        {"items": [{"sku": f"S{i}", "qty": 6 if i == 49 else 1} for i in range(50)]},
    ),
    ("(d) var a.b.c", {"var": "a.b.c"}, {"a": {"b": {"c": 42}}}),
]


def evals_per_second(stmt: str, env: dict[str, Any], seconds: float, repeat: int) -> float:
    """Best of ``repeat`` runs of ~``seconds`` each; ``stmt`` runs in timeit's bare loop."""
    timer = timeit.Timer(stmt, globals=env)
    number = 1
    while (elapsed := timer.timeit(number)) < 0.02:
        number *= 2
    number = max(1, int(number * seconds / elapsed))
    return number / min(timer.repeat(repeat=repeat, number=number))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.3, help="target duration of one timing run")
    parser.add_argument("--repeat", type=int, default=5, help="timing runs per cell (best is kept)")
    parser.add_argument("--min-ratio", type=float, default=10.0, help="fail below this speed-up")
    args = parser.parse_args()

    try:
        from json_logic import jsonLogic  # panzi-json-logic
    except ImportError:
        print(
            "panzi-json-logic is not installed (import json_logic failed). Install it with:\n"
            "  .venv/bin/uv pip install --python .venv/bin/python panzi-json-logic==1.0.1",
            file=sys.stderr,
        )
        return 2

    rows = []
    ok = True
    for name, rule, data in CASES:
        compiled = compile_logic(rule)
        ours_result = compiled(data)
        panzi_result = jsonLogic(rule, data)
        if ours_result != panzi_result:
            print(f"{name}: results differ: ours={ours_result!r} panzi={panzi_result!r}", file=sys.stderr)
            ok = False
        env = {"compiled": compiled, "jsonLogic": jsonLogic, "rule": rule, "data": data}
        ours = evals_per_second("compiled(data)", env, args.seconds, args.repeat)
        panzi = evals_per_second("jsonLogic(rule, data)", env, args.seconds, args.repeat)
        ratio = ours / panzi
        ok = ok and ratio >= args.min_ratio
        rows.append((name, ours, panzi, ratio, repr(ours_result)))

    print(f"{'rule':<24} {'compiled evals/s':>17} {'panzi evals/s':>14} {'ratio':>7}  result")
    for name, ours, panzi, ratio, result in rows:
        flag = "" if ratio >= args.min_ratio else f"  < {args.min_ratio:g}x"
        print(f"{name:<24} {ours:>17,.0f} {panzi:>14,.0f} {ratio:>6.1f}x  {result}{flag}")
    summary = [
        [f"JsonLogic `{name}`, evaluations/s", f"{ours:,.0f}", f"panzi-json-logic {panzi:,.0f}", f"{ratio:.1f}", ""]
        for name, ours, panzi, ratio, _ in rows
    ]
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_text(json.dumps({"load_average": os.getloadavg()[0], "rows": summary}, indent=1))
    if not ok:
        print(f"FAIL: a result differs or a ratio is below {args.min_ratio:g}x", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
