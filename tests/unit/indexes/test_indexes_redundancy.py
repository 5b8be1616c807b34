"""The duplicate/redundant report: a different collation or a covering INCLUDE is not a duplicate."""

from __future__ import annotations

from dataclasses import replace

from hmb_ops.indexes.catalog import LiveIndex
from hmb_ops.indexes.plan import redundancy


def ix(name: str, keys: list[str], *, unique=False, collations=None, include=()) -> LiveIndex:
    return LiveIndex(name=name, table="items", method="btree", definition=f"CREATE INDEX {name} ON public.items",
                     unique=unique, primary=False, valid=True, ready=True, live=True, constraint_backed=False,
                     size_bytes=8192, scans=0, key_parts=tuple(keys), options=tuple(0 for _ in keys),
                     opclasses=tuple(1 for _ in keys), collations=tuple(collations or [100] * len(keys)),
                     include=tuple(include))


def kinds(indexes) -> set[tuple[str, str, str | None]]:
    return {(f.kind, f.index, f.covered_by) for f in redundancy(indexes)}


def test_another_collation_is_not_a_prefix():
    multi = ix("items_multi", ["title", "price"])
    c_order = ix("items_coll", ["title"], collations=[950])
    assert kinds([multi, c_order]) == set()
    assert kinds([multi, replace(c_order, collations=(100,))]) == {("redundant", "items_coll", "items_multi")}


def test_a_covering_index_is_not_a_duplicate_of_its_keys():
    unique = ix("items_sku_key", ["sku"], unique=True)
    covering = ix("items_incl", ["sku"], include=["price", "title"])
    assert kinds([unique, covering]) == set()
    wider = ix("items_wide", ["sku", "price"], include=["title"])
    # covered when the other index holds every INCLUDE column (as a key or an INCLUDE column)
    assert kinds([covering, wider]) == {("redundant", "items_incl", "items_wide")}


def test_same_keys_under_a_covering_index_is_redundant_whatever_the_names():
    # (user_id) beside (user_id) INCLUDE (content): covered, not "the same definition", and reported
    # whichever name sorts first.
    for plain_name in ("items_a_plain", "items_z_plain"):
        plain = ix(plain_name, ["user_id"])
        covering = ix("items_m_incl", ["user_id"], include=["content"])
        found = redundancy([plain, covering])
        assert [(f.kind, f.index, f.covered_by) for f in found] == [("redundant", plain_name, "items_m_incl")]
        assert found[0].detail == "same keys (user_id) as items_m_incl, which also includes (content)"
    exact = [ix("items_a", ["sku"]), ix("items_b", ["sku"])]
    assert kinds(exact) == {("duplicate", "items_b", "items_a")}
