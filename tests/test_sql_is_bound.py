"""SQL goes to the database only with bound parameters: no statement text in the code that
ships (services, the kit, the gateway, deploy scripts) is built from an f-string, `%`,
`+` or `.format()`. Read from the source, so a new string-built query fails the suite.
The only exception is DDL naming our own tables or databases (identifiers cannot be
bound), marked on its line with `# sql: identifiers only`."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("services", "libs", "gateway", "deploy")
SQL_CALLS = {"text", "execute", "exec_driver_sql", "executemany", "mogrify"}


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _built(node: ast.expr) -> bool:
    """A string put together at run time rather than a literal."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(part, ast.FormattedValue) for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        return any(isinstance(side, (ast.Constant, ast.JoinedStr)) and
                   isinstance(getattr(side, "value", ""), str) for side in (node.left,
                                                                          node.right))
    return isinstance(node, ast.Call) and _name(node.func) == "format"


def string_built_sql(source: str) -> list[int]:
    marked = {number for number, line in enumerate(source.splitlines(), 1)
              if "# sql: identifiers only" in line}
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and _name(node.func) in SQL_CALLS and node.args \
                and _built(node.args[0]) and node.lineno not in marked:
            lines.append(node.lineno)
    return lines


def test_the_check_finds_string_built_sql():
    assert string_built_sql('conn.execute(text(f"SELECT * FROM t WHERE id = {x}"))') == [1]
    assert string_built_sql('cur.execute("DELETE FROM t WHERE id = %s" % x)') == [1]
    assert string_built_sql('conn.execute(text("SELECT 1 WHERE id = :id"), {"id": x})') == []


def test_shipped_code_binds_every_sql_parameter():
    found = {}
    for top in SHIPPED:
        for path in (ROOT / top).rglob("*.py"):
            if "migrations/versions" in path.as_posix() or "/tests/" in path.as_posix() \
                    or "protos_gen" in path.as_posix():
                continue
            lines = string_built_sql(path.read_text(encoding="utf-8"))
            if lines:
                found[str(path.relative_to(ROOT))] = lines
    assert found == {}
