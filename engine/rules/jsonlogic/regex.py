"""Linear-time regular expressions for `matches` (a lazily built DFA; no backtracking)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Final

from engine.rules.jsonlogic._base import _JS_WS
from engine.rules.jsonlogic.values import _is_number, to_js_string

# --------------------------------------------------------------------------------------------
# Linear-time regular expressions for ``matches``
# --------------------------------------------------------------------------------------------

REGEX_MAX_PATTERN: Final = 200
REGEX_MAX_INPUT: Final = 10_000
_RX_MAX_REPEAT: Final = 100
_RX_MAX_STATES: Final = 2_000
_RX_MAX_GROUP_NESTING: Final = 32
_RX_WORK_BUDGET: Final = 400_000

_Ranges = tuple[tuple[int, int], ...]
_RX_DIGIT: Final[_Ranges] = ((0x30, 0x39),)
_RX_WORD: Final[_Ranges] = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
_RX_SPACE: Final[_Ranges] = tuple(sorted((ord(c), ord(c)) for c in _JS_WS))
_RX_LINE_TERMINATORS: Final[_Ranges] = ((0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029))
_RX_CLASS_ESCAPES: Final[dict[str, tuple[bool, _Ranges]]] = {
    "d": (False, _RX_DIGIT),
    "D": (True, _RX_DIGIT),
    "w": (False, _RX_WORD),
    "W": (True, _RX_WORD),
    "s": (False, _RX_SPACE),
    "S": (True, _RX_SPACE),
}
_RX_CONTROL_ESCAPES: Final = {"t": "\t", "n": "\n", "r": "\r", "f": "\f", "v": "\v", "0": "\0"}
_RX_WORD_CHARS: Final = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")


class _CharPred:
    """A character test: the union of ``items`` (each possibly negated), optionally negated."""

    __slots__ = ("items", "negated")

    def __init__(self, negated: bool, items: tuple[tuple[bool, _Ranges], ...]) -> None:
        self.negated = negated
        self.items = items

    def matches(self, ch: str) -> bool:
        code = ord(ch)
        for item_negated, ranges in self.items:
            inside = False
            for lo, hi in ranges:
                if lo <= code <= hi:
                    inside = True
                    break
            if inside != item_negated:
                return not self.negated
        return self.negated


def _literal_pred(ch: str) -> _CharPred:
    return _CharPred(False, ((False, ((ord(ch), ord(ch)),)),))


# AST: ("char", _CharPred) ("cat", [nodes]) ("alt", [nodes]) ("rep", node, min, max|None)
#      ("assert", "bol"|"eol"|"wordb"|"nwordb") ("empty",)
_RxNode = tuple[Any, ...]


class _RegexRefused(Exception):
    pass


class _RxParser:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0

    def fail(self, why: str) -> _RegexRefused:
        return _RegexRefused(f"{why} at position {self.i}")

    def parse(self) -> _RxNode:
        node, _ = self.alternation(0)
        if self.i != len(self.p):
            raise self.fail("unbalanced ')'")
        return node

    def peek(self) -> str | None:
        return self.p[self.i] if self.i < len(self.p) else None

    # Each parse method also returns the strongest quantifier inside: 0 none, 1 bounded, 2 unbounded.
    def alternation(self, nesting: int) -> tuple[_RxNode, int]:
        branches = []
        level = 0
        while True:
            node, inner = self.concatenation(nesting)
            branches.append(node)
            level = max(level, inner)
            if self.peek() == "|":
                self.i += 1
                continue
            break
        return (branches[0] if len(branches) == 1 else ("alt", branches)), level

    def concatenation(self, nesting: int) -> tuple[_RxNode, int]:
        items: list[_RxNode] = []
        level = 0
        while self.i < len(self.p) and self.p[self.i] not in "|)":
            atom, inner = self.atom(nesting)
            atom, inner = self.quantifier(atom, inner)
            items.append(atom)
            level = max(level, inner)
        if not items:
            return ("empty",), 0
        return (items[0] if len(items) == 1 else ("cat", items)), level

    def read_braces(self) -> tuple[int, int | None] | None:
        """Parse ``{n}``, ``{n,}``, ``{n,m}`` at the cursor; None (cursor kept) if not one."""
        m = re.compile(r"\{([0-9]+)(,([0-9]*))?\}").match(self.p, self.i)
        if m is None:
            return None
        self.i = m.end()
        low = int(m.group(1))
        if m.group(2) is None:
            return low, low
        return low, (int(m.group(3)) if m.group(3) else None)

    def quantifier(self, atom: _RxNode, inner: int) -> tuple[_RxNode, int]:
        c = self.peek()
        bounds: tuple[int, int | None] | None
        if c == "*":
            self.i += 1
            bounds = (0, None)
        elif c == "+":
            self.i += 1
            bounds = (1, None)
        elif c == "?":
            self.i += 1
            bounds = (0, 1)
        elif c == "{":
            bounds = self.read_braces()
            if bounds is None:
                return atom, inner
        else:
            return atom, inner
        if self.peek() == "?":
            self.i += 1  # lazy: same set of matches
        low, high = bounds
        if atom[0] == "assert":
            raise self.fail("nothing to repeat")
        if high is not None and high < low:
            raise self.fail("numbers out of order in {} quantifier")
        if low > _RX_MAX_REPEAT or (high is not None and high > _RX_MAX_REPEAT):
            raise self.fail(f"more than {_RX_MAX_REPEAT} repetitions")
        # The engine is linear anyway; these are the reference's "(..+)+" refusals, kept so a
        # pattern accepted here is also accepted by the reference and by backtracking engines.
        if (high is None and inner > 0) or (high is not None and high > 1 and inner > 1):
            raise self.fail("nested quantifier")
        if self.peek() in ("*", "+", "?") or (self.peek() == "{" and self._brace_ahead()):
            raise self.fail("nested quantifier")
        return ("rep", atom, low, high), max(inner, 2 if high is None else 1)

    def _brace_ahead(self) -> bool:
        saved = self.i
        found = self.read_braces() is not None
        self.i = saved
        return found

    def atom(self, nesting: int) -> tuple[_RxNode, int]:
        c = self.p[self.i]
        if c == "(":
            if nesting + 1 > _RX_MAX_GROUP_NESTING:
                raise self.fail("groups nested too deeply")
            self.i += 1
            if self.p.startswith("?:", self.i):
                self.i += 2
            elif self.p.startswith("?<", self.i) and not self.p.startswith(("?<=", "?<!"), self.i):
                m = re.compile(r"\?<[A-Za-z_$][A-Za-z0-9_$]*>").match(self.p, self.i)
                if m is None:
                    raise self.fail("invalid group name")
                self.i = m.end()
            elif self.peek() == "?":
                raise self.fail("lookaround and inline flags are not supported")
            node, inner = self.alternation(nesting + 1)
            if self.peek() != ")":
                raise self.fail("missing ')'")
            self.i += 1
            return node, inner
        if c == "[":
            return ("char", self.char_class()), 0
        self.i += 1
        if c == ".":
            return ("char", _CharPred(True, ((False, _RX_LINE_TERMINATORS),))), 0
        if c == "^":
            return ("assert", "bol"), 0
        if c == "$":
            return ("assert", "eol"), 0
        if c in "*+?":
            self.i -= 1
            raise self.fail("nothing to repeat")
        if c == "{":
            self.i -= 1
            if self._brace_ahead():
                raise self.fail("nothing to repeat")
            self.i += 1
            return ("char", _literal_pred(c)), 0
        if c == "\\":
            return self.escape(), 0
        return ("char", _literal_pred(c)), 0

    def escape_char(self, in_class: bool) -> tuple[str, tuple[bool, _Ranges] | None]:
        """After a backslash: (literal char, None) or ("", class item)."""
        if self.i >= len(self.p):
            raise self.fail("\\ at end of pattern")
        c = self.p[self.i]
        self.i += 1
        if c in _RX_CLASS_ESCAPES:
            return "", _RX_CLASS_ESCAPES[c]
        nxt = self.peek()
        if c in _RX_CONTROL_ESCAPES and not (c == "0" and nxt is not None and "0" <= nxt <= "9"):
            return _RX_CONTROL_ESCAPES[c], None
        if c == "b" and in_class:
            return "\b", None
        if c in "0123456789k":  # \1 backreference, \k<name>, legacy octal \01
            raise self.fail("backreferences are not supported")
        if c == "x":
            m = re.compile(r"[0-9a-fA-F]{2}").match(self.p, self.i)
            if m:
                self.i = m.end()
                return chr(int(m.group(), 16)), None
            return "x", None
        if c == "u":
            m = re.compile(r"[0-9a-fA-F]{4}").match(self.p, self.i)
            if m:
                self.i = m.end()
                return chr(int(m.group(), 16)), None
            return "u", None
        if c == "c":
            if nxt is not None and nxt.isascii() and nxt.isalpha():
                self.i += 1
                return chr(ord(nxt) % 32), None
            self.i -= 1
            return "\\", None
        if c in "pP":
            raise self.fail("unicode property escapes are not supported")
        return c, None

    def escape(self) -> _RxNode:
        c = self.peek()
        if c == "b":
            self.i += 1
            return ("assert", "wordb")
        if c == "B":
            self.i += 1
            return ("assert", "nwordb")
        ch, item = self.escape_char(in_class=False)
        if item is not None:
            return ("char", _CharPred(False, (item,)))
        return ("char", _literal_pred(ch))

    def class_atom(self) -> tuple[str, tuple[bool, _Ranges] | None]:
        c = self.p[self.i]
        self.i += 1
        if c == "\\":
            return self.escape_char(in_class=True)
        return c, None

    def char_class(self) -> _CharPred:
        self.i += 1  # "["
        negated = False
        if self.peek() == "^":
            negated = True
            self.i += 1
        items: list[tuple[bool, _Ranges]] = []
        while True:
            if self.i >= len(self.p):
                raise self.fail("missing ']'")
            if self.p[self.i] == "]":
                self.i += 1
                break
            ch, item = self.class_atom()
            if item is not None:
                items.append(item)
                continue
            if self.peek() == "-" and self.i + 1 < len(self.p) and self.p[self.i + 1] != "]":
                saved = self.i
                self.i += 1
                hi_ch, hi_item = self.class_atom()
                if hi_item is not None:  # [a-\d]: "-" is a literal (Annex B)
                    self.i = saved
                    items.append((False, ((ord(ch), ord(ch)),)))
                    continue
                if ord(hi_ch) < ord(ch):
                    raise self.fail("range out of order in character class")
                items.append((False, ((ord(ch), ord(hi_ch)),)))
                continue
            items.append((False, ((ord(ch), ord(ch)),)))
        return _CharPred(negated, tuple(items))


_K_CHAR: Final = 0  # consumes one character; its successor is always the next state (a _K_JUMP)
_K_JUMP: Final = 1
_K_SPLIT: Final = 2
_K_ASSERT: Final = 3
_K_MATCH: Final = 4

_CTX_START: Final = 1
_CTX_END: Final = 2
_CTX_PREV_WORD: Final = 4
_CTX_NEXT_WORD: Final = 8


class _Regex:
    """Thompson NFA, searched with a lazily built DFA whose cache lives for one call only.

    State sets are int bitmasks. Every character state ``k`` is followed by a jump state
    ``k + 1``, so consuming a character is ``(states & accepts[ch]) << 1``. All work, including
    filling the per-call caches, is charged to a budget, so the outcome depends only on the
    pattern and the input -- never on what was matched before (replay-safe).
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.kind: list[int] = []
        self.out1: list[int] = []
        self.out2: list[int] = []
        self.pred: list[_CharPred | None] = []
        self.assertion: list[str] = []
        self.uses_word = False
        self.match = self._state(_K_MATCH)
        ast = _RxParser(pattern).parse()
        self.start = self._build(ast, self.match)
        self.anchored = self._anchored(ast)
        self.char_states = tuple((i, p) for i, p in enumerate(self.pred) if p is not None)

    def _state(self, kind: int, out1: int = -1, out2: int = -1, assertion: str = "") -> int:
        if len(self.kind) >= _RX_MAX_STATES:
            raise _RegexRefused("pattern too complex")
        self.kind.append(kind)
        self.out1.append(out1)
        self.out2.append(out2)
        self.pred.append(None)
        self.assertion.append(assertion)
        return len(self.kind) - 1

    def _build(self, node: _RxNode, nxt: int) -> int:
        tag = node[0]
        if tag == "char":
            state = self._state(_K_CHAR)
            self.pred[state] = node[1]
            self._state(_K_JUMP, nxt)
            return state
        if tag == "empty":
            return nxt
        if tag == "cat":
            for item in reversed(node[1]):
                nxt = self._build(item, nxt)
            return nxt
        if tag == "alt":
            entries = [self._build(branch, nxt) for branch in node[1]]
            entry = entries[-1]
            for other in reversed(entries[:-1]):
                entry = self._state(_K_SPLIT, other, entry)
            return entry
        if tag == "assert":
            if node[1] in ("wordb", "nwordb"):
                self.uses_word = True
            return self._state(_K_ASSERT, nxt, assertion=node[1])
        # "rep"
        _, atom, low, high = node
        if high is None:
            loop = self._state(_K_SPLIT, -1, nxt)
            self.out1[loop] = self._build(atom, loop)
            entry = loop
        else:
            entry = nxt
            for _ in range(high - low):
                entry = self._state(_K_SPLIT, self._build(atom, entry), nxt)
        for _ in range(low):
            entry = self._build(atom, entry)
        return entry

    @staticmethod
    def _anchored(node: _RxNode) -> bool:
        if node[0] == "assert":
            return bool(node[1] == "bol")
        if node[0] == "cat":
            return _Regex._anchored(node[1][0])
        if node[0] == "alt":
            return all(_Regex._anchored(branch) for branch in node[1])
        return False

    def _assert_ok(self, state: int, ctx: int) -> bool:
        kind = self.assertion[state]
        if kind == "bol":
            return bool(ctx & _CTX_START)
        if kind == "eol":
            return bool(ctx & _CTX_END)
        boundary = bool(ctx & _CTX_PREV_WORD) != bool(ctx & _CTX_NEXT_WORD)
        return boundary if kind == "wordb" else not boundary

    def _state_closure(self, state: int, ctx: int) -> tuple[int, int]:
        """Character/match states reachable from ``state`` without input; (mask, work)."""
        closed = 0
        seen = 0
        stack = [state]
        work = 0
        while stack:
            s = stack.pop()
            if (seen >> s) & 1:
                continue
            seen |= 1 << s
            work += 1
            k = self.kind[s]
            if k in (_K_CHAR, _K_MATCH):
                closed |= 1 << s
            elif k == _K_JUMP:
                stack.append(self.out1[s])
            elif k == _K_SPLIT:
                stack.append(self.out1[s])
                stack.append(self.out2[s])
            elif self._assert_ok(s, ctx):
                stack.append(self.out1[s])
        return closed, work

    def search(self, text: str) -> bool:
        """True/False; False as well when the work budget runs out (deterministic per input)."""
        n = len(text)
        work = _RX_WORK_BUDGET
        closures: dict[tuple[int, int], int] = {}
        state_closures: dict[int, int] = {}
        accepts: dict[str, int] = {}
        start_bit = 1 << self.start
        match_bit = 1 << self.match
        uses_word = self.uses_word
        raw = 0
        prev_word = False
        for i in range(n + 1):
            ctx = (_CTX_START if i == 0 else 0) | (_CTX_END if i == n else 0)
            if uses_word:
                if prev_word:
                    ctx |= _CTX_PREV_WORD
                if i < n and text[i] in _RX_WORD_CHARS:
                    ctx |= _CTX_NEXT_WORD
            if i == 0 or not self.anchored:
                raw |= start_bit
            elif raw == 0:
                return False
            key = (raw, ctx)
            closed = closures.get(key)
            if closed is None:
                closed = 0
                m = raw
                while m:
                    low = m & -m
                    m ^= low
                    skey = (low.bit_length() - 1) << 4 | ctx
                    part = state_closures.get(skey)
                    if part is None:
                        part, cost = self._state_closure(skey >> 4, ctx)
                        work -= cost
                        state_closures[skey] = part
                    closed |= part
                    work -= 1
                if work < 0:
                    return False
                closures[key] = closed
            if closed & match_bit:
                return True
            if i == n:
                return False
            ch = text[i]
            accept = accepts.get(ch)
            if accept is None:
                accept = 0
                for state, pred in self.char_states:
                    if pred.matches(ch):
                        accept |= 1 << state
                work -= len(self.char_states)
                if work < 0:
                    return False
                accepts[ch] = accept
            raw = (closed & accept) << 1
            if uses_word:
                prev_word = ch in _RX_WORD_CHARS
        return False


def _compile_regex(pattern: str) -> _Regex:
    """Raise _RegexRefused for patterns ``matches`` does not accept."""
    if len(pattern) > REGEX_MAX_PATTERN:
        raise _RegexRefused(f"pattern longer than {REGEX_MAX_PATTERN} characters")
    return _Regex(pattern)


@lru_cache(maxsize=256)
def _cached_regex(pattern: str) -> _Regex | None:
    try:
        return _compile_regex(pattern)
    except _RegexRefused:
        return None


def _regex_input(value: Any) -> str | None:
    if type(value) is str:
        text: str = value
    elif _is_number(value) or isinstance(value, bool):
        text = to_js_string(value)
    else:
        return None
    return text if len(text) <= REGEX_MAX_INPUT else None
