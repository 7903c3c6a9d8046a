"""The one `{{path}}` templating engine, as the rule actions and the workflow activities use it:
the same answers for the same template (the two copies once rendered `null` differently)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from engine.rules.actions import interpolate, render
from engine.workflows.interpreter.decisions import TemplateScope, render_template

CONTEXT: dict[str, Any] = {"note": None, "n": 3.0, "tags": ["a", "b"], "obj": {"é": 1}, "items": [{"sku": "A"}]}


def workflow(template: Any) -> Any:
    return render_template(template, TemplateScope(now=datetime(2026, 1, 1, tzinfo=UTC), context=CONTEXT))


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("note=[{{note}}]", "note=[]"),  # null inside text is empty
        ("{{note}}", None),  # a whole placeholder keeps the value, null included
        (" {{n}} ", 3.0),
        ("n={{n}}", "n=3"),
        ("{{tags}}!", '["a","b"]!'),
        ("{{obj}}", {"é": 1}),
        ("o={{obj}}", 'o={"é":1}'),
        ("{{items[0].sku}}/{{items.0.sku}}", "A/A"),
        ("{{missing}} and {{note.deeper}}", "{{missing}} and {{note.deeper}}"),
        ("{{__proto__}}", "{{__proto__}}"),
    ],
)
def test_rules_and_workflows_render_alike(template: str, expected: Any) -> None:
    assert render(template, CONTEXT) == expected
    assert workflow(template) == expected
    if isinstance(expected, str):
        assert interpolate(template, CONTEXT) == expected
