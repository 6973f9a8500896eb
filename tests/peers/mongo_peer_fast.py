"""mongo_peer_fast.py - what makes mongo-peer.py fast enough: mongomock scans
every document with its general matcher (about 100 lookups by _id a second).
"""
import datetime

import bson
import mongomock.collection
from mongomock import helpers
from mongomock.filtering import filter_applies, resolve_sort_key

# Filters naming one _id look it up instead of scanning; simple
# filters (equality, $in, $nin, ranges, $ne, $exists, $and, $or on scalars) run as
# compiled Python predicates, anything else (or a document where an array or an
# embedded document is met) through mongomock's filter_applies.

_scan = mongomock.collection.Collection._iter_documents
MISSING = object()


class Unsure(Exception):
    """The compiled predicate cannot decide this document."""


def _kind(v):
    if isinstance(v, bool):
        return 'bool'
    if isinstance(v, (int, float)):
        return 'num'
    if isinstance(v, (str, datetime.datetime, bson.ObjectId)):
        return type(v).__name__
    return None


def _getter(path):
    parts = path.split('.')

    def get(doc):
        for part in parts:
            if not isinstance(doc, dict):
                raise Unsure()
            doc = doc.get(part, MISSING)
            if doc is MISSING:
                return MISSING
        if isinstance(doc, (list, dict)):
            raise Unsure()
        return doc
    return get


def _scalar(v):
    if _kind(v) is None:
        raise ValueError('not a scalar')
    return v, _kind(v)


def _field_test(op, arg):
    """A test of one field's value for op; ValueError when not compiled."""
    if op == '$exists':
        return (lambda v: v is not MISSING) if arg else (lambda v: v is MISSING)
    if op in ('$in', '$nin'):
        if not isinstance(arg, list):
            raise ValueError('$in needs an array')
        vals = [_scalar(a) for a in arg]
        test = (lambda v: any(_kind(v) == k and v == a for a, k in vals))
        return test if op == '$in' else (lambda v: not test(v))
    a, k = _scalar(arg)
    cmp = {'$eq': lambda v: v == a, '$ne': lambda v: v != a, '$gt': lambda v: v > a,
           '$gte': lambda v: v >= a, '$lt': lambda v: v < a, '$lte': lambda v: v <= a}
    if op not in cmp:
        raise ValueError('operator %s' % op)
    f = cmp[op]
    if op == '$ne':
        return lambda v: v is MISSING or _kind(v) != k or f(v)
    return lambda v: v is not MISSING and _kind(v) == k and f(v)


def compile_filter(spec):
    """A predicate for spec, or raise ValueError."""
    if not isinstance(spec, dict):
        raise ValueError('filter')
    tests = []
    for key, cond in spec.items():
        if key in ('$and', '$or'):
            if not isinstance(cond, list) or not cond:
                raise ValueError(key)
            subs = [compile_filter(c) for c in cond]
            tests.append((lambda d, subs=subs: all(t(d) for t in subs)) if key == '$and'
                         else (lambda d, subs=subs: any(t(d) for t in subs)))
            continue
        if key.startswith('$'):
            raise ValueError(key)
        get = _getter(key)
        if isinstance(cond, dict) and cond and all(str(k).startswith('$') for k in cond):
            fts = [_field_test(op, arg) for op, arg in cond.items()]
        else:
            fts = [_field_test('$eq', cond)]
        tests.append(lambda d, get=get, fts=fts: all(t(get(d)) for t in fts))
    return lambda d: all(t(d) for t in tests)


def iter_documents(self, spec):
    if isinstance(spec, dict) and '_id' in spec and plain(spec['_id']):
        return by_id(self, spec)
    try:
        pred = compile_filter(spec or {})
    except ValueError:
        return _scan(self, spec)
    return _matching(self, spec, pred)


def _matching(coll, spec, pred):
    for doc in list(coll._store.documents):
        try:
            ok = pred(doc)
        except Unsure:
            ok = filter_applies(spec, doc)
        if ok:
            yield doc


def plain(value):
    return not (isinstance(value, dict) and any(str(k).startswith('$') for k in value))


def by_id(coll, spec):
    key = spec['_id']
    try:
        if isinstance(key, dict):
            key = helpers.hashdict(key)
        found = key in coll._store
    except TypeError:
        return _scan(coll, spec)
    if not found:
        return iter(())
    doc = coll._store[key]
    try:
        ok = compile_filter(spec)(doc)
    except (ValueError, Unsure):
        ok = filter_applies(spec, doc)
    return iter([doc]) if ok else iter(())


def sort_docs(docs, key, reverse):
    """docs sorted by key: by plain values when all are of one kind, else the
    way mongomock orders mixed types."""
    get = _getter(key)
    try:
        kinds = {_kind(get(d)) for d in docs}
    except Unsure:
        kinds = {None}
    if len(kinds) == 1 and None not in kinds:
        return sorted(docs, key=get, reverse=reverse)
    return sorted(docs, key=lambda d: resolve_sort_key(key, d), reverse=reverse)


def install():
    """Route mongomock's document iteration (find, update, delete, count) through
    the fast paths."""
    mongomock.collection.Collection._iter_documents = iter_documents
