"""How the teacher's reference solutions carry the question's numbers to the program.

A small model trained from scratch learns solution templates long before it learns to copy
the question's numbers into them. Two habits of the reference solutions give the copy a short
path instead of a long one:

- the reasoning opens with the key information, each number of the question with the word
  that says what it counts (`key_information`: "Key information: 26 muffins, 4 boxes.");
- the program first binds the question's numbers, in the order the question gives them, to
  names, and computes with the names (`bind_numbers`: ``n1 = 26`` ... ``print(n1 // n2)``).

Both are pure text transforms checked by execution: the synthesize stage runs every reference
solution and fails if one no longer prints its answer.
"""

from __future__ import annotations

import ast
import re

# A number as a question writes it: digits, an optional decimal part; not part of a word
# (x2, 3rd) and not a thousands-separated group (1,234 is read as 1 and 234: left alone).
_NUMBER = re.compile(r"(?<![\w.,])(\$?)(\d+(?:\.\d+)?)(%?)(?![\w]|[.,]\d)")
_WORD = re.compile(r"\s+([A-Za-z][A-Za-z-]*)")
_NOT_UNITS = frozenset({  # words after a number that do not say what it counts
    "and", "or", "by", "to", "of", "in", "on", "at", "is", "are", "was", "were", "with", "for",
    "from", "than", "then", "the", "a", "an", "times", "if", "each", "per", "what", "how", "it",
    "that", "this", "these", "those", "more", "less", "left", "over", "into", "as", "other",
    "equal", "so", "but", "which", "who", "will", "can", "has", "have", "had", "be", "all",
})  # fmt: skip


def question_numbers(question: str) -> list[str]:
    """The numbers of `question` as written (no `$`, no `%`), in order, repeats included."""
    return [m.group(2) for m in _NUMBER.finditer(question)]


def replace_numbers(question: str, new: dict[str, str]) -> str:
    """`question` with each number written as a key of `new` ("26", not "$26" or "26%")
    replaced by its value; its `$` and `%` stay."""
    return _NUMBER.sub(
        lambda m: f"{m.group(1)}{new[m.group(2)]}{m.group(3)}" if m.group(2) in new else m.group(0),
        question,
    )


def key_information(question: str, names: dict[str, str] | None = None) -> str:
    """One line naming each number of the question, in order, with the word after it when
    that word says what is counted ("$48.39", "13%", "290 employees"), and the program's name
    for it first where the program binds it (`names`, from `number_names`: "n1 = 290
    employees"); "" without numbers."""
    names = names or {}
    items = []
    for match in _NUMBER.finditer(question):
        dollar, number, percent = match.groups()
        word = _WORD.match(question, match.end())
        unit = (
            word.group(1)
            if word and not percent and word.group(1).lower() not in _NOT_UNITS
            else ""
        )
        name = f"{names[number]} = " if number in names else ""
        items.append(f"{name}{dollar}{number}{percent} {unit}".strip())
    return f"Key information: {', '.join(dict.fromkeys(items))}." if items else ""


class _Names(ast.NodeTransformer):
    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.used: set[str] = set()

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if type(node.value) in (int, float) and repr(node.value) in self.names:
            name = self.names[repr(node.value)]
            self.used.add(name)
            return ast.copy_location(ast.Name(id=name, ctx=ast.Load()), node)
        return node

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        return node  # f-strings: their format specs and literal parts stay as written


def number_names(question: str, programs: list[str]) -> dict[str, str]:
    """The names `bind_numbers` gives the question's numbers in `programs` (run together, in
    order): ``n1``, ``n2``, ... for each number the programs use, in the question's order.

    A number the question gives twice (5 tarts, 5% tax) gets no name: one name would mean two
    things. Programs that do not parse, or that already use a name ``n<i>``, name nothing.
    """
    given = question_numbers(question)
    numbers = [n for n in dict.fromkeys(given) if given.count(n) == 1 and repr(_value(n)) == n]
    if not numbers or not programs:
        return {}
    try:
        trees = [ast.parse(p) for p in programs]
    except SyntaxError:
        return {}
    taken = {node.id for tree in trees for node in ast.walk(tree) if isinstance(node, ast.Name)}
    if any(re.fullmatch(r"n\d+", name) for name in taken):
        return {}
    used = [n for n in numbers if any(_uses(tree, n) for tree in trees)]
    return {n: f"n{i}" for i, n in enumerate(used, start=1)}  # consecutive, question order


def bind_numbers(question: str, programs: list[str]) -> list[str]:
    """`programs` (run together, in order) with every literal equal to a number of `question`
    replaced by its name (`number_names`), bound at the top of the first program in the
    question's order; programs with nothing to name come back as they are."""
    names = number_names(question, programs)
    if not names:
        return programs
    trees = [_Names(names).visit(ast.parse(p)) for p in programs]
    imports = [s for s in trees[0].body if isinstance(s, ast.Import | ast.ImportFrom)]
    first = len(imports) if trees[0].body[: len(imports)] == imports else 0
    header = [ast.parse(f"{name} = {n}").body[0] for n, name in names.items()]
    trees[0].body[first:first] = header  # after the leading imports
    return [ast.unparse(ast.fix_missing_locations(tree)) for tree in trees]


def _uses(tree: ast.AST, number: str) -> bool:
    return any(
        isinstance(node, ast.Constant) and type(node.value) in (int, float)
        and repr(node.value) == number
        for node in ast.walk(tree)
    )  # fmt: skip


def _value(number: str) -> int | float:
    return float(number) if "." in number else int(number)
