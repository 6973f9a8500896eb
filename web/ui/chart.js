/*
 * chart.js - the two charts, drawn as SVG by the page itself: the last
 * hour's throughput (completed and failed per minute, stacked) and a
 * context's component timings (one horizontal bar per component).
 */
'use strict';

(function () {
  var s = GB.svg;

  /* the top of a 4-step axis: 4 times a step of 1, 2 or 5 times a power of ten */
  function niceMax(v) {
    var raw = Math.max(v, 4) / 4;
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++)
      if (steps[i] * p >= raw)
        return 4 * steps[i] * p;
    return 40 * p;
  }

  function hhmm(iso) {
    var d = new Date(iso);
    return isNaN(d.getTime()) ? '' : d.toISOString().slice(11, 16);
  }

  /* points: [{minute, completed, failed}] oldest first */
  GB.throughputChart = function (points) {
    var W = 720, H = 220, L = 44, R = 10, T = 12, B = 28;
    var pw = W - L - R, ph = H - T - B;
    var n = Math.max(points.length, 1);
    var max = niceMax(points.reduce(function (m, p) {
      return Math.max(m, (p.completed || 0) + (p.failed || 0));
    }, 0));
    var root = s('svg', {viewBox: '0 0 ' + W + ' ' + H, class: 'chart',
        role: 'img', 'data-testid': 'throughput-chart'});
    var total = 0, failed = 0;
    root.appendChild(s('title', null, 'contexts ended per minute, last hour'));
    for (var g = 0; g <= 4; g++) {
      var y = T + ph - ph * g / 4;
      root.appendChild(s('line', {x1: L, x2: W - R, y1: y, y2: y, class: 'gridline'}));
      root.appendChild(s('text', {x: L - 6, y: y + 4, class: 'axis', 'text-anchor': 'end'},
          String(Math.round(max * g / 4))));
    }
    var bw = pw / n;
    points.forEach(function (p, i) {
      var c = p.completed || 0, f = p.failed || 0;
      var x = L + i * bw + bw * 0.1, w = Math.max(bw * 0.8, 1);
      var hc = ph * c / max, hf = ph * f / max;
      total += c;
      failed += f;
      if (c)
        root.appendChild(s('rect', {x: x, y: T + ph - hc, width: w, height: hc,
            class: 'bar-ok'}, s('title', null, hhmm(p.minute) + ' completed ' + c)));
      if (f)
        root.appendChild(s('rect', {x: x, y: T + ph - hc - hf, width: w, height: hf,
            class: 'bar-fail'}, s('title', null, hhmm(p.minute) + ' failed ' + f)));
      if (i % 10 === 0 || i === points.length - 1)
        root.appendChild(s('text', {x: x + w / 2, y: H - 8, class: 'axis',
            'text-anchor': 'middle'}, hhmm(p.minute)));
    });
    root.appendChild(s('line', {x1: L, x2: W - R, y1: T + ph, y2: T + ph, class: 'axisline'}));
    root.setAttribute('aria-label', 'last hour: ' + total + ' completed, ' + failed + ' failed');
    return root;
  };

  /* components: [{name, ms}] in pipeline order */
  GB.timingsChart = function (components) {
    var rowH = 26, L = 150, R = 80, W = 640;
    var H = Math.max(components.length, 1) * rowH + 10;
    var max = components.reduce(function (m, c) { return Math.max(m, c.ms || 0); }, 0) || 1;
    var root = s('svg', {viewBox: '0 0 ' + W + ' ' + H, class: 'chart timings',
        role: 'img', 'data-testid': 'timings-chart'});
    root.appendChild(s('title', null, 'time per component'));
    components.forEach(function (c, i) {
      var y = 5 + i * rowH, w = (W - L - R) * (c.ms || 0) / max;
      root.appendChild(s('text', {x: L - 8, y: y + 17, class: 'axis', 'text-anchor': 'end'},
          String(c.name)));
      root.appendChild(s('rect', {x: L, y: y + 4, width: Math.max(w, 1), height: rowH - 8,
          class: 'bar-ok'}));
      root.appendChild(s('text', {x: L + w + 6, y: y + 17, class: 'axis'}, GB.fmtMs(c.ms)));
    });
    if (!components.length)
      root.appendChild(s('text', {x: 10, y: 22, class: 'axis'}, 'no component has run'));
    return root;
  };
})();
