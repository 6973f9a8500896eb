/*
 * admin.js - the catalog (templates, components, pipelines: lists, a JSON
 * view, and for admins create, replace and delete) and the API keys (list,
 * create showing the token once, revoke).
 */
'use strict';

(function () {
  var h = GB.h;
  var COLLS = ['pipelines', 'components', 'templates'];

  function tabs(current) {
    return h('nav', {class: 'tabs'}, COLLS.map(function (c) {
      return h('a', {href: '#/catalog/' + c, class: c === current ? 'current' : null,
          'data-testid': 'catalog-tab-' + c}, c);
    }));
  }

  function editor(coll, doc, onSaved) {
    var ta = h('textarea', {class: 'json', rows: 20, spellcheck: 'false',
        'data-testid': 'catalog-editor'});
    ta.value = JSON.stringify(doc || {_id: '', name: ''}, null, 2);
    var form = h('form', {class: 'card'}, ta, h('div', {class: 'toolbar'},
        h('button', {type: 'submit', 'data-testid': 'catalog-save'}, doc ? 'Save' : 'Create')));
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var body;
      try {
        body = JSON.parse(ta.value);
      } catch (e) {
        GB.flash('not JSON: ' + e.message, 'error');
        return;
      }
      var req = doc ? GB.api('PUT', '/' + coll + '/' + encodeURIComponent(doc._id), body)
          : GB.api('POST', '/' + coll, body);
      req.then(function (saved) {
        GB.flash('saved ' + (saved && saved._id));
        onSaved(saved);
      }, GB.fail);
    });
    return form;
  }

  function itemPage(main, coll, id) {
    main.appendChild(h('p', {class: 'crumbs'}, h('a', {href: '#/catalog/' + coll}, coll), ' / ',
        h('span', {class: 'mono'}, id)));
    var box = h('div');
    main.appendChild(box);
    GB.api('GET', '/' + coll + '/' + encodeURIComponent(id)).then(function (doc) {
      GB.append(box, [h('h1', null, doc.name || doc._id),
          h('pre', {class: 'json', 'data-testid': 'catalog-json'}, JSON.stringify(doc, null, 2))]);
      if (!GB.isAdmin())
        return;
      var tools = h('div', {class: 'toolbar'},
          h('button', {type: 'button', 'data-testid': 'catalog-edit', onclick: function () {
        GB.clear(box).appendChild(editor(coll, doc, function () { GB.route(); }));
          }}, 'Edit'),
          h('button', {type: 'button', class: 'danger', 'data-testid': 'catalog-delete',
        onclick: function () {
        GB.confirm('Delete ' + coll.replace(/s$/, '') + ' ' + doc._id + '?', 'Delete')
            .then(function (yes) {
          if (!yes)
            return;
          GB.api('DELETE', '/' + coll + '/' + encodeURIComponent(doc._id)).then(function () {
            GB.flash('deleted ' + doc._id);
            GB.go('catalog', [coll]);
          }, GB.fail);
        });
          }}, 'Delete'));
      box.insertBefore(tools, box.children[1]);
    }, GB.fail);
    return null;
  }

  GB.routes.catalog = function (main, args) {
    var coll = COLLS.indexOf(args[0]) >= 0 ? args[0] : 'pipelines';
    if (args[1])
      return itemPage(main, coll, args[1]);
    var listBox = h('div'), pager = h('div', {class: 'pager'}), cursors = [''];
    GB.append(main, [h('h1', null, 'Catalog'), tabs(coll)]);
    if (GB.isAdmin())
      main.appendChild(h('div', {class: 'toolbar'}, h('button', {type: 'button',
          'data-testid': 'catalog-new', onclick: function () {
        GB.clear(listBox).appendChild(editor(coll, null, function (d) {
          GB.go('catalog', [coll, d._id]);
        }));
        GB.clear(pager);
          }}, 'New ' + coll.replace(/s$/, ''))));
    GB.append(main, [listBox, pager]);
    function load() {
      GB.api('GET', '/' + coll + GB.qs({limit: 50, cursor: cursors[cursors.length - 1]}))
          .then(function (r) {
        GB.clear(listBox).appendChild(GB.table([
          {title: 'id', cls: 'mono', get: function (d) {
            return h('a', {href: '#/catalog/' + coll + '/' + encodeURIComponent(d._id),
                'data-testid': 'catalog-link'}, d._id);
          }},
          {title: 'name', get: function (d) { return d.name || '-'; }},
          {title: 'type', get: function (d) { return d.type || d.default_context_type || '-'; }},
          {title: 'active', get: function (d) {
            return d.is_active === false ? 'no' : 'yes';
          }},
          {title: 'updated', get: function (d) { return GB.fmtTime(d.updated_at); }}
        ], r.items, 'catalog-table'));
        GB.clear(pager);
        pager.appendChild(h('button', {type: 'button', disabled: cursors.length < 2,
            onclick: function () { cursors.pop(); load(); }}, '← Previous'));
        pager.appendChild(h('button', {type: 'button', disabled: !r.next_cursor,
            onclick: function () { cursors.push(r.next_cursor); load(); }}, 'Next →'));
      }, GB.fail);
    }
    load();
    return null;
  };

  /* ---- API keys ---- */

  function createForm(onCreated) {
    var name = h('input', {type: 'text', id: 'key-name', 'data-testid': 'key-name'});
    var user = h('input', {type: 'text', id: 'key-user', 'data-testid': 'key-user',
        placeholder: GB.state.caller.user_id});
    var perm = h('select', {id: 'key-perm', 'data-testid': 'key-perm'},
        h('option', {value: 'read'}, 'read'), h('option', {value: 'read,write'}, 'read and write'));
    var form = h('form', {class: 'card inline'}, h('h2', null, 'New key'),
        h('label', {for: 'key-name'}, 'Name'), name, h('label', {for: 'key-user'}, 'User'), user,
        h('label', {for: 'key-perm'}, 'Permissions'), perm,
        h('button', {type: 'submit', 'data-testid': 'key-create'}, 'Create key'));
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var body = {permissions: perm.value.split(',')};
      if (name.value.trim())
        body.name = name.value.trim();
      if (user.value.trim())
        body.user_id = user.value.trim();
      GB.api('POST', '/keys', body).then(function (k) {
        name.value = user.value = '';
        onCreated(k);
      }, GB.fail);
    });
    return form;
  }

  function tokenBox(k) {
    var code = h('code', {class: 'token', 'data-testid': 'new-token'}, k.token);
    var copy = h('button', {type: 'button', onclick: function () {
      navigator.clipboard.writeText(k.token).then(function () { GB.flash('copied'); }, GB.fail);
    }}, 'Copy');
    return h('div', {class: 'card notice', role: 'alert'},
        h('p', null, 'The key ' + k.key_id + ' was created. Its token is shown only now:'),
        code, ' ', copy);
  }

  GB.routes.keys = function (main) {
    var notice = h('div'), listBox = h('div');
    GB.append(main, [h('h1', null, 'API keys'), notice]);
    if (GB.isAdmin())
      main.appendChild(createForm(function (k) {
        GB.clear(notice).appendChild(tokenBox(k));
        load();
      }));
    main.appendChild(listBox);
    function revoke(k) {
      GB.confirm('Revoke ' + k.key_id + (k.name ? ' (' + k.name + ')' : '') +
          '? Clients using it are refused at once.', 'Revoke').then(function (yes) {
        if (!yes)
          return;
        GB.api('DELETE', '/keys/' + encodeURIComponent(k.key_id)).then(function () {
          GB.flash('revoked ' + k.key_id);
          load();
        }, GB.fail);
      });
    }
    function load() {
      GB.api('GET', '/keys?limit=200').then(function (r) {
        GB.clear(listBox).appendChild(GB.table([
          {title: 'key', cls: 'mono', get: function (k) { return k.key_id; }},
          {title: 'name', get: function (k) { return k.name || '-'; }},
          {title: 'user', cls: 'mono', get: function (k) { return k.user_id; }},
          {title: 'permissions', get: function (k) { return (k.permissions || []).join(', '); }},
          {title: 'created', get: function (k) { return GB.fmtTime(k.created_at); }},
          {title: 'last used', get: function (k) { return GB.fmtTime(k.last_used_at); }},
          {title: '', get: function (k) {
            if (k.revoked_at)
              return h('span', {class: 'badge st-cancelled'}, 'revoked');
            if (!GB.isAdmin())
              return null;
            return h('button', {type: 'button', class: 'small danger',
                'data-testid': 'key-revoke', onclick: function () { revoke(k); }}, 'Revoke');
          }}
        ], r.items || [], 'keys-table'));
      }, GB.fail);
    }
    load();
    return null;
  };
})();
