"""Moved to `engine.workflows.interpreter.decisions` (the interpreter's pure decision logic).
Code written before the move that imports names from here still gets them; new code imports the
new module."""

from typing import Any


def __getattr__(name: str) -> Any:
    from engine.workflows.interpreter import decisions

    return getattr(decisions, name)
