#!/usr/bin/python3
"""mongo-peer.py - an in-memory MongoDB for genbox's tests.

Debian's mongomock (the engine) behind MongoDB's wire protocol: OP_MSG with
document sequences, and OP_QUERY/OP_REPLY for the legacy hello handshake.
SCRAM-SHA-256 when started with --user U --password P. One thread per
connection, one lock around mongomock. Prints `READY port=N` once listening.

    /usr/bin/python3 mongo-peer.py [--host 127.0.0.1] [--port 0]
                                   [--user U --password P] [--verbose]

It is a test peer, not MongoDB: see /work/shared/PEERS.md for what it covers.
One command of its own: {genboxPeerClock: 1, offsetMs: N} moves the clock
its hello reports (localTime) by N ms, for tests of the box's clock skew.
"""
import argparse
import datetime
import itertools
import os
import socket
import socketserver
import struct
import sys
import threading
import time

import bson
import bson.raw_bson
import mongomock
import pymongo.errors
from bson.codec_options import CodecOptions
from mongomock import helpers
from mongomock.filtering import filter_applies

sys.dont_write_bytecode = True      # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mongo_peer_fast as fast      # noqa: E402
import mongo_peer_scram as scram    # noqa: E402

MAX_BSON = 16 * 1024 * 1024
MAX_MESSAGE = 48000000
MAX_BATCH = 100000
MAX_WIRE = 13
OP_REPLY, OP_QUERY, OP_MSG, OP_COMPRESSED = 1, 2004, 2013, 2012
CODEC = CodecOptions(document_class=dict, tz_aware=False)
CODE_NAMES = {
    1: 'InternalError', 2: 'BadValue', 9: 'FailedToParse', 11: 'UserNotFound',
    13: 'Unauthorized', 14: 'TypeMismatch', 17: 'ProtocolError', 18: 'AuthenticationFailed',
    26: 'NamespaceNotFound', 43: 'CursorNotFound', 48: 'NamespaceExists',
    52: 'DollarPrefixedFieldName', 53: 'InvalidIdField', 59: 'CommandNotFound',
    66: 'ImmutableField', 73: 'InvalidNamespace', 238: 'NotImplemented',
    10334: 'BSONObjectTooLarge', 11000: 'DuplicateKey',
}
NO_AUTH = {'hello', 'ismaster', 'saslstart', 'saslcontinue', 'ping'}

CLIENT = mongomock.MongoClient()
LOCK = threading.Lock()
ARGS = None
SCRAM = None           # a mongo_peer_scram.Scram with --user
CURSORS = {}
NEXT_CURSOR = [1000]
REQUEST_IDS = itertools.count(1)
CURSOR_IDLE_S = 600
CONN_ID = [0]


class CommandError(Exception):
    def __init__(self, code, errmsg):
        super().__init__(errmsg)
        self.code = code
        self.errmsg = errmsg


class Closed(Exception):
    """The client went away or sent something that ends the connection."""


def error_doc(code, errmsg):
    return {'ok': 0.0, 'errmsg': errmsg, 'code': code,
            'codeName': CODE_NAMES.get(code, 'Error%d' % code)}


# ---- helpers

def coll_of(cmd, name, db):
    coll = cmd.get(name)
    if not isinstance(coll, str) or not coll:
        raise CommandError(2, 'collection name has invalid type %s' % type(coll).__name__)
    return CLIENT[db][coll]


def write_error(index, exc):
    code = getattr(exc, 'code', None) or 2
    errmsg = str(exc)
    if 'immutable' in errmsg or '_id field cannot be changed' in errmsg:
        code = 66
    return {'index': index, 'code': code, 'errmsg': errmsg,
            'codeName': CODE_NAMES.get(code, 'Error%d' % code)}


def dup_error(index, coll, doc_id):
    return {'index': index, 'code': 11000, 'codeName': 'DuplicateKey',
            'keyPattern': {'_id': 1}, 'keyValue': {'_id': doc_id},
            'errmsg': 'E11000 duplicate key error collection: %s index: _id_ dup key: '
                      '{ _id: %r }' % (coll.full_name, doc_id)}


def too_large(index, size):
    return {'index': index, 'code': 10334, 'codeName': 'BSONObjectTooLarge',
            'errmsg': 'BSONObj size: %d (0x%X) is invalid. Size must be between 0 and '
                      '16793600(16MB)' % (size, size)}


def oversize(doc, big):
    """The BSON size of doc when the message could hold one over 16 MiB, else 0."""
    if not big:
        return 0
    size = len(bson.encode(doc))
    return size if size > MAX_BSON else 0


def new_cursor(ns, docs, batch_size, first_key):
    """Reply with the first batch; keep the rest under a cursor id."""
    if batch_size is None or batch_size < 0:
        batch_size = 101
    if batch_size == 0:         # an empty first batch, the documents for getMore
        batch, rest = [], docs
    else:
        batch, rest = take_batch(docs, batch_size)
    cid = 0
    now = time.monotonic()
    for old in [k for k, c in CURSORS.items() if now - c['touched'] > CURSOR_IDLE_S]:
        del CURSORS[old]
    if rest:
        NEXT_CURSOR[0] += 1
        cid = NEXT_CURSOR[0]
        CURSORS[cid] = {'ns': ns, 'docs': rest, 'touched': time.monotonic()}
    return {'cursor': {first_key: batch, 'id': bson.int64.Int64(cid), 'ns': ns}, 'ok': 1.0}


def take_batch(docs, batch_size):
    """Up to batch_size documents (0: all) within 16 MiB, as raw BSON."""
    out, size, n = [], 0, 0
    for doc in docs:
        if batch_size and n >= batch_size:
            break
        raw = bson.raw_bson.RawBSONDocument(bson.encode(doc))
        if out and size + len(raw.raw) > MAX_BSON - 16 * 1024:
            break
        out.append(raw)
        size += len(raw.raw)
        n += 1
    return out, docs[n:]


def ordered_fields(spec):
    if not spec:
        return None
    return [(k, int(v) if isinstance(v, (int, float)) else v) for k, v in spec.items()]


def find_docs(coll, cmd):
    """The documents of a find: matched, sorted, skipped and limited before copying."""
    filt = cmd.get('filter') or {}
    projection = cmd.get('projection') or None
    docs = coll._iter_documents(filt)
    for key, direction in reversed(ordered_fields(cmd.get('sort')) or []):
        if key.startswith('$'):
            raise CommandError(238, 'sorting by %s is not supported by this peer' % key)
        docs = fast.sort_docs(list(docs), key, direction < 0)
    docs = list(docs)
    skip, limit = int(cmd.get('skip') or 0), int(cmd.get('limit') or 0)
    docs = docs[skip:skip + abs(limit)] if limit else docs[skip:]
    if projection:
        docs = [coll._copy_only_fields(d, projection, dict) for d in docs]
    return docs, limit < 0 or bool(cmd.get('singleBatch'))


# ---- commands

def cmd_hello(cmd, db, conn):
    doc = {'helloOk': True, 'isWritablePrimary': True, 'ismaster': True,
           'maxBsonObjectSize': MAX_BSON,
           'maxMessageSizeBytes': MAX_MESSAGE, 'maxWriteBatchSize': MAX_BATCH,
           'localTime': datetime.datetime.utcnow() + CLOCK_OFFSET,
           'logicalSessionTimeoutMinutes': 30,
           'connectionId': conn.conn_id, 'minWireVersion': 0, 'maxWireVersion': MAX_WIRE,
           'readOnly': False, 'ok': 1.0}
    mechs = cmd.get('saslSupportedMechs')
    if ARGS.user and isinstance(mechs, str) and mechs in ('admin.' + ARGS.user,):
        doc['saslSupportedMechs'] = ['SCRAM-SHA-256']
    return doc


def cmd_build_info(cmd, db, conn):
    return {'version': '5.0.0', 'gitVersion': 'mongomock', 'versionArray': [5, 0, 0, 0],
            'bits': 64, 'maxBsonObjectSize': MAX_BSON, 'ok': 1.0}


def store_insert(coll, doc):
    """Insert doc as MongoDB 5 would (dots in names allowed, no top-level $)."""
    for k in doc:
        if k.startswith('$'):
            raise CommandError(2, "Document can't have $ prefixed field names: %s" % k)
    key = doc['_id']
    if isinstance(key, list):
        raise CommandError(53, "can't use an array for _id")
    if isinstance(key, dict):
        key = helpers.hashdict(key)
    store = coll._store
    if key in store:
        raise pymongo.errors.DuplicateKeyError('E11000 duplicate key error', 11000)
    store[key] = doc
    if any(ix.get('unique') for ix in store.indexes.values()):
        try:
            coll._ensure_uniques(doc)
        except pymongo.errors.DuplicateKeyError:
            del store[key]
            raise


def cmd_insert(cmd, db, conn):
    coll = coll_of(cmd, 'insert', db)
    docs = cmd.get('documents') or []
    ordered = cmd.get('ordered', True)
    n, errors = 0, []
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict):
            errors.append({'index': i, 'code': 2, 'errmsg': 'document is not an object'})
        else:
            size = oversize(doc, conn.big)
            if size:
                errors.append(too_large(i, size))
            else:
                if '_id' not in doc:
                    doc = dict([('_id', bson.ObjectId())] + list(doc.items()))
                try:
                    store_insert(coll, doc)
                    n += 1
                    continue
                except pymongo.errors.DuplicateKeyError:
                    errors.append(dup_error(i, coll, doc.get('_id')))
                except CommandError as e:
                    errors.append({'index': i, 'code': e.code, 'errmsg': e.errmsg})
        if ordered:
            break
    out = {'n': n, 'ok': 1.0}
    if errors:
        out['writeErrors'] = errors
    return out


def replace_by_id(coll, q, u, upsert):
    """A replacement of the document named by q's _id, in place of mongomock's
    general path; None when it does not apply (not by _id, unique indexes)."""
    if '_id' not in q or not fast.plain(q['_id']) or isinstance(q['_id'], (dict, list)):
        return None
    if '_id' in u and u['_id'] != q['_id']:
        return None
    if any(ix.get('unique') for ix in coll._store.indexes.values()):
        return None
    for k in u:
        if k.startswith('$'):
            raise CommandError(52, "The dollar ($) prefixed field '%s' in '%s' is not valid "
                                   "for storage." % (k, k))
    key, store = q['_id'], coll._store
    doc = dict([('_id', key)] + [(k, v) for k, v in u.items() if k != '_id'])
    old = next(fast.by_id(coll, q), None)
    if old is not None:
        store[key] = doc
        return {'n': 1, 'nModified': 0 if old == doc else 1, 'upserted': None}
    if not upsert:
        return {'n': 0, 'nModified': 0, 'upserted': None}
    if key in store:
        raise pymongo.errors.DuplicateKeyError('E11000 duplicate key error', 11000)
    store[key] = doc
    return {'n': 1, 'nModified': 0, 'upserted': key}


def one_update(coll, st):
    q, u = st.get('q') or {}, st.get('u')
    if isinstance(u, dict) and u and not st.get('multi') and isinstance(q, dict) and \
            not any(k.startswith('$') for k in u):
        r = replace_by_id(coll, q, u, bool(st.get('upsert')))
        if r is not None:
            return r
    if isinstance(u, list):
        raise CommandError(238, 'pipeline-style updates are not supported by this peer')
    if not isinstance(u, dict):
        raise CommandError(14, 'Update argument must be either an object or an array')
    return coll._update(q, u, upsert=bool(st.get('upsert')), multi=bool(st.get('multi')))


def cmd_update(cmd, db, conn):
    coll = coll_of(cmd, 'update', db)
    ordered = cmd.get('ordered', True)
    n = nmod = 0
    upserted, errors = [], []
    for i, st in enumerate(cmd.get('updates') or []):
        try:
            size = oversize(st.get('u') or {}, conn.big) if isinstance(st, dict) else 0
            if size:
                errors.append(too_large(i, size))
            else:
                r = one_update(coll, st)
                n += r['n']
                nmod += r['nModified']
                if r['upserted'] is not None:
                    upserted.append({'index': i, '_id': r['upserted']})
                continue
        except pymongo.errors.DuplicateKeyError:
            q = st.get('q') or {}
            u = st.get('u') or {}
            errors.append(dup_error(i, coll, q.get('_id', u.get('_id'))))
        except CommandError as e:
            errors.append({'index': i, 'code': e.code, 'errmsg': e.errmsg})
        except (pymongo.errors.PyMongoError, ValueError, TypeError, KeyError) as e:
            errors.append(write_error(i, e))
        if ordered:
            break
    out = {'n': n, 'nModified': nmod, 'ok': 1.0}
    if upserted:
        out['upserted'] = upserted
    if errors:
        out['writeErrors'] = errors
    return out


def cmd_delete(cmd, db, conn):
    coll = coll_of(cmd, 'delete', db)
    ordered = cmd.get('ordered', True)
    n, errors = 0, []
    for i, st in enumerate(cmd.get('deletes') or []):
        try:
            q = st.get('q') or {}
            if st.get('limit'):
                n += coll.delete_one(q).deleted_count
            else:
                n += coll.delete_many(q).deleted_count
        except (pymongo.errors.PyMongoError, ValueError, TypeError, AttributeError) as e:
            errors.append(write_error(i, e))
            if ordered:
                break
    out = {'n': n, 'ok': 1.0}
    if errors:
        out['writeErrors'] = errors
    return out


def cmd_find(cmd, db, conn):
    coll = coll_of(cmd, 'find', db)
    docs, single = find_docs(coll, cmd)
    batch = cmd.get('batchSize')
    limit = abs(int(cmd.get('limit') or 0))
    if single:
        batch = limit or None
    reply = new_cursor(coll.full_name, docs, batch, 'firstBatch')
    if single and reply['cursor']['id']:
        CURSORS.pop(int(reply['cursor']['id']), None)
        reply['cursor']['id'] = bson.int64.Int64(0)
    return reply


def cmd_get_more(cmd, db, conn):
    cid = int(cmd.get('getMore') or 0)
    cur = CURSORS.get(cid)
    ns = '%s.%s' % (db, cmd.get('collection'))
    if cur is None or cur['ns'] != ns:
        raise CommandError(43, 'cursor id %d not found' % cid)
    batch, rest = take_batch(cur['docs'], int(cmd.get('batchSize') or 0))
    if rest:
        cur['docs'] = rest
        cur['touched'] = time.monotonic()
    else:
        del CURSORS[cid]
        cid = 0
    return {'cursor': {'nextBatch': batch, 'id': bson.int64.Int64(cid), 'ns': ns}, 'ok': 1.0}


def cmd_kill_cursors(cmd, db, conn):
    killed, missing = [], []
    for cid in cmd.get('cursors') or []:
        (killed if CURSORS.pop(int(cid), None) is not None else missing).append(cid)
    return {'cursorsKilled': killed, 'cursorsNotFound': missing, 'cursorsAlive': [],
            'cursorsUnknown': [], 'ok': 1.0}


def cmd_find_and_modify(cmd, db, conn):
    coll = coll_of(cmd, 'findAndModify', db)
    query, sort = cmd.get('query') or {}, ordered_fields(cmd.get('sort'))
    fields, update = cmd.get('fields') or None, cmd.get('update')
    if isinstance(update, list):
        raise CommandError(238, 'pipeline-style updates are not supported by this peer')
    old = coll.find_one(query, sort=sort)
    if cmd.get('remove'):
        if old is not None:
            coll.delete_one({'_id': old['_id']})
        return {'lastErrorObject': {'n': 1 if old else 0},
                'value': project(coll, old, fields), 'ok': 1.0}
    if not isinstance(update, dict):
        raise CommandError(9, 'Either an update or remove=true must be specified')
    leo = {'n': 0, 'updatedExisting': False}
    if old is not None:
        coll._update({'_id': old['_id']}, update)
        leo = {'n': 1, 'updatedExisting': True}
        new_id = old['_id']
    elif cmd.get('upsert'):
        new_id = coll._update(query, update, upsert=True)['upserted']
        leo = {'n': 1, 'updatedExisting': False, 'upserted': new_id}
    else:
        return {'lastErrorObject': leo, 'value': None, 'ok': 1.0}
    value = coll.find_one({'_id': new_id}) if cmd.get('new') else old
    return {'lastErrorObject': leo, 'value': project(coll, value, fields), 'ok': 1.0}


def project(coll, doc, fields):
    if doc is None or not fields:
        return doc
    return coll._copy_only_fields(doc, fields, dict)


def cmd_aggregate(cmd, db, conn):
    coll = coll_of(cmd, 'aggregate', db)
    pipeline = cmd.get('pipeline')
    if not isinstance(pipeline, list):
        raise CommandError(14, "'pipeline' option must be specified as an array")
    docs = list(coll.aggregate(pipeline))
    batch = (cmd.get('cursor') or {}).get('batchSize')
    return new_cursor(coll.full_name, docs, batch, 'firstBatch')


def cmd_count(cmd, db, conn):
    coll = coll_of(cmd, 'count', db)
    kw = {}
    if cmd.get('skip'):
        kw['skip'] = int(cmd['skip'])
    if cmd.get('limit'):
        kw['limit'] = abs(int(cmd['limit']))
    return {'n': coll.count_documents(cmd.get('query') or {}, **kw), 'ok': 1.0}


def cmd_distinct(cmd, db, conn):
    coll = coll_of(cmd, 'distinct', db)
    key = cmd.get('key')
    if not isinstance(key, str):
        raise CommandError(14, "BSON field 'distinct.key' is missing or not a string")
    return {'values': coll.distinct(key, cmd.get('query') or {}), 'ok': 1.0}


def cmd_create_indexes(cmd, db, conn):
    coll = coll_of(cmd, 'createIndexes', db)
    created = coll.name not in CLIENT[db].list_collection_names()
    before = len(coll.index_information()) if not created else 1
    for ix in cmd.get('indexes') or []:
        key = ix.get('key')
        if not isinstance(key, dict) or not key:
            raise CommandError(2, 'index key pattern must be a non-empty object')
        kw = {k: ix[k] for k in ('unique', 'sparse', 'expireAfterSeconds',
                                 'partialFilterExpression') if k in ix}
        coll.create_index(list(key.items()), name=ix.get('name'), **kw)
    after = len(coll.index_information())
    return {'createdCollectionAutomatically': created, 'numIndexesBefore': before,
            'numIndexesAfter': after, 'ok': 1.0}


def cmd_list_indexes(cmd, db, conn):
    coll = coll_of(cmd, 'listIndexes', db)
    if coll.name not in CLIENT[db].list_collection_names():
        raise CommandError(26, 'ns does not exist: %s' % coll.full_name)
    docs = []
    for name, info in coll.index_information().items():
        d = {'v': 2, 'key': dict(info['key']), 'name': name}
        d.update({k: v for k, v in info.items() if k not in ('key', 'v')})
        docs.append(d)
    return new_cursor(coll.full_name, docs, None, 'firstBatch')


def cmd_list_collections(cmd, db, conn):
    docs = []
    for name in sorted(CLIENT[db].list_collection_names()):
        d = {'name': name, 'type': 'collection', 'options': {},
             'info': {'readOnly': False}, 'idIndex': {'v': 2, 'key': {'_id': 1},
                                                      'name': '_id_'}}
        if filter_applies(cmd.get('filter') or {}, d):
            docs.append({'name': name, 'type': 'collection'} if cmd.get('nameOnly') else d)
    return new_cursor('%s.$cmd.listCollections' % db, docs, None, 'firstBatch')


def cmd_create(cmd, db, conn):
    name = cmd.get('create')
    if not isinstance(name, str) or not name:
        raise CommandError(2, 'collection name must be a string')
    if name in CLIENT[db].list_collection_names():
        raise CommandError(48, 'Collection %s.%s already exists.' % (db, name))
    CLIENT[db].create_collection(name)
    return {'ok': 1.0}


def cmd_drop(cmd, db, conn):
    coll = coll_of(cmd, 'drop', db)
    if coll.name not in CLIENT[db].list_collection_names():
        raise CommandError(26, 'ns not found')
    nix = len(coll.index_information())
    coll.drop()
    return {'ns': coll.full_name, 'nIndexesWas': nix, 'ok': 1.0}


def cmd_drop_database(cmd, db, conn):
    CLIENT.drop_database(db)
    return {'dropped': db, 'ok': 1.0}


def cmd_list_databases(cmd, db, conn):
    names = CLIENT.list_database_names()
    return {'databases': [{'name': n, 'sizeOnDisk': 0, 'empty': False} for n in names],
            'totalSize': 0, 'ok': 1.0}


def cmd_ok(cmd, db, conn):
    return {'ok': 1.0}


CLOCK_OFFSET = datetime.timedelta(0)


def cmd_peer_clock(cmd, db, conn):
    """The test peer's own: move the clock hello reports by offsetMs."""
    global CLOCK_OFFSET
    ms = cmd.get('offsetMs', 0)
    if isinstance(ms, bool) or not isinstance(ms, (int, float)):
        raise CommandError(14, 'offsetMs must be a number')
    CLOCK_OFFSET = datetime.timedelta(milliseconds=ms)
    return {'ok': 1.0}


# ---- authentication

def auth_failed():
    return CommandError(18, 'Authentication failed.')


def cmd_sasl_start(cmd, db, conn):
    if SCRAM is None:
        raise CommandError(11, 'no users are configured on this server')
    if cmd.get('mechanism') != 'SCRAM-SHA-256' or db != 'admin':
        raise auth_failed()
    try:
        conn.sasl, first = SCRAM.start(bytes(cmd.get('payload') or b''))
    except scram.Failed:
        raise auth_failed() from None
    return {'conversationId': 1, 'done': False, 'payload': first, 'ok': 1.0}


def cmd_sasl_continue(cmd, db, conn):
    state, conn.sasl = conn.sasl, None
    if state is None:
        raise CommandError(17, 'No SASL session state found')
    if state.get('done'):
        return {'conversationId': 1, 'done': True, 'payload': b'', 'ok': 1.0}
    try:
        final = SCRAM.finish(state, bytes(cmd.get('payload') or b''))
    except scram.Failed:
        raise auth_failed() from None
    conn.authed = True
    skip = bool((cmd.get('options') or {}).get('skipEmptyExchange'))
    if not skip:
        conn.sasl = {'done': True}
    return {'conversationId': 1, 'done': skip, 'payload': final, 'ok': 1.0}


COMMANDS = {
    'hello': cmd_hello, 'ismaster': cmd_hello, 'ping': cmd_ok, 'buildinfo': cmd_build_info,
    'insert': cmd_insert, 'find': cmd_find, 'getmore': cmd_get_more,
    'killcursors': cmd_kill_cursors, 'update': cmd_update, 'delete': cmd_delete,
    'findandmodify': cmd_find_and_modify, 'aggregate': cmd_aggregate, 'count': cmd_count,
    'distinct': cmd_distinct, 'createindexes': cmd_create_indexes,
    'listindexes': cmd_list_indexes, 'listcollections': cmd_list_collections,
    'create': cmd_create, 'drop': cmd_drop, 'dropdatabase': cmd_drop_database,
    'listdatabases': cmd_list_databases, 'endsessions': cmd_ok,
    'killallsessions': cmd_ok, 'saslstart': cmd_sasl_start,
    'saslcontinue': cmd_sasl_continue, 'genboxpeerclock': cmd_peer_clock,
}
# names whose case matters to MongoDB (the first key) beyond these lower-case forms
CASE = {'isMaster': 'ismaster', 'buildInfo': 'buildinfo', 'buildinfo': 'buildinfo',
        'getMore': 'getmore', 'killCursors': 'killcursors',
        'findAndModify': 'findandmodify', 'findandmodify': 'findandmodify',
        'createIndexes': 'createindexes', 'listIndexes': 'listindexes',
        'listCollections': 'listcollections', 'dropDatabase': 'dropdatabase',
        'listDatabases': 'listdatabases', 'endSessions': 'endsessions',
        'killAllSessions': 'killallsessions', 'saslStart': 'saslstart',
        'saslContinue': 'saslcontinue', 'genboxPeerClock': 'genboxpeerclock'}


def run_command(cmd, conn):
    """The reply document for one command; never raises."""
    if not isinstance(cmd, dict) or not cmd:
        return error_doc(9, 'empty command')
    name = next(iter(cmd))
    key = CASE.get(name, name if name in COMMANDS else None)
    if key is None:
        return error_doc(59, 'no such command: \'%s\'' % name)
    db = cmd.get('$db', 'admin')
    if not isinstance(db, str) or not db:
        return error_doc(73, 'Invalid database name')
    if ARGS.user and not conn.authed and key not in NO_AUTH:
        return error_doc(13, 'command %s requires authentication' % name)
    try:
        with LOCK:
            return COMMANDS[key](cmd, db, conn)
    except CommandError as e:
        return error_doc(e.code, e.errmsg)
    except NotImplementedError as e:
        return error_doc(238, 'not supported by this peer: %s' % e)
    except pymongo.errors.OperationFailure as e:
        return error_doc(e.code or 2, str(e))
    except Exception as e:  # a peer never dies of a command
        if ARGS.verbose:
            import traceback
            traceback.print_exc()
        return error_doc(2, '%s: %s' % (type(e).__name__, e))


# ---- wire protocol

def next_request_id():
    return next(REQUEST_IDS) & 0x7fffffff


def i32(buf, pos):
    return struct.unpack_from('<i', buf, pos)[0]


def read_doc(buf, pos, end):
    if pos + 5 > end:
        raise Closed('truncated document')
    n = i32(buf, pos)
    if n < 5 or pos + n > end:
        raise Closed('bad document length %d' % n)
    return bson.decode(bytes(buf[pos:pos + n]), codec_options=CODEC), pos + n


def parse_msg(buf):
    """(flags, command) of an OP_MSG after its header."""
    flags = struct.unpack_from('<I', buf, 16)[0]
    end = len(buf) - (4 if flags & 1 else 0)
    pos, body, seqs = 20, None, []
    while pos < end:
        kind = buf[pos]
        pos += 1
        if kind == 0:
            body, pos = read_doc(buf, pos, end)
        elif kind == 1:
            size = i32(buf, pos)
            stop = pos + size
            if size < 5 or stop > end:
                raise Closed('bad section size')
            nul = buf.find(b'\0', pos + 4, stop)
            if nul < 0:
                raise Closed('bad section identifier')
            ident = bytes(buf[pos + 4:nul]).decode('utf-8', 'replace')
            docs, p = [], nul + 1
            while p < stop:
                d, p = read_doc(buf, p, stop)
                docs.append(d)
            seqs.append((ident, docs))
            pos = stop
        else:
            raise Closed('bad section kind %d' % kind)
    if body is None:
        raise Closed('OP_MSG without a body')
    for ident, docs in seqs:
        body[ident] = docs
    return flags, body


def pack(op, response_to, payload):
    return struct.pack('<iiii', 16 + len(payload), next_request_id(), response_to, op) + payload


def reply_msg(request_id, doc):
    return pack(OP_MSG, request_id, struct.pack('<I', 0) + b'\0' + bson.encode(doc))


def reply_legacy(request_id, doc, flags=0):
    body = struct.pack('<iqii', flags, 0, 0, 1) + bson.encode(doc)
    return pack(OP_REPLY, request_id, body)


def handle_query(buf, request_id, conn):
    nul = buf.find(b'\0', 20)
    if nul < 0:
        raise Closed('bad OP_QUERY')
    ns = bytes(buf[20:nul]).decode('utf-8', 'replace')
    query, _ = read_doc(buf, nul + 9, len(buf))
    if not ns.endswith('.$cmd'):
        return reply_legacy(request_id, {'$err': 'OP_QUERY is only for commands here',
                                         'code': 352}, flags=2)
    if '$query' in query and isinstance(query['$query'], dict):
        query = query['$query']
    query.setdefault('$db', ns[:-5])
    return reply_legacy(request_id, run_command(query, conn))


class Handler(socketserver.BaseRequestHandler):
    def setup(self):
        with LOCK:
            CONN_ID[0] += 1
            self.conn_id = CONN_ID[0]
        self.authed = False
        self.sasl = None
        self.big = False
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def recv_exact(self, n):
        buf = bytearray(n)
        view, got = memoryview(buf), 0
        while got < n:
            k = self.request.recv_into(view[got:])
            if k == 0:
                raise Closed('peer closed')
            got += k
        return buf

    def handle(self):
        try:
            while True:
                head = self.recv_exact(16)
                length, request_id, _, op = struct.unpack('<iiii', head)
                if length < 16 or length > MAX_MESSAGE:
                    raise Closed('bad message length %d' % length)
                buf = head + self.recv_exact(length - 16)
                out = self.one(buf, request_id, op, length)
                if out:
                    self.request.sendall(out)
        except (Closed, OSError, struct.error, bson.errors.BSONError, UnicodeError) as e:
            if ARGS.verbose:
                print('connection %d: %s' % (self.conn_id, e), file=sys.stderr)
        except Exception as e:  # whatever a client sends ends its connection only
            print('connection %d: %s: %s' % (self.conn_id, type(e).__name__, e),
                  file=sys.stderr)

    def one(self, buf, request_id, op, length):
        self.big = length > MAX_BSON
        if op == OP_MSG:
            if length < 21:
                raise Closed('short OP_MSG')
            flags, cmd = parse_msg(buf)
            reply = run_command(cmd, self)
            return None if flags & 2 else reply_msg(request_id, reply)
        if op == OP_QUERY:
            return handle_query(buf, request_id, self)
        raise Closed('unsupported opcode %d' % op)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    global ARGS, SCRAM
    p = argparse.ArgumentParser(description='an in-memory MongoDB test peer (mongomock)')
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, default=0)
    p.add_argument('--user')
    p.add_argument('--password')
    p.add_argument('--verbose', action='store_true')
    ARGS = p.parse_args()
    if bool(ARGS.user) != (ARGS.password is not None):
        p.error('--user and --password go together')
    if ARGS.user:
        SCRAM = scram.Scram(ARGS.user, ARGS.password)
    fast.install()
    server = Server((ARGS.host, ARGS.port), Handler)
    print('READY port=%d' % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass


if __name__ == '__main__':
    main()
