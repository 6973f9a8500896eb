/*
 * contexts.js - the contexts: a filtered, searchable, paged list with bulk
 * retry and cancel of what the filter matches (after a dry run that counts
 * them), and one context's page: its rendered output, its component timings,
 * its attempts, retry and cancel.
 */
'use strict';

(function () {
  var h = GB.h;
  var FILTER_KEYS = ['status', 'type', 'batch_id', 'user_id', 'created_after', 'created_before',
    'q'];

  function filterOf(query) {
    var f = {};
    FILTER_KEYS.forEach(function (k) {
      if (query[k])
        f[k] = query[k];
    });
    return f;
  }

  /* datetime-local (taken as UTC) <-> ISO */
  function toIso(v) {
    return v ? v + (v.length === 16 ? ':00Z' : 'Z') : '';
  }
  function fromIso(v) {
    return v ? String(v).replace(/Z$/, '').slice(0, 19) : '';
  }

  function filterForm(query) {
    var statusBoxes = GB.STATUSES.map(function (st) {
      var cb = h('input', {type: 'checkbox', value: st, 'data-testid': 'filter-status-' + st,
          checked: (query.status || '').split(',').indexOf(st) >= 0});
      return h('label', {class: 'check'}, cb, ' ' + st);
    });
    function input(name, label, type) {
      var v = query[name] || '';
      var el = h('input', {type: type || 'text', name: name, id: 'f-' + name,
          'data-testid': 'filter-' + name, value: type === 'datetime-local' ? fromIso(v) : v});
      if (type === 'datetime-local')
        el.step = 1;
      return h('div', {class: 'field'}, h('label', {for: 'f-' + name}, label), el);
    }
    var limit = h('select', {id: 'f-limit', 'data-testid': 'filter-limit'},
        [10, 25, 50, 100, 200].map(function (n) { return h('option', {value: n}, String(n)); }));
    limit.value = query.limit || '25';
    var form = h('form', {class: 'card filters', 'data-testid': 'contexts-filter'},
        h('div', {class: 'field grow'}, h('label', {for: 'f-q'}, 'Search titles'),
        h('input', {type: 'search', id: 'f-q', name: 'q', value: query.q || '',
        'data-testid': 'filter-q'})),
        h('div', {class: 'field'}, h('span', {class: 'label'}, 'Status'),
        h('div', {class: 'checks'}, statusBoxes)),
        input('type', 'Type'), input('batch_id', 'Batch'), input('user_id', 'User'),
        input('created_after', 'Created after (UTC)', 'datetime-local'),
        input('created_before', 'Created before (UTC)', 'datetime-local'),
        h('div', {class: 'field'}, h('label', {for: 'f-limit'}, 'Page size'), limit),
        h('div', {class: 'field buttons'},
        h('button', {type: 'submit', 'data-testid': 'filter-apply'}, 'Apply'),
        h('a', {href: '#/contexts', class: 'button'}, 'Clear')));
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var q = {};
      q.status = statusBoxes.map(function (l) { return l.firstChild; })
          .filter(function (c) { return c.checked; })
          .map(function (c) { return c.value; }).join(',');
      ['q', 'type', 'batch_id', 'user_id'].forEach(function (k) {
        q[k] = form.querySelector('[name=' + k + ']').value.trim();
      });
      ['created_after', 'created_before'].forEach(function (k) {
        q[k] = toIso(form.querySelector('[name=' + k + ']').value);
      });
      q.limit = limit.value;
      GB.go('contexts', [], q);
    });
    return form;
  }

  function bulk(action, filter) {
    var body = {filter: filter, dry_run: true};
    var empty = !Object.keys(filter).length;
    if (empty)
      body.all = true;
    return GB.api('POST', '/contexts/' + action, body).then(function (r) {
      if (!r.matched) {
        GB.flash('no context matches the filter');
        return;
      }
      var text = (action === 'retry' ? 'Retry ' : 'Cancel ') + r.matched +
          (r.matched === 1 ? ' context' : ' contexts') +
          (empty ? ' (every context of the organization)' : ' that match the filter') + '?';
      return GB.confirm(text, action === 'retry' ? 'Retry ' + r.matched : 'Cancel ' + r.matched)
          .then(function (yes) {
        if (!yes)
          return;
        body.dry_run = false;
        return GB.api('POST', '/contexts/' + action, body).then(function (r2) {
          GB.flash((action === 'retry' ? 'retried ' : 'cancelled ') + r2.changed +
              ' of ' + r2.matched + (r2.matched === 1 ? ' matching context' :
              ' matching contexts'));
          if (GB.state.view.refresh)
            GB.state.view.refresh();
        });
      });
    }).catch(GB.fail);
  }

  var COLS = [
    {title: 'context', get: function (c) {
      return [h('a', {href: '#/contexts/' + encodeURIComponent(c._id),
          'data-testid': 'context-link',
          'data-id': c._id}, c.title || '(untitled)'), h('div', {class: 'mono sub'}, c._id)];
    }},
    {title: 'type', get: function (c) { return c.type || '-'; }},
    {title: 'status', get: function (c) { return GB.badge(c.status); }},
    {title: 'batch', cls: 'mono', get: function (c) {
      return c.batch_id ? h('a', {href: '#/contexts?batch_id=' + encodeURIComponent(c.batch_id)},
          c.batch_id) : '-';
    }},
    {title: 'user', cls: 'mono', get: function (c) { return c.user_id || '-'; }},
    {title: 'created', get: function (c) { return GB.fmtTime(c.created_at); }},
    {title: 'retries', get: function (c) { return String(c.retry_count || 0); }},
    {title: 'error', cls: 'err', get: function (c) { return GB.errorText(c.error); }}
  ];

  GB.routes.contexts = function (main, args, query) {
    if (args.length)
      return GB.contextPage(main, args[0]);
    var filter = filterOf(query);
    var listBox = h('div'), pager = h('div', {class: 'pager'});
    var info = h('span', {class: 'hint', 'data-testid': 'contexts-page-info'});
    var tools = h('div', {class: 'toolbar'}, info);
    if (GB.isAdmin())
      GB.append(tools, [
          h('button', {type: 'button', 'data-testid': 'bulk-retry',
              onclick: function () { bulk('retry', filter); }}, 'Retry all matching…'),
          h('button', {type: 'button', class: 'danger', 'data-testid': 'bulk-cancel',
              onclick: function () { bulk('cancel', filter); }}, 'Cancel all matching…')]);
    GB.append(main, [h('h1', null, 'Contexts'), filterForm(query), tools, listBox, pager]);

    var cursors = [''];
    function load() {
      var q = Object.assign({}, filter, {limit: query.limit || 25,
          cursor: cursors[cursors.length - 1]});
      return GB.api('GET', '/contexts' + GB.qs(q)).then(function (r) {
        GB.clear(listBox).appendChild(GB.table(COLS, r.items, 'contexts-table', function (c) {
          return {'data-id': c._id, 'data-status': c.status, 'data-testid': 'context-row'};
        }));
        info.textContent = 'page ' + cursors.length + ', ' + r.items.length + ' shown';
        GB.clear(pager);
        pager.appendChild(h('button', {type: 'button', 'data-testid': 'contexts-prev',
            disabled: cursors.length < 2, onclick: function () {
          cursors.pop();
          load();
        }}, '← Previous'));
        pager.appendChild(h('button', {type: 'button', 'data-testid': 'contexts-next',
            disabled: !r.next_cursor, onclick: function () {
          cursors.push(r.next_cursor);
          load();
        }}, 'Next →'));
      }, GB.fail);
    }
    load();
    return load;
  };

  /* ---- one context ---- */

  function output(doc) {
    var fc = doc.data && doc.data.formatted_content;
    if (!fc || typeof fc.content !== 'string')
      return h('p', {class: 'hint', 'data-testid': 'ctx-output-none'}, 'no rendered output yet');
    if (fc.format === 'html') {
      /* no scripts, no same origin, no forms, no top navigation */
      var frame = h('iframe', {sandbox: '', class: 'output', title: 'rendered output',
          'data-testid': 'ctx-output', 'data-format': 'html', referrerpolicy: 'no-referrer'});
      frame.srcdoc = fc.content;
      return frame;
    }
    return h('pre', {class: 'output', 'data-testid': 'ctx-output', 'data-format': fc.format || ''},
        fc.content);
  }

  function actions(doc, reload) {
    if (!GB.canWrite())
      return null;
    var box = h('div', {class: 'toolbar'});
    function act(what) {
      return function (ev) {
        ev.target.disabled = true;
        GB.api('POST', '/contexts/' + encodeURIComponent(doc._id) + '/' + what).then(function (d) {
          GB.flash(doc._id + ': ' + d.status);
          reload(true);
        }, function (e) {
          ev.target.disabled = false;
          GB.fail(e);
        });
      };
    }
    if (doc.status === 'failed' || doc.status === 'cancelled')
      box.appendChild(h('button', {type: 'button', id: 'ctx-retry', 'data-testid': 'ctx-retry',
          onclick: act('retry')}, 'Retry'));
    if (doc.status === 'pending' || doc.status === 'processing')
      box.appendChild(h('button', {type: 'button', class: 'danger', id: 'ctx-cancel',
          'data-testid': 'ctx-cancel', onclick: act('cancel')}, 'Cancel'));
    return box;
  }

  function attemptsTable(tl) {
    return GB.table([
      {title: '#', get: function (a) { return String(a.attempt); }},
      {title: 'at', get: function (a) { return GB.fmtTime(a.at); }},
      {title: 'component', cls: 'mono', get: function (a) { return a.component || '-'; }},
      {title: 'error', cls: 'err', get: function (a) { return GB.errorText(a.error); }}
    ], (tl && tl.attempts) || [], 'attempts-table');
  }

  function facts(doc, tl) {
    var rows = [
      ['status', GB.badge(doc.status)], ['type', doc.type || '-'],
      ['batch', doc.batch_id ? h('a', {href: '#/contexts?batch_id=' +
          encodeURIComponent(doc.batch_id)}, doc.batch_id) : '-'],
      ['user', doc.user_id || '-'], ['created', GB.fmtTime(doc.created_at)],
      ['updated', GB.fmtTime(doc.updated_at)],
      ['started', GB.fmtTime(tl && tl.started_at)],
      ['completed', GB.fmtTime(tl && tl.completed_at)],
      ['duration', GB.fmtMs(tl && tl.duration_ms)], ['retries', String(doc.retry_count || 0)]];
    return h('dl', {class: 'facts'}, rows.map(function (r) {
      return [h('dt', null, r[0]), h('dd', null, r[1])];
    }));
  }

  GB.contextPage = function (main, id) {
    var last = null;
    var box = h('div', {'data-testid': 'context-page', 'data-id': id});
    main.appendChild(box);
    function load(force) {
      var path = '/contexts/' + encodeURIComponent(id);
      return Promise.all([GB.api('GET', path), GB.api('GET', path + '/timeline')])
          .then(function (r) {
        var doc = r[0], tl = r[1];
        var sig = doc.status + '|' + doc.updated_at;
        if (!force && sig === last)
          return;
        last = sig;
        GB.clear(box);
        box.setAttribute('data-status', doc.status);
        GB.append(box, [
            h('p', {class: 'crumbs'}, h('a', {href: '#/contexts'}, 'Contexts'), ' / ',
                h('span', {class: 'mono'}, doc._id)),
            h('h1', {'data-testid': 'ctx-title'}, (doc.data && doc.data.title) || doc._id),
            h('div', {'data-testid': 'ctx-status', 'data-status': doc.status},
                GB.badge(doc.status)),
            doc.error ? h('p', {class: 'error', 'data-testid': 'ctx-error'},
                GB.errorText(doc.error)) : null,
            actions(doc, load), facts(doc, tl),
            h('h2', null, 'Output'), output(doc),
            h('h2', null, 'Component timings'),
            h('div', {class: 'card'}, GB.timingsChart((tl && tl.components) || [])),
            h('h2', null, 'Attempts and errors'), attemptsTable(tl),
            h('details', null, h('summary', null, 'Document (JSON)'),
                h('pre', {class: 'json'}, JSON.stringify(doc, null, 2)))]);
      }, GB.fail);
    }
    load(true);
    return function () { return load(false); };
  };
})();
