/*
 * app.js - the core of the single-page app: the API client (the key lives
 * in sessionStorage, so only for this tab), the caller's permissions, the
 * hash router and the live updates read from /api/v1/events with fetch()
 * streaming (EventSource cannot send the Authorization header).
 */
'use strict';

(function () {
  var KEY = 'genbox.key';
  var h = GB.h;

  GB.state = {caller: null, org: null, view: null, seq: 0, lastEvent: null};
  GB.routes = {};	/* name -> function (main, args, query) returning a refresh function */

  GB.key = function () {
    return sessionStorage.getItem(KEY);
  };

  GB.ApiError = function (status, code, message) {
    this.status = status;
    this.code = code;
    this.message = message;
  };

  /* fetch a path of /api/v1; resolves with the JSON body (null for 204) */
  GB.api = function (method, path, body) {
    var opts = {method: method, headers: {Authorization: 'Bearer ' + GB.key()},
        cache: 'no-store'};
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch('/api/v1' + path, opts).then(function (res) {
      if (res.status === 204)
        return null;
      return res.text().then(function (text) {
        var js = null;
        try {
          js = text ? JSON.parse(text) : null;
        } catch (e) {
          js = null;
        }
        if (res.ok)
          return js;
        var err = js && js.error ? js.error : {};
        if (res.status === 401 && path !== '/organization')
          GB.signOut('the key was refused: ' + (err.message || 'unauthorized'));
        throw new GB.ApiError(res.status, err.code || 'http_' + res.status,
            (err.message || res.statusText || 'request failed') +
            (err.reset_at ? ' (resets at ' + err.reset_at + ')' : ''));
      });
    });
  };

  GB.qs = function (obj) {
    var parts = [];
    Object.keys(obj).forEach(function (k) {
      if (obj[k] !== '' && obj[k] !== null && obj[k] !== undefined)
        parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(obj[k]));
    });
    return parts.length ? '?' + parts.join('&') : '';
  };

  GB.canWrite = function () {
    var c = GB.state.caller;
    return !!(c && c.permissions && c.permissions.indexOf('write') >= 0);
  };
  GB.isAdmin = function () {
    return !!(GB.state.caller && GB.state.caller.admin) && GB.canWrite();
  };

  var flashTimer = null;
  GB.flash = function (text, kind) {
    var el = document.getElementById('flash');
    el.textContent = text;
    el.className = 'flash ' + (kind || 'info');
    el.hidden = false;
    el.setAttribute('data-testid', 'flash');
    clearTimeout(flashTimer);
    flashTimer = setTimeout(function () { el.hidden = true; }, kind === 'error' ? 12000 : 5000);
  };
  GB.fail = function (e) {
    GB.flash(e && e.message ? e.message : String(e), 'error');
  };

  /* A confirmation dialog; resolves true or false. */
  GB.confirm = function (text, okLabel) {
    return new Promise(function (resolve) {
      var dlg = h('dialog', {class: 'confirm', 'data-testid': 'confirm-dialog'});
      function done(v) {
        dlg.close();
        dlg.remove();
        resolve(v);
      }
      GB.append(dlg, [h('p', {'data-testid': 'confirm-text'}, text),
          h('div', {class: 'actions'},
          h('button', {type: 'button', 'data-testid': 'confirm-no',
              onclick: function () { done(false); }}, 'Back'),
          h('button', {type: 'button', class: 'danger', 'data-testid': 'confirm-ok',
              onclick: function () { done(true); }}, okLabel || 'OK'))]);
      dlg.addEventListener('cancel', function () { done(false); });
      document.body.appendChild(dlg);
      dlg.showModal();
    });
  };

  /* ---- sign in and out ---- */

  GB.signIn = function (token) {
    sessionStorage.setItem(KEY, token);
    return GB.api('GET', '/organization').then(function (org) {
      GB.state.org = org;
      GB.state.caller = org.caller || {};
      var c = GB.state.caller;
      document.getElementById('who').textContent = (c.user_id || '?') + ' · ' +
          (org.name || org._id || '') + ' · ' + (c.permissions || []).join('+') +
          (c.admin ? ' · admin' : '');
      document.getElementById('who').setAttribute('data-testid', 'who');
      document.getElementById('nav').hidden = false;
      document.getElementById('signout').hidden = false;
      document.body.classList.toggle('readonly', !GB.canWrite());
      GB.live.start();
    }, function (e) {
      sessionStorage.removeItem(KEY);
      throw e;
    });
  };

  GB.signOut = function (why) {
    sessionStorage.removeItem(KEY);
    GB.state.caller = GB.state.org = null;
    GB.live.stop();
    document.getElementById('nav').hidden = true;
    document.getElementById('signout').hidden = true;
    document.getElementById('who').textContent = '';
    if (why)
      GB.flash(why, 'error');
    if (location.hash !== '#/login')
      location.hash = '#/login';
    else
      GB.route();
  };

  GB.routes.login = function (main) {
    var input = h('input', {type: 'password', id: 'apikey', name: 'apikey',
        autocomplete: 'off', required: true, 'data-testid': 'login-key',
        placeholder: 'key_0123456789abcdef.secret'});
    var msg = h('p', {class: 'error', 'data-testid': 'login-error'});
    var form = h('form', {class: 'card login', 'data-testid': 'login-form'},
        h('h1', null, 'Sign in'),
        h('label', {for: 'apikey'}, 'API key'), input,
        h('p', {class: 'hint'}, 'The key is kept in this tab only (sessionStorage).'),
        h('button', {type: 'submit', 'data-testid': 'login-submit'}, 'Sign in'), msg);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      msg.textContent = '';
      GB.signIn(input.value.trim()).then(function () {
        var to = GB.state.after || '#/';
        GB.state.after = null;
        if (location.hash === to)
          GB.route();
        else
          location.hash = to;
      }, function (e) {
        msg.textContent = e.message || String(e);
      });
    });
    main.appendChild(form);
    input.focus();
    return null;
  };

  /* ---- router: #/name/arg1/arg2?query ---- */

  GB.parseHash = function () {
    var raw = location.hash.replace(/^#\/?/, '');
    var q = {}, i = raw.indexOf('?');
    if (i >= 0) {
      new URLSearchParams(raw.slice(i + 1)).forEach(function (v, k) { q[k] = v; });
      raw = raw.slice(0, i);
    }
    var parts = raw.split('/').filter(Boolean).map(decodeURIComponent);
    return {name: parts[0] || 'dashboard', args: parts.slice(1), query: q};
  };

  GB.go = function (name, args, query) {
    var path = '#/' + [name].concat((args || []).map(encodeURIComponent)).join('/');
    location.hash = path + GB.qs(query || {});
  };

  GB.route = function () {
    var r = GB.parseHash();
    /* a fresh box per view: late answers for the last view land in a detached box */
    var main = GB.h('div', {class: 'view'});
    GB.clear(document.getElementById('main')).appendChild(main);
    if (!GB.key() || !GB.state.caller) {
      if (r.name !== 'login')
        GB.state.after = location.hash;	/* where to go once signed in */
      r = {name: 'login', args: [], query: {}};
    }
    var view = GB.routes[r.name] || GB.routes.notfound;
    document.querySelectorAll('#nav a').forEach(function (a) {
      a.classList.toggle('current', a.getAttribute('data-route') === r.name);
    });
    document.getElementById('main').setAttribute('data-view', r.name);
    GB.state.view = {name: r.name, refresh: null, onEvent: null};
    var state = GB.state.view;
    try {
      state.refresh = view(main, r.args, r.query) || null;
    } catch (e) {
      GB.fail(e);
    }
  };

  GB.routes.notfound = function (main) {
    main.appendChild(h('p', null, 'No such page. ', h('a', {href: '#/'}, 'Dashboard')));
  };

  /* ---- live updates ---- */

  GB.live = (function () {
    var ctl = null, retry = 1000, timer = null, pending = false, lastRefresh = 0;
    var indicator = function (text, cls) {
      var el = document.getElementById('live');
      el.textContent = text;
      el.className = 'live ' + cls;
    };

    function dispatch(name, data) {
      if (name !== 'update')
        return;
      var js;
      try {
        js = JSON.parse(data);
      } catch (e) {
        return;
      }
      GB.state.seq = js.seq;
      GB.state.lastEvent = js;
      document.getElementById('live').setAttribute('data-seq', String(js.seq));
      var v = GB.state.view;
      if (v && v.onEvent) {
        try {
          v.onEvent(js);
        } catch (e) { /* a view's listener must not stop the stream */ }
      }
      scheduleRefresh();
    }

    /* refresh the current view's data, at most once a second */
    function scheduleRefresh() {
      if (pending)
        return;
      pending = true;
      setTimeout(function () {
        var v = GB.state.view;
        pending = false;
        lastRefresh = Date.now();
        if (v && v.refresh)
          v.refresh();
      }, Math.max(0, 1000 - (Date.now() - lastRefresh)));
    }

    /* split the stream into events: blank line ends one */
    function parse(buf, push) {
      var idx;
      while ((idx = buf.search(/\r?\n\r?\n/)) >= 0) {
        var block = buf.slice(0, idx), name = 'message', data = [];
        buf = buf.slice(idx).replace(/^\r?\n\r?\n/, '');
        block.split(/\r?\n/).forEach(function (line) {
          if (line === '' || line[0] === ':')
            return;
          var c = line.indexOf(':');
          var field = c < 0 ? line : line.slice(0, c);
          var val = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
          if (field === 'event')
            name = val;
          else if (field === 'data')
            data.push(val);
        });
        if (data.length)
          push(name, data.join('\n'));
      }
      return buf;
    }

    function connect() {
      var my = new AbortController();
      ctl = my;
      indicator('connecting', 'wait');
      fetch('/api/v1/events', {headers: {Authorization: 'Bearer ' + GB.key(),
          Accept: 'text/event-stream'}, signal: my.signal, cache: 'no-store'})
          .then(function (res) {
        if (res.status === 401) {
          ctl = null;
          GB.signOut('the key was refused by the event stream');
          return;
        }
        if (!res.ok || !res.body)
          throw new Error('events: HTTP ' + res.status);
        indicator('live', 'on');
        retry = 1000;
        scheduleRefresh();	/* what changed while the stream was down */
        var reader = res.body.getReader(), dec = new TextDecoder(), buf = '';
        function pump() {
          return reader.read().then(function (r) {
            if (r.done)
              return;
            buf = parse(buf + dec.decode(r.value, {stream: true}), dispatch);
            return pump();
          });
        }
        return pump();
      }).then(function () {
        ended(my);
      }, function () {
        ended(my);
      });
    }

    function ended(my) {
      if (ctl !== my)
        return;	/* stopped on purpose */
      ctl = null;
      indicator('reconnecting', 'wait');
      clearTimeout(timer);
      timer = setTimeout(start, retry);
      retry = Math.min(retry * 2, 15000);
    }

    function start() {
      clearTimeout(timer);
      if (ctl || !GB.key() || !GB.state.caller)
        return;
      if (document.hidden) {
        indicator('paused', 'off');
        return;
      }
      connect();
    }

    function stop() {
      clearTimeout(timer);
      if (ctl) {
        var c = ctl;
        ctl = null;
        c.abort();
      }
      indicator(GB.key() ? 'paused' : 'offline', 'off');
    }

    document.addEventListener('visibilitychange', function () {
      if (document.hidden)
        stop();
      else {
        start();
        scheduleRefresh();	/* catch up on what changed while hidden */
      }
    });
    return {start: start, stop: stop, parse: parse, running: function () { return !!ctl; }};
  })();
})();
