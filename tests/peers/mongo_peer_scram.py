"""mongo_peer_scram.py - SCRAM-SHA-256 (RFC 5802, RFC 7677), the server side of
MongoDB's saslStart and saslContinue, for mongo-peer.py.

One Scram per configured user; a conversation's state is a dict the caller
keeps per connection. Any failure raises Failed (MongoDB answers code 18).
"""
import base64
import hashlib
import hmac
import os
import unicodedata

ITERATIONS = 15000      # MongoDB's default for SCRAM-SHA-256 (at least 4096)


class Failed(Exception):
    """Authentication failed."""


def _b64(data):
    return base64.b64encode(data).decode()


def _attrs(text):
    out = {}
    for part in text.split(','):
        if len(part) >= 2 and part[1] == '=':
            out[part[0]] = part[2:]
    return out


class Scram:
    def __init__(self, user, password):
        self.user = user
        # 28 bytes: the salt length MongoDB (and libmongoc's check) uses for SHA-256
        salt = hashlib.sha256(('genbox-peer:' + user).encode()).digest()[:28]
        self.salt = salt
        password = unicodedata.normalize('NFKC', password).encode()
        salted = hashlib.pbkdf2_hmac('sha256', password, salt, ITERATIONS)
        client_key = hmac.new(salted, b'Client Key', hashlib.sha256).digest()
        self.stored_key = hashlib.sha256(client_key).digest()
        self.server_key = hmac.new(salted, b'Server Key', hashlib.sha256).digest()

    def start(self, payload):
        """(state, server-first-message) for a client-first-message."""
        text = payload.decode('utf-8', 'replace')
        if not text.startswith('n,') or text.count(',') < 2:
            raise Failed()
        bare = text.split(',', 2)[2]
        a = _attrs(bare)
        user = a.get('n', '').replace('=2C', ',').replace('=3D', '=')
        if user != self.user or not a.get('r'):
            raise Failed()
        nonce = a['r'] + _b64(os.urandom(24))
        first = 'r=%s,s=%s,i=%d' % (nonce, _b64(self.salt), ITERATIONS)
        return {'bare': bare, 'first': first, 'nonce': nonce}, first.encode()

    def finish(self, state, payload):
        """The server-final-message for a client-final-message with a good proof."""
        text = payload.decode('utf-8', 'replace')
        a = _attrs(text)
        if a.get('r') != state['nonce'] or ',p=' not in text:
            raise Failed()
        without_proof = text[:text.rindex(',p=')]
        message = ','.join([state['bare'], state['first'], without_proof]).encode()
        signature = hmac.new(self.stored_key, message, hashlib.sha256).digest()
        try:
            proof = base64.b64decode(a['p'], validate=True)
        except ValueError:
            proof = b''
        if len(proof) != len(signature):
            raise Failed()
        client_key = bytes(x ^ y for x, y in zip(proof, signature))
        if not hmac.compare_digest(hashlib.sha256(client_key).digest(), self.stored_key):
            raise Failed()
        return ('v=' + _b64(hmac.new(self.server_key, message, hashlib.sha256).digest())).encode()
