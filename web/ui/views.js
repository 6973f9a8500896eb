/*
 * views.js - the dashboard (counts, the last hour's throughput, workers and
 * their heartbeats, sync, the box's jobs and its database file) and the
 * batches (progress, pause and resume, a form that submits a new batch).
 */
'use strict';

(function () {
  var h = GB.h;
  var STATUSES = ['pending', 'processing', 'completed', 'failed', 'cancelled'];
  GB.STATUSES = STATUSES;

  /* ---- dashboard ---- */

  function countCards(counts) {
    return h('div', {class: 'cards', 'data-testid': 'counts'}, STATUSES.map(function (st) {
      return h('a', {class: 'card count st-' + st, href: '#/contexts?status=' + st,
          'data-testid': 'count-' + st},
          h('span', {class: 'n'}, String(counts && counts[st] !== undefined ? counts[st] : '-')),
          h('span', {class: 'what'}, st));
    }));
  }

  function workersTable(w) {
    var rows = (w && w.workers) || [];
    return GB.table([
      {title: 'worker', get: function (r) { return r.worker_id || r._id || '-'; }},
      {title: 'host', get: function (r) { return r.host || '-'; }},
      {title: 'status', get: function (r) { return GB.badge(r.status); }},
      {title: 'last heartbeat', get: function (r) {
        return h('time', {datetime: r.last_heartbeat || '', title: GB.fmtTime(r.last_heartbeat)},
            GB.fmtAgo(r.last_heartbeat));
      }},
      {title: 'working on', get: function (r) {
        var n = r.processing_count || 0;
        return h('span', {'data-testid': 'worker-processing'},
            n === 1 ? '1 context' : n + ' contexts');
      }}
    ], rows, 'workers-table');
  }

  /* ---- sync with the cluster: the state, then per collection ---- */

  function syncAge(sec) {
    if (sec === null || sec === undefined)
      return '-';
    if (sec < 120)
      return sec + ' s';
    if (sec < 7200)
      return Math.round(sec / 60) + ' min';
    return Math.round(sec / 3600) + ' h';
  }

  function syncPanel(sy) {
    if (!sy)
      return h('p', {class: 'hint'}, '-');
    var state = h('span', {class: 'badge sync-' + sy.state, 'data-testid': 'sync-state'},
        sy.state);
    var head = h('p', null, 'State ', state, ' outbox ',
        h('span', {'data-testid': 'sync-outbox'}, String(sy.outbox_depth || 0)),
        sy.outbox_oldest_s !== null && sy.outbox_oldest_s !== undefined ?
        ', oldest ' + syncAge(sy.outbox_oldest_s) : '',
        typeof sy.clock_skew_ms === 'number' ? h('span', {'data-testid': 'sync-clock'},
            ', clock ' + sy.clock_skew_ms + ' ms from MongoDB\'s') : '');
    var warn = sy.warning ? h('p', {class: 'warning', role: 'alert',
        'data-testid': 'sync-warning'}, sy.warning) : null;
    var clock = sy.clock_warning ? h('p', {class: 'warning', role: 'alert',
        'data-testid': 'sync-clock-warning'}, sy.clock_warning) : null;
    if (sy.state === 'off')
      return h('div', {'data-testid': 'sync-panel'}, head, warn,
          h('p', {class: 'hint'}, 'No cluster configured ([cluster] mongo_uri).'));
    var err = sy.last_error ? h('p', {class: 'warning', 'data-testid': 'sync-error'},
        'Last error (' + GB.fmtAgo(sy.last_error_at) + '): ' + sy.last_error) : null;
    var table = GB.table([
      {title: 'collection', get: function (r) { return r.collection; }},
      {title: 'outbox', get: function (r) { return String(r.outbox_depth); }},
      {title: 'push lag', get: function (r) { return syncAge(r.outbox_oldest_s); }},
      {title: 'last push', get: function (r) { return GB.fmtAgo(r.last_push); }},
      {title: 'last pull', get: function (r) { return GB.fmtAgo(r.last_pull); }},
      {title: 'pushed', get: function (r) { return String(r.pushed); }},
      {title: 'pulled', get: function (r) { return String(r.pulled); }},
      {title: 'conflicts', get: function (r) { return String(r.conflicts); }},
      {title: 'rejected', get: function (r) { return String(r.rejected); }},
      {title: 'checkpoint', get: function (r) {
        var cp = r.checkpoint || {};
        return cp.updated_at ? h('span', {title: cp._id || ''}, GB.fmtTime(cp.updated_at)) :
            'from the start';
      }},
      {title: 'last error', cls: 'err', get: function (r) {
        return r.last_error ? GB.fmtAgo(r.last_error_at) + ': ' + r.last_error : '-';
      }}
    ], sy.collections || [], 'sync-table');
    var rej = (sy.rejected || []).length ? [h('h3', null, 'Rejected by the cluster'),
      GB.table([
        {title: 'collection', get: function (r) { return r.collection; }},
        {title: '_id', get: function (r) { return r._id; }},
        {title: 'when', get: function (r) { return GB.fmtTime(r.at); }},
        {title: 'error', cls: 'err', get: function (r) { return r.error; }}
      ], sy.rejected, 'sync-rejected')] : null;
    return h('div', {'data-testid': 'sync-panel'}, head, warn, clock, err, table, rej);
  }

  /* ---- the box's own jobs (archive, backup, checks, migrations) and its file ---- */

  function fmtBytes(n) {
    if (n === null || n === undefined)
      return '-';
    if (n < 1024)
      return n + ' B';
    if (n < 1048576)
      return (n / 1024).toFixed(1) + ' KiB';
    if (n < 1073741824)
      return (n / 1048576).toFixed(1) + ' MiB';
    return (n / 1073741824).toFixed(2) + ' GiB';
  }

  function jobCounts(c) {
    return Object.keys(c || {}).map(function (k) { return k + ' ' + c[k]; }).join(', ') || '-';
  }

  function jobsPanel(jobs, db) {
    var d = db || {};
    var file = h('p', {'data-testid': 'db-figures'}, 'Database file ',
        h('span', {'data-testid': 'db-file'}, fmtBytes(d.file_bytes)), ', WAL ',
        h('span', {'data-testid': 'db-wal'}, fmtBytes(d.wal_bytes)), ', ',
        String(d.free_pages !== undefined ? d.free_pages : '-') + ' free pages (' +
        fmtBytes(d.page_size) + ' each)');
    var warns = (jobs || []).filter(function (j) { return j.warning || !j.ok && j.last_finished; })
        .map(function (j) {
          return h('p', {class: 'warning', 'data-testid': 'job-warning'}, j.job + ': ' +
              (j.warning || 'the last run failed' + (j.error ? ': ' + j.error : '')));
        });
    if (!jobs || !jobs.length)
      return h('div', {'data-testid': 'jobs-panel'}, file,
          h('p', {class: 'hint'}, 'No job has run yet.'));
    var table = GB.table([
      {title: 'job', get: function (r) { return r.job; }},
      {title: 'state', get: function (r) {
        var st = r.running ? ['processing', 'running'] : !r.last_finished ? ['pending', '-'] :
            r.ok ? ['completed', 'ok'] : ['failed', 'failed'];
        return h('span', {class: 'badge st-' + st[0], 'data-testid': 'job-state'}, st[1]);
      }},
      {title: 'last run', get: function (r) { return GB.fmtAgo(r.last_run); }},
      {title: 'last success', get: function (r) { return GB.fmtAgo(r.last_success); }},
      {title: 'counts', get: function (r) { return jobCounts(r.counts); }},
      {title: 'error', cls: 'err', get: function (r) { return r.error || '-'; }}
    ], jobs, 'jobs-table');
    return h('div', {'data-testid': 'jobs-panel'}, file, warns, table);
  }

  GB.routes.dashboard = function (main) {
    var countsBox = h('div'), chartBox = h('div', {class: 'card'}), workersBox = h('div');
    var warnBox = h('div'), syncBox = h('div'), jobsBox = h('div');
    var usageBox = h('p', {class: 'hint', 'data-testid': 'usage'});
    GB.append(main, [h('h1', null, 'Dashboard'), warnBox, countsBox, usageBox,
        h('h2', null, 'Throughput, last hour'), chartBox,
        h('h2', null, 'Workers ', h('small', {'data-testid': 'workers-alive'})), workersBox,
        h('h2', null, 'Sync with the cluster'), syncBox, h('h2', null, 'Jobs'), jobsBox]);

    function render(d, w) {
      GB.clear(countsBox).appendChild(countCards(d.counts));
      GB.clear(chartBox).appendChild(GB.throughputChart(d.throughput || []));
      var warning = (w && w.warning) || (d.workers && d.workers.warning);
      GB.clear(warnBox);
      if (warning)
        warnBox.appendChild(h('p', {class: 'warning', role: 'alert',
            'data-testid': 'no-worker-warning'}, warning));
      main.querySelector('[data-testid=workers-alive]').textContent =
          (w ? w.alive : (d.workers || {}).alive) + ' alive' +
          (w && w.pending !== undefined ? ', ' + w.pending + ' pending' : '');
      GB.clear(workersBox).appendChild(workersTable(w));
      GB.clear(syncBox).appendChild(syncPanel(d.sync));
      GB.clear(jobsBox).appendChild(jobsPanel(d.jobs, d.database));
    }
    function usage(org) {
      var u = org && org.usage;
      if (!u)
        return;
      usageBox.textContent = 'Created today: ' + u.contexts_today +
          (u.max_contexts_per_day !== null && u.max_contexts_per_day !== undefined ?
          ' of ' + u.max_contexts_per_day + ' allowed' : '') +
          (u.resets_at ? ' (the count resets at ' + GB.fmtTime(u.resets_at) + ')' : '');
    }
    function refresh() {
      return Promise.all([GB.api('GET', '/dashboard'), GB.api('GET', '/workers'),
          GB.api('GET', '/organization')]).then(function (r) {
        if (!main.isConnected)
          return;
        render(r[0], r[1]);
        usage(r[2]);
      }, GB.fail);
    }
    GB.state.view.onEvent = function (ev) {
      if (ev.counts)
        GB.clear(countsBox).appendChild(countCards(ev.counts));
    };
    refresh();
    return refresh;
  };

  /* ---- batches ---- */

  function ended(s) {
    return (s.completed || 0) + (s.failed || 0) + (s.cancelled || 0);
  }

  function batchProgress(b) {
    var s = b.summary || {};
    var bar = GB.progress(ended(s), s.total || 0, 'batch-progress');
    /* completed in green from the left, then failed and cancelled in red */
    var okShare = s.total ? (s.completed || 0) * 100 / s.total : 0;
    var failedShare = s.total ? ((s.failed || 0) + (s.cancelled || 0)) * 100 / s.total : 0;
    bar.firstChild.style.width = okShare + '%';
    if (failedShare > 0) {
      var f = h('div', {class: 'fill-failed'});
      f.style.left = okShare + '%';
      f.style.width = failedShare + '%';
      bar.insertBefore(f, bar.firstChild.nextSibling);
    }
    bar.setAttribute('title', STATUSES.map(function (st) {
      return st + ' ' + (s[st] || 0);
    }).join(', '));
    return bar;
  }

  function batchActions(b, onChange) {
    if (!GB.canWrite())
      return null;
    var paused = !!b.paused, done = b.status === 'completed' || b.status === 'failed';
    var btn = h('button', {type: 'button', class: 'small',
        'data-testid': paused ? 'batch-resume' : 'batch-pause', disabled: done && !paused},
        paused ? 'Resume' : 'Pause');
    btn.addEventListener('click', function () {
      btn.disabled = true;
      GB.api('POST', '/batches/' + encodeURIComponent(b._id) + (paused ? '/resume' : '/pause'))
          .then(function (nb) {
        GB.flash((nb.paused ? 'paused ' : 'resumed ') + nb._id);
        onChange(nb);
      }, function (e) {
        btn.disabled = false;
        GB.fail(e);
      });
    });
    return btn;
  }

  function batchRow(b, onChange) {
    var tr = h('tr', {'data-batch-id': b._id, 'data-testid': 'batch-row'});
    GB.append(tr, [
      h('td', null, h('a', {href: '#/contexts?batch_id=' + encodeURIComponent(b._id),
          'data-testid': 'batch-link'}, b.name || b._id), h('div', {class: 'mono sub'}, b._id)),
      h('td', {class: 'mono'}, b.pipeline_id || '-'),
      h('td', null, GB.badge(b.status), b.paused ? h('span', {class: 'badge st-paused',
          'data-testid': 'batch-paused'}, 'paused') : null),
      h('td', {class: 'wide'}, batchProgress(b)),
      h('td', null, GB.fmtTime(b.created_at)),
      h('td', null, batchActions(b, onChange))]);
    return tr;
  }

  function batchForm(pipelines, onCreated) {
    var sel = h('select', {id: 'batch-pipeline', 'data-testid': 'batch-pipeline', required: true},
        pipelines.map(function (p) {
      return h('option', {value: p._id}, (p.name || p._id) + ' (' + p._id + ')');
    }));
    var def = GB.state.org && GB.state.org.settings && GB.state.org.settings.default_pipeline_id;
    if (def)
      sel.value = def;
    var name = h('input', {id: 'batch-name', type: 'text', 'data-testid': 'batch-name',
        placeholder: 'optional'});
    var text = h('textarea', {id: 'batch-input', rows: 6, required: true,
        'data-testid': 'batch-input',
        placeholder: 'One title per line, or one JSON context per line:\n' +
        '{"data": {"title": "Caching at the edge", "tone": "friendly"}}'});
    var form = h('form', {class: 'card', 'data-testid': 'batch-form'},
        h('h2', null, 'New batch'),
        h('label', {for: 'batch-pipeline'}, 'Pipeline'), sel,
        h('label', {for: 'batch-name'}, 'Name'), name,
        h('label', {for: 'batch-input'}, 'Contexts'), text,
        h('button', {type: 'submit', 'data-testid': 'batch-submit'}, 'Submit batch'));
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var contexts;
      try {
        contexts = parseContexts(text.value);
      } catch (e) {
        GB.flash(e.message, 'error');
        return;
      }
      var body = {pipeline_id: sel.value, contexts: contexts};
      if (name.value.trim())
        body.name = name.value.trim();
      form.querySelector('button').disabled = true;
      GB.api('POST', '/batches', body).then(function (b) {
        form.querySelector('button').disabled = false;
        text.value = '';
        name.value = '';
        GB.flash('batch ' + b._id + ' created with ' + contexts.length +
            (contexts.length === 1 ? ' context' : ' contexts'));
        onCreated(b);
      }, function (e) {
        form.querySelector('button').disabled = false;
        GB.fail(e);
      });
    });
    return form;
  }

  /* lines: a title each, or a JSON object (a context input) each */
  function parseContexts(text) {
    var out = [];
    text.split(/\r?\n/).forEach(function (line, i) {
      line = line.trim();
      if (!line)
        return;
      if (line[0] === '{') {
        var js;
        try {
          js = JSON.parse(line);
        } catch (e) {
          throw new Error('line ' + (i + 1) + ': not JSON: ' + e.message);
        }
        out.push(js);
      } else {
        out.push({data: {title: line}});
      }
    });
    if (!out.length)
      throw new Error('no contexts: write one title per line');
    return out;
  }
  GB.parseContexts = parseContexts;

  GB.routes.batches = function (main, args, query) {
    var tbody = h('tbody'), pager = h('div', {class: 'pager'}), formBox = h('div');
    var filter = h('select', {'data-testid': 'batch-status-filter'},
        h('option', {value: ''}, 'any status'),
        ['pending', 'processing', 'completed', 'failed', 'cancelled'].map(function (s) {
      return h('option', {value: s}, s);
    }));
    filter.value = query.status || '';
    filter.addEventListener('change', function () {
      GB.go('batches', [], {status: filter.value});
    });
    var table = h('table', {class: 'grid', 'data-testid': 'batches-table'},
        h('thead', null, h('tr', null, ['batch', 'pipeline', 'status', 'progress', 'created', '']
        .map(function (t) { return h('th', null, t); }))), tbody);
    GB.append(main, [h('h1', null, 'Batches'), formBox,
        h('div', {class: 'toolbar'}, h('label', null, 'Status ', filter)), table, pager]);

    var cursors = [query.cursor || ''];	/* cursor of each page seen, for "previous" */
    function replaceRow(b) {
      known[b._id] = b;
      var old = tbody.querySelector('tr[data-batch-id="' + CSS.escape(b._id) + '"]');
      var row = batchRow(b, replaceRow);
      if (old) {
        tbody.replaceChild(row, old);
        return;
      }
      tbody.querySelectorAll('td.empty').forEach(function (td) { td.parentNode.remove(); });
      tbody.insertBefore(row, tbody.firstChild);
    }
    function load() {
      var cur = cursors[cursors.length - 1];
      return GB.api('GET', '/batches' + GB.qs({status: query.status, limit: 20, cursor: cur}))
          .then(function (r) {
        GB.clear(tbody);
        r.items.forEach(function (b) {
          known[b._id] = b;
          tbody.appendChild(batchRow(b, replaceRow));
        });
        if (!r.items.length)
          tbody.appendChild(h('tr', null, h('td', {colspan: 6, class: 'empty'}, 'no batches')));
        GB.clear(pager);
        pager.appendChild(h('button', {type: 'button', 'data-testid': 'batches-prev',
            disabled: cursors.length < 2, onclick: function () {
          cursors.pop();
          load();
        }}, '← Newer'));
        pager.appendChild(h('button', {type: 'button', 'data-testid': 'batches-next',
            disabled: !r.next_cursor, onclick: function () {
          cursors.push(r.next_cursor);
          load();
        }}, 'Older →'));
      }, GB.fail);
    }
    if (GB.canWrite())
      GB.api('GET', '/pipelines?limit=200').then(function (r) {
        formBox.appendChild(batchForm(r.items || [], function (b) {
          if (cursors.length === 1)
            replaceRow(b);
        }));
      }, GB.fail);
    var known = {};	/* _id -> the batch as last shown */
    GB.state.view.onEvent = function (ev) {
      (ev.batches || []).forEach(function (b) {
        var k = known[b._id];
        if (!k)
          return;
        k.status = b.status;
        k.summary = b.summary;
        k.paused = b.paused;
        replaceRow(k);
      });
    };
    load();
    return load;
  };
})();
