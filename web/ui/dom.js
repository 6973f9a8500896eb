/*
 * dom.js - building the page without HTML strings: every text goes through
 * a text node (textContent), never through the HTML parser, so data from the
 * server cannot become markup.
 */
'use strict';

var GB = window.GB || {};
window.GB = GB;

/* h('div', {class: 'x', 'data-testid': 'y', onclick: f}, child, 'text', [more]) */
GB.h = function (tag, attrs) {
  var el = document.createElement(tag);
  GB.setAttrs(el, attrs);
  GB.append(el, Array.prototype.slice.call(arguments, 2));
  return el;
};

GB.setAttrs = function (el, attrs) {
  if (!attrs)
    return;
  Object.keys(attrs).forEach(function (k) {
    var v = attrs[k];
    if (v === null || v === undefined || v === false)
      return;
    if (k.slice(0, 2) === 'on' && typeof v === 'function')
      el.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'checked' || k === 'selected')
      el[k] = v;
    else if (k === 'style')
      throw new Error('no style attributes (CSP)');
    else
      el.setAttribute(k, v === true ? '' : String(v));
  });
};

GB.append = function (el, kids) {
  kids.forEach(function (c) {
    if (c === null || c === undefined || c === false)
      return;
    if (Array.isArray(c))
      GB.append(el, c);
    else if (typeof c === 'object' && c.nodeType)
      el.appendChild(c);
    else
      el.appendChild(document.createTextNode(String(c)));
  });
  return el;
};

var SVGNS = 'http://www.w3.org/2000/svg';

GB.svg = function (tag, attrs) {
  var el = document.createElementNS(SVGNS, tag);
  Object.keys(attrs || {}).forEach(function (k) {
    el.setAttribute(k, String(attrs[k]));
  });
  GB.append(el, Array.prototype.slice.call(arguments, 2));
  return el;
};

GB.clear = function (el) {
  while (el.firstChild)
    el.removeChild(el.firstChild);
  return el;
};

GB.fmtTime = function (iso) {
  if (!iso)
    return '-';
  var d = new Date(iso);
  if (isNaN(d.getTime()))
    return String(iso);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
};

GB.fmtAgo = function (iso) {
  var t = new Date(iso).getTime();
  if (!iso || isNaN(t))
    return '-';
  var s = Math.round((Date.now() - t) / 1000);
  if (s < 0)
    s = 0;
  if (s < 120)
    return s + ' s ago';
  if (s < 7200)
    return Math.round(s / 60) + ' min ago';
  return Math.round(s / 3600) + ' h ago';
};

GB.fmtMs = function (ms) {
  if (ms === null || ms === undefined)
    return '-';
  if (ms < 1000)
    return ms + ' ms';
  return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s';
};

/* an error as text: a string, or the engine's {component, message, time} */
GB.errorText = function (e) {
  if (e === null || e === undefined || e === '')
    return '';
  if (typeof e !== 'object')
    return String(e);
  return (e.component ? e.component + ': ' : '') + (e.message || JSON.stringify(e));
};

GB.badge = function (status) {
  return GB.h('span', {class: 'badge st-' + String(status || 'unknown')}, status || '-');
};

/* A table from column specs {title, get(row) -> node|text} */
GB.table = function (cols, rows, testid, rowAttrs) {
  var head = GB.h('tr', null, cols.map(function (c) {
    return GB.h('th', null, c.title);
  }));
  var body = rows.map(function (r) {
    return GB.h('tr', rowAttrs ? rowAttrs(r) : null, cols.map(function (c) {
      return GB.h('td', c.cls ? {class: c.cls} : null, c.get(r));
    }));
  });
  if (!rows.length)
    body = [GB.h('tr', null, GB.h('td', {colspan: cols.length, class: 'empty'}, 'nothing here'))];
  return GB.h('table', {class: 'grid', 'data-testid': testid},
      GB.h('thead', null, head), GB.h('tbody', null, body));
};

/* A progress bar; the width goes through the CSSOM (allowed by the CSP). */
GB.progress = function (done, total, testid) {
  var pct = total > 0 ? Math.floor(done * 100 / total) : 0;
  var fill = GB.h('div', {class: 'fill'});
  fill.style.width = pct + '%';
  return GB.h('div', {class: 'progress', role: 'progressbar', 'aria-valuemin': 0,
      'aria-valuemax': 100, 'aria-valuenow': pct, 'data-testid': testid,
      'data-pct': pct}, fill,
      GB.h('span', {class: 'label'}, done + '/' + total + ' (' + pct + ' %)'));
};
