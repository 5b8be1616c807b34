"""`indexes export`: the live database's secondary indexes as index specs (one per schema).

Every index is read from the catalog's structure, never from the text of its definition:
``pg_index.indkey`` names the columns (0: an expression, whose text alone comes from
``pg_get_indexdef(index, k, true)``), ``indoption`` the direction and NULLS order, ``indclass``
the operator class (written only when it is not the type's default), ``indcollation`` the
collation (written only when it differs from the column's or type's), ``indnkeyatts`` where
INCLUDE starts, ``indpred`` the predicate (``pg_get_expr``), ``pg_am`` the method and
``reloptions`` the storage parameters.

An exported index is kept only when the spec says exactly what the database has: the exported
spec goes through the same checks as any spec (``normalize``: the offline lexer, the function
volatility check and a scratch build on empty temporary copies, rolled back) and each index's
normalised definition must equal the live one. Anything else is skipped with the reason, never
written in a changed form. Indexes that back a constraint (primary key, UNIQUE or EXCLUDE
constraint) are listed apart: `apply` must never try to create them as plain indexes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from hmb_ops.indexes import ddl
from hmb_ops.indexes.catalog import canonical_definition
from hmb_ops.indexes.plan import NEW_SUFFIX, OLD_SUFFIX
from hmb_ops.indexes.spec import _PLAIN_COLUMN, IndexDef, IndexSpec, text_problems

# Schemas that are PostgreSQL's own or hmb-ops's scratch space: never exported.
_SYSTEM_SCHEMAS = ("n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%' "
                   "AND n.nspname NOT LIKE 'hmb\\_ops\\_%%'")

_INDEXES_SQL = f"""
SELECT n.nspname, t.relname, t.relkind, c.relname, c.relkind, am.amname, pg_indexam_has_property(am.oid, 'can_order'),
       i.indisunique, i.indisvalid, i.indisready, i.indnkeyatts, i.indnatts,
       i.indkey::int2[], i.indoption::int2[], i.indcollation::oid[], i.indclass::oid[],
       pg_get_expr(i.indpred, i.indrelid, true),
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnatts) AS k),
       ARRAY(SELECT coalesce(ty.typcollation, 0) FROM pg_attribute ia LEFT JOIN pg_type ty ON ty.oid = ia.atttypid
             WHERE ia.attrelid = i.indexrelid AND ia.attnum > 0 ORDER BY ia.attnum),
       ARRAY(SELECT ia.attoptions IS NOT NULL FROM pg_attribute ia
             WHERE ia.attrelid = i.indexrelid AND ia.attnum > 0 ORDER BY ia.attnum),
       (SELECT k.contype::text || ':' || k.conname FROM pg_constraint k
         WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x') LIMIT 1),
       coalesce(c.reloptions, '{{}}'), c.reltablespace <> 0, coalesce(ts.spcname, ''),
       {{nulls_not_distinct}},
       (SELECT pc.relname FROM pg_inherits h JOIN pg_class pc ON pc.oid = h.inhparent
         WHERE h.inhrelid = i.indexrelid LIMIT 1),
       t.oid::bigint, i.indexrelid::bigint, pg_get_indexdef(i.indexrelid)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = c.relam
LEFT JOIN pg_tablespace ts ON ts.oid = c.reltablespace
WHERE {_SYSTEM_SCHEMAS} AND t.relkind IN ('r', 'm', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = t.oid
                  AND d.deptype = 'e')
  AND (%(all)s OR n.nspname = ANY(%(schemas)s))
ORDER BY n.nspname, t.relname, c.relname
"""

_COLUMNS_SQL = """
SELECT a.attrelid::bigint, a.attnum, a.attname, a.attcollation::bigint FROM pg_attribute a
WHERE a.attrelid = ANY(%s::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
"""

_OPCLASSES_SQL = """
SELECT o.oid::bigint, o.opcname, n.nspname, o.opcdefault, pg_opclass_is_visible(o.oid),
       (SELECT e.extname FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
         WHERE d.classid = 'pg_opclass'::regclass AND d.objid = o.oid AND d.refclassid = 'pg_extension'::regclass
           AND d.deptype = 'e' LIMIT 1)
FROM pg_opclass o JOIN pg_namespace n ON n.oid = o.opcnamespace WHERE o.oid = ANY(%s::oid[])
"""

_COLLATIONS_SQL = """
SELECT c.oid::bigint, c.collname, n.nspname FROM pg_collation c JOIN pg_namespace n ON n.oid = c.collnamespace
WHERE c.oid = ANY(%s::oid[])
"""

_METHOD_EXTENSIONS_SQL = """
SELECT am.amname, e.extname FROM pg_am am JOIN pg_depend d ON d.classid = 'pg_am'::regclass AND d.objid = am.oid
JOIN pg_extension e ON e.oid = d.refobjid WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
"""

_DESC, _NULLS_FIRST = 1, 2  # pg_index.indoption bits (INDOPTION_DESC, INDOPTION_NULLS_FIRST)


@dataclass(frozen=True)
class Left:
    """An index not exported as a declared index, and why (a constraint, or a form the spec cannot hold)."""

    schema: str
    table: str
    index: str
    kind: str          # constraint | unsupported | invalid | partitioned
    reason: str
    definition: str = ""

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class SchemaExport:
    schema: str
    extensions: list[str] = field(default_factory=list)
    declared: list[IndexDef] = field(default_factory=list)
    constraints: list[Left] = field(default_factory=list)
    skipped: list[Left] = field(default_factory=list)

    def spec(self, source: str = "exported") -> IndexSpec:
        return IndexSpec.model_validate({"schema": self.schema, "extensions": list(self.extensions),
                                         "declared": [d.model_dump(exclude_none=True) for d in self.declared],
                                         "source": source})

    def to_dict(self) -> dict:
        return {"schema": self.schema, "extensions": list(self.extensions),
                "declared": [d.model_dump(exclude_none=True, exclude_defaults=True, by_alias=True)
                             for d in self.declared],
                "constraints": [c.to_dict() for c in self.constraints],
                "skipped": [s.to_dict() for s in self.skipped]}


@dataclass
class ExportResult:
    schemas: list[SchemaExport]
    queries_note: str | None = None   # why there are no (or fewer) queries: entries
    queries_found: int = 0
    seconds: float = 0.0

    @property
    def exported(self) -> int:
        return sum(len(s.declared) for s in self.schemas)

    @property
    def skipped(self) -> list[Left]:
        return [x for s in self.schemas for x in s.skipped]

    def to_dict(self) -> dict:
        return {"exported": self.exported, "queries_found": self.queries_found, "queries_note": self.queries_note,
                "seconds": round(self.seconds, 3), "schemas": [s.to_dict() for s in self.schemas]}


@dataclass(frozen=True)
class _Row:
    schema: str
    table: str
    table_kind: str
    name: str
    index_kind: str
    method: str
    can_order: bool
    unique: bool
    valid: bool
    ready: bool
    nkey: int
    natts: int
    indkey: tuple[int, ...]
    options: tuple[int, ...]
    collations: tuple[int, ...]
    opclasses: tuple[int, ...]
    predicate: str | None
    texts: tuple[str, ...]
    type_collations: tuple[int, ...]
    opclass_options: tuple[bool, ...]
    constraint: str | None
    reloptions: tuple[str, ...]
    in_tablespace: bool
    tablespace: str
    nulls_not_distinct: bool
    parent_index: str | None
    table_oid: int
    oid: int
    definition: str


def _read_rows(cur, schemas: list[str], server_version_num: int) -> list[_Row]:
    nnd = "i.indnullsnotdistinct" if server_version_num >= 150000 else "false"
    cur.execute(_INDEXES_SQL.replace("{nulls_not_distinct}", nnd), {"all": not schemas, "schemas": list(schemas)})
    return [_Row(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], r[8], r[9], r[10], r[11], tuple(r[12]),
                 tuple(r[13] or ()), tuple(int(x) for x in r[14] or ()), tuple(int(x) for x in r[15] or ()), r[16],
                 tuple(r[17]), tuple(int(x) for x in r[18] or ()), tuple(r[19] or ()), r[20], tuple(r[21] or ()),
                 r[22], r[23], bool(r[24]), r[25], int(r[26]), int(r[27]), r[28]) for r in cur.fetchall()]


def _storage_value(text: str) -> int | float | bool | str:
    """A reloptions value as YAML data: integers and on/off are typed, anything else stays text."""
    low = text.lower()
    if low in ("on", "true"):
        return True
    if low in ("off", "false"):
        return False
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _debris_name(name: str) -> bool:
    return name.endswith(("_" + NEW_SUFFIX, "_" + OLD_SUFFIX))


def _to_def(row: _Row, columns: dict, opclasses: dict, collations: dict) -> tuple[IndexDef | None, str]:
    """The row as an IndexDef, or (None, why) when the spec cannot hold it."""
    if row.in_tablespace:
        return None, f"stored in tablespace {row.tablespace!r} (the spec has no tablespace)"
    if any(row.opclass_options):
        return None, "an operator class with parameters (e.g. siglen=) is not expressible in the spec"
    keys: list[dict] = []
    for k in range(row.nkey):
        attnum = row.indkey[k]
        part: dict = {}
        if attnum == 0:
            part["expression"] = row.texts[k]
            default_coll = row.type_collations[k] if k < len(row.type_collations) else 0
        else:
            name, column_coll = columns[(row.table_oid, attnum)]
            part["column"] = name
            default_coll = column_coll
        opc = opclasses.get(row.opclasses[k])
        if opc is None:
            return None, f"operator class oid {row.opclasses[k]} not found"
        opcname, opcschema, opcdefault, visible, _ext = opc
        if not opcdefault:
            part["opclass"] = opcname if (opcschema == "pg_catalog" or visible) else f"{opcschema}.{opcname}"
        coll = row.collations[k] if k < len(row.collations) else 0
        if coll and coll != default_coll:
            found = collations.get(coll)
            if found is None:
                return None, f"collation oid {coll} not found"
            collname, collschema = found
            if collschema != "pg_catalog" and collschema != row.schema:
                return None, f"collation {collschema}.{collname} is in another schema (the spec names one collation)"
            part["collation"] = collname
        if row.can_order:
            option = row.options[k] if k < len(row.options) else 0
            desc = bool(option & _DESC)
            nulls_first = bool(option & _NULLS_FIRST)
            if desc:
                part["order"] = "desc"
            if nulls_first != desc:  # PostgreSQL's default: NULLS LAST for ASC, NULLS FIRST for DESC
                part["nulls"] = "first" if nulls_first else "last"
        keys.append(part)
    include = [columns[(row.table_oid, row.indkey[k])][0] for k in range(row.nkey, row.natts)]
    storage = {}
    for item in row.reloptions:
        key, _, value = item.partition("=")
        storage[key] = _storage_value(value)
    data: dict = {"name": row.name, "table": row.table, "columns": [shorthand(p) for p in keys],
                  "unique": row.unique, "method": row.method}
    if row.predicate:
        data["where"] = row.predicate
    if include:
        data["include"] = include
    if storage:
        data["storage"] = storage
    if row.nulls_not_distinct:
        data["nulls_distinct"] = False
    try:
        return IndexDef.model_validate(data), ""
    except ValueError as exc:
        return None, f"not a valid spec entry: {str(exc).splitlines()[0]}"


def shorthand(part: dict) -> dict | str:
    """`created_at DESC` for a plain lower-case column with at most a direction; the long form otherwise."""
    column = part.get("column")
    expression = part.get("expression")
    if expression is not None and set(part) == {"expression"} and not _PLAIN_COLUMN.match(expression):
        return expression
    if column is not None and set(part) <= {"column", "order", "nulls"} and ddl.quote_ident(column) == column:
        text = column + (" " + part["order"].upper() if part.get("order") else "")
        return text + (" NULLS " + part["nulls"].upper() if part.get("nulls") else "")
    return part


def read_schemas(conn, schemas: list[str]) -> list[str]:
    """The schemas to export: those given (each must exist), or every user schema holding an index."""
    from hmb_ops.errors import UsageError

    with conn.cursor() as cur:
        if schemas:
            cur.execute("SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", (list(schemas),))
            found = {r[0] for r in cur.fetchall()}
            missing = [s for s in schemas if s not in found]
            if missing:
                raise UsageError(f"no schema named {', '.join(missing)} in this database",
                                 hint="`--schema` takes an existing schema; without it every schema is exported")
            return list(dict.fromkeys(schemas))
        cur.execute(f"SELECT DISTINCT n.nspname FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
                    f"JOIN pg_namespace n ON n.oid = t.relnamespace WHERE {_SYSTEM_SCHEMAS} "
                    f"AND t.relkind IN ('r', 'm', 'p') ORDER BY 1".replace("%%", "%"))
        return [r[0] for r in cur.fetchall()] or ["public"]


def export(url: str, schemas: list[str] | None = None, *, with_queries: bool = True,
           timeout: int | None = None) -> ExportResult:
    """Read (never change) the database's indexes as one spec per schema; see the module doc."""
    from hmb_ops.indexes.normalize import normalize
    from hmb_ops.indexes.service import _connect

    started = time.monotonic()
    conn = _connect(url, "export", timeout, read_only=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW server_version_num")
            version = int(cur.fetchone()[0])
            chosen = read_schemas(conn, list(schemas or []))
            rows = _read_rows(cur, chosen, version)
            cur.execute(_COLUMNS_SQL, (sorted({r.table_oid for r in rows}),))
            columns = {(r[0], r[1]): (r[2], int(r[3])) for r in cur.fetchall()}
            cur.execute(_OPCLASSES_SQL, (sorted({o for r in rows for o in r.opclasses}),))
            opclasses = {r[0]: (r[1], r[2], r[3], r[4], r[5]) for r in cur.fetchall()}
            cur.execute(_COLLATIONS_SQL, (sorted({c for r in rows for c in r.collations if c}),))
            collations = {r[0]: (r[1], r[2]) for r in cur.fetchall()}
            cur.execute(_METHOD_EXTENSIONS_SQL)
            method_ext = dict(cur.fetchall())
        result = ExportResult(schemas=[SchemaExport(schema=s) for s in chosen])
        by_schema = {s.schema: s for s in result.schemas}
        live_canonical: dict[tuple[str, str], str] = {}
        definitions: dict[tuple[str, str], str] = {}
        for row in rows:
            out = by_schema[row.schema]

            def leave(kind: str, reason: str, row: _Row = row, out: SchemaExport = out) -> None:
                (out.constraints if kind == "constraint" else out.skipped).append(
                    Left(row.schema, row.table, row.name, kind, reason, row.definition))

            if row.constraint:
                contype, _, conname = row.constraint.partition(":")
                what = {"p": "PRIMARY KEY", "u": "UNIQUE", "x": "EXCLUDE"}.get(contype, contype)
                leave("constraint", f"backs the {what} constraint {conname} (part of the table's definition, "
                                    "not an index to declare)")
                continue
            if row.table_kind == "p" or row.index_kind == "I":
                leave("partitioned", "on a partitioned table: CREATE INDEX CONCURRENTLY cannot build it; declare "
                                     "the index on each partition instead")
                continue
            if row.parent_index:
                leave("partitioned", f"a partition's part of the partitioned index {row.parent_index} (built with it)")
                continue
            if not (row.valid and row.ready):
                leave("invalid", "invalid (a failed or interrupted build): drop or rebuild it first")
                continue
            if _debris_name(row.name):
                leave("unsupported", "a leftover of an interrupted `indexes apply` replace")
                continue
            ix, why = _to_def(row, columns, opclasses, collations)
            if ix is None:
                leave("unsupported", why)
                continue
            out.declared.append(ix)
            live_canonical[(row.schema, row.name)] = canonical_definition(row.definition, row.unique)
            definitions[(row.schema, row.name)] = row.definition
            for k in range(row.nkey):
                ext = opclasses[row.opclasses[k]][4]
                if ext and ext not in out.extensions:
                    out.extensions.append(ext)
            if row.method in method_ext and method_ext[row.method] not in out.extensions:
                out.extensions.append(method_ext[row.method])
        for sx in result.schemas:
            _keep_exact(conn, sx, live_canonical, definitions, normalize)
        if with_queries:
            from hmb_ops.indexes.export_queries import attach_queries

            result.queries_found, result.queries_note = attach_queries(conn, result.schemas, version)
    finally:
        conn.close()
    result.seconds = time.monotonic() - started
    return result


def _keep_exact(conn, sx: SchemaExport, live: dict[tuple[str, str], str], definitions: dict, normalize) -> None:
    """Drop from ``sx.declared`` every index the spec would not rebuild exactly as it is (with why).

    The checks of ``normalize`` that can fail for an index read from the catalog, done in bulk: the
    offline lexer, the IMMUTABLE check, and the scratch build on empty temporary copies of the
    tables in a transaction that is always rolled back — all builds in one PL/pgSQL block (each in
    its own subtransaction) instead of three round trips per index, so 200 indexes take one. The
    statements are passed as data (bound parameters into a temporary table), built by the same
    ``ddl.create_index_sql`` as `apply`. Servers without PL/pgSQL or with
    standard_conforming_strings off take ``normalize`` itself.
    """
    if not sx.declared:
        return
    rows = {d.name: d for d in sx.declared}
    for p in text_problems(sx.spec()):
        _skip(sx, rows.get(p.index), p.message, definitions)
    if not sx.declared:
        return
    built = _bulk_scratch(conn, sx)
    errors: dict[str, str] = {}
    if built is None:
        norm = normalize(conn, sx.spec(), read_only=True)
        for problem in norm.problems:
            name, _, message = problem.partition(": ")
            _skip(sx, rows.get(name), message, definitions)
        canonical = norm.canonical
    else:
        canonical, errors = built
    for name, message in errors.items():
        _skip(sx, rows.get(name), message, definitions)
    for ix in list(sx.declared):
        got = canonical.get(ix.name)
        want = live[(sx.schema, ix.name)]
        if got != want:
            _skip(sx, ix, f"the spec form would build {got!r}, not {want!r}", definitions)


_BUILD_ALL = """
DO $hmb_export$
DECLARE r record;
BEGIN
  FOR r IN SELECT name, stmt FROM pg_temp.{ddl} ORDER BY n LOOP
    BEGIN
      EXECUTE r.stmt;
    EXCEPTION WHEN OTHERS THEN
      INSERT INTO pg_temp.{ddl} (n, name, stmt, error) VALUES (-1, r.name, '', SQLERRM);
    END;
  END LOOP;
END
$hmb_export$
"""


def _bulk_scratch(conn, sx: SchemaExport) -> tuple[dict[str, str], dict[str, str]] | None:
    """(name -> canonical definition as built, name -> why it could not be built); None: use normalize."""
    import uuid

    import psycopg2.errors
    from psycopg2 import sql as S
    from psycopg2.extras import execute_values

    from hmb_ops.indexes import sqltext
    from hmb_ops.indexes.catalog import read_indexes
    from hmb_ops.indexes.normalize import _function_problems

    errors: dict[str, str] = {}
    with conn.cursor() as cur:
        cur.execute("SHOW standard_conforming_strings")
        on = cur.fetchone()[0] == "on"
        cur.execute("SELECT EXISTS (SELECT 1 FROM pg_language WHERE lanname = 'plpgsql')")
        if not (on and cur.fetchone()[0]):
            return None
        checks = {ix.name: ([("expression", sqltext.check_expression(p.expression))
                             for p in ix.columns if p.expression is not None]
                            + ([("predicate", sqltext.check_expression(ix.where))] if ix.where else []))
                  for ix in sx.declared}
        cur.execute("BEGIN READ ONLY")
        try:
            errors.update(_function_problems(cur, checks))
        finally:
            cur.execute("ROLLBACK")
        todo = [ix for ix in sx.declared if ix.name not in errors]
        ddl_table = "hmb_export_ddl_" + uuid.uuid4().hex[:12]
        cur.execute("BEGIN READ WRITE")
        try:
            # One round trip for every copy (names quoted by psycopg2.sql, nothing pasted).
            creates = [S.SQL("CREATE TEMPORARY TABLE {} (LIKE {}.{}) ON COMMIT DROP").format(
                S.Identifier(table), S.Identifier(sx.schema), S.Identifier(table))
                for table in sorted({ix.table for ix in todo})]
            creates.append(S.SQL("CREATE TEMPORARY TABLE {} (n int, name text, stmt text, error text) ON COMMIT DROP")
                           .format(S.Identifier(ddl_table)))
            cur.execute(S.SQL("; ").join(creates))
            execute_values(cur, S.SQL("INSERT INTO pg_temp.{} (n, name, stmt) VALUES %s").format(
                S.Identifier(ddl_table)).as_string(conn),
                [(k, ix.name, ddl.create_index_sql(ix, "pg_temp", concurrently=False)) for k, ix in enumerate(todo)])
            cur.execute(_BUILD_ALL.replace("{ddl}", ddl_table))
            cur.execute(S.SQL("SELECT name, error FROM pg_temp.{} WHERE n = -1").format(S.Identifier(ddl_table)))
            errors.update(dict(cur.fetchall()))
            cur.execute("SELECT nspname FROM pg_namespace WHERE oid = pg_my_temp_schema()")
            temp_schema = cur.fetchone()[0]
            canonical = {b.name: canonical_definition(b.definition, b.unique)
                         for b in read_indexes(conn, temp_schema)}
        except psycopg2.errors.InsufficientPrivilege as exc:
            cur.execute("ROLLBACK")
            from hmb_ops.errors import EnvironmentUnusable

            raise EnvironmentUnusable(
                f"cannot check the exported spec: {str(exc).strip().splitlines()[0]} (each index is rebuilt on an "
                "empty temporary copy of its table, rolled back, to prove the spec holds it exactly)",
                hint="GRANT TEMPORARY ON DATABASE to this role, and SELECT on the tables") from None
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("ROLLBACK")
    return canonical, errors


def _skip(sx: SchemaExport, ix: IndexDef | None, reason: str, live: dict) -> None:
    if ix is None or ix not in sx.declared:
        return
    sx.declared.remove(ix)
    full = live.get((sx.schema, ix.name), "")
    sx.skipped.append(Left(sx.schema, ix.table, ix.name, "unsupported", reason, full))
