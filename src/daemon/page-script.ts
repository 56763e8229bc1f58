/**
 * The cluster page's script, served as /page.js: polls /v1/membership and draws it. Every piece of
 * data goes into the DOM through textContent or setAttribute, never as markup: container names and
 * labels are whatever the containers' owners wrote.
 */
export const POLL_INTERVAL_MS = 2_000;

export const PAGE_SCRIPT = String.raw`'use strict';
(function () {
  var POLL_MS = ${POLL_INTERVAL_MS};
  var SVG = 'http://www.w3.org/2000/svg';
  var lastGood = 0;

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function row(cells, attrs) {
    var tr = document.createElement('tr');
    for (var k in attrs || {}) tr.setAttribute(k, attrs[k]);
    cells.forEach(function (c) { tr.appendChild(c instanceof Node ? c : el('td', c)); });
    return tr;
  }
  function fill(id, rows, empty, columns) {
    var body = document.querySelector('#' + id + ' tbody');
    body.replaceChildren();
    rows.forEach(function (r) { body.appendChild(r); });
    if (rows.length === 0) {
      var td = el('td', empty, 'none');
      td.colSpan = columns;
      body.appendChild(row([td]));
    }
  }
  function ago(iso) {
    if (!iso) return 'never';
    var s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    return s < 90 ? s + ' s ago' : Math.round(s / 60) + ' min ago';
  }
  function mb(bytes) { return (bytes / 1048576).toFixed(1) + ' MB'; }

  function allHosts(doc) {
    var own = { host: doc.host, reachable: true, lastSeen: doc.generated, error: null,
      containers: doc.containers || [], registered: doc.registered || [], own: true };
    return [own].concat(doc.peers || []);
  }

  function drawHosts(hosts) {
    fill('hosts', hosts.map(function (h) {
      var state = h.own ? el('td', 'this daemon', 'ok')
        : h.reachable ? el('td', 'answering', 'ok') : el('td', 'not answering: ' + (h.error || '?'), 'bad');
      var skipped = h.containers.filter(function (c) { return !c.served; }).length;
      return row([el('td', h.host, 'mono'), state, el('td', h.containers.length),
        el('td', skipped, skipped ? 'warn' : ''), el('td', h.registered.length),
        el('td', h.own ? 'now' : ago(h.lastSeen))], { 'data-host': h.host });
    }), 'no hosts', 6);
  }

  function drawContainers(hosts) {
    var rows = [];
    hosts.forEach(function (h) {
      h.containers.forEach(function (c) {
        var served;
        if (!c.served) served = el('td', 'no: ' + c.skips.map(function (s) { return s.text; }).join('; '), 'bad');
        else if (c.skips.length) served = el('td', 'yes, but ' + c.skips.map(function (s) {
          return (s.name ? s.name + ' ' : '') + s.text; }).join('; '), 'warn');
        else served = el('td', 'yes', 'ok');
        served.setAttribute('data-reason', c.skips.map(function (s) { return s.reason; }).join(' '));
        var labels = el('td', null, 'mono');
        Object.keys(c.labels || {}).forEach(function (k) { labels.appendChild(el('div', k + '=' + c.labels[k])); });
        var port = c.hostPort === null ? '-' : c.hostPort + ' → ' + c.nodePort;
        var node = c.node || (c.names.length ? c.names.join(', ') + ' @' + h.host : '-');
        rows.push(row([el('td', h.host, 'mono'), el('td', c.id, 'mono'), el('td', c.name), el('td', c.image),
          el('td', node, 'mono'), el('td', c.cluster || '-'), el('td', port, 'port mono'), served, labels],
          { 'data-container': c.id, 'data-host': h.host }));
      });
    });
    fill('containers', rows, 'no containers that name the node port', 9);
  }

  function drawRegistered(hosts) {
    var rows = [];
    hosts.forEach(function (h) {
      h.registered.forEach(function (r) { rows.push(row([el('td', h.host, 'mono'), el('td', r.name), el('td', r.port)])); });
    });
    fill('registered', rows, 'none', 3);
  }

  function members(doc, view) {
    var out = view.members.map(function (m) { return Object.assign({ host: doc.host }, m); });
    view.hosts.forEach(function (h) {
      h.members.forEach(function (m) { out.push(Object.assign({ host: h.host }, m)); });
    });
    // A member whose node name is not known yet (not reached, refused) shows by its container.
    return out.map(function (m) { m.key = m.node || 'container ' + m.container; return m; });
  }

  function graph(list) {
    var size = 160, mid = size / 2, radius = list.length > 1 ? 50 : 0;
    var svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('width', size); svg.setAttribute('height', size);
    svg.setAttribute('viewBox', '0 0 ' + size + ' ' + size);
    var at = {};
    list.forEach(function (m, i) {
      var a = (2 * Math.PI * i) / list.length - Math.PI / 2;
      at[m.key] = [mid + radius * Math.cos(a), mid + radius * Math.sin(a)];
    });
    function linked(a, b) { return a.connected.indexOf(b.node) >= 0 || b.connected.indexOf(a.node) >= 0; }
    for (var i = 0; i < list.length; i++) for (var j = i + 1; j < list.length; j++) {
      var a = list[i], b = list[j], up = linked(a, b);
      var meshed = a.mesh && b.mesh && a.state === 'up' && b.state === 'up';
      if (!up && !meshed) continue;
      var line = document.createElementNS(SVG, 'line');
      line.setAttribute('class', up ? 'edge' : 'missing');
      line.setAttribute('data-from', a.node); line.setAttribute('data-to', b.node);
      line.setAttribute('x1', at[a.key][0]); line.setAttribute('y1', at[a.key][1]);
      line.setAttribute('x2', at[b.key][0]); line.setAttribute('y2', at[b.key][1]);
      svg.appendChild(line);
    }
    list.forEach(function (m) {
      var c = document.createElementNS(SVG, 'circle');
      c.setAttribute('cx', at[m.key][0]); c.setAttribute('cy', at[m.key][1]); c.setAttribute('r', 9);
      c.setAttribute('class', m.state !== 'up' ? 'down' : m.mesh ? 'up' : 'solo');
      c.setAttribute('data-node', m.key);
      var title = document.createElementNS(SVG, 'title');
      title.textContent = m.key + ' (' + m.state + ')';
      c.appendChild(title);
      svg.appendChild(c);
      var t = document.createElementNS(SVG, 'text');
      t.setAttribute('x', at[m.key][0]); t.setAttribute('y', at[m.key][1] + 22);
      t.setAttribute('text-anchor', 'middle');
      t.textContent = m.key.split('@')[0].slice(0, 12);
      svg.appendChild(t);
    });
    return svg;
  }

  function drawClusters(doc) {
    var box = document.getElementById('clusters');
    if (!doc.clusters.length) return;
    box.replaceChildren();
    doc.clusters.forEach(function (view) {
      var list = members(doc, view);
      var section = el('section');
      section.setAttribute('data-cluster', view.name);
      var down = view.hosts.filter(function (h) { return !h.reachable; }).map(function (h) { return h.host; });
      var svg = graph(list);
      var missing = svg.querySelectorAll('line.missing').length;
      var notUp = list.filter(function (m) { return m.state !== 'up'; }).length;
      var bad = down.length + missing + notUp;
      section.appendChild(el('h3', 'cluster ' + view.name + ': ' + list.length + ' nodes, ' +
        (bad ? [missing ? missing + ' links missing' : '', notUp ? notUp + ' nodes not up' : '',
          down.length ? 'hosts not answering: ' + down.join(', ') : ''].filter(Boolean).join(', ')
          : 'one full mesh') + ' · last pass ' + ago(view.lastReconcile), bad ? 'bad' : ''));
      var wrap = el('div', null, 'cluster');
      wrap.appendChild(svg);
      var table = el('table');
      table.appendChild(row(['Node', 'State', 'Links', 'Memory', 'Procs', 'Run q.']
        .map(function (h) { return el('th', h); })));
      list.forEach(function (m) {
        var s = m.stats;
        table.appendChild(row([el('td', m.key, 'mono'),
          el('td', m.state + (m.mesh ? '' : ' (not meshed: -connect_all false)'), m.state === 'up' ? 'ok' : 'bad'),
          el('td', m.connected.length + '/' + (list.length - 1)),
          el('td', s ? mb(s.memoryBytes) : '-', 'mem'), el('td', s ? s.processes : '-', 'procs'),
          el('td', s ? s.runQueue : '-', 'runq')], { 'data-node': m.key }));
      });
      wrap.appendChild(table);
      section.appendChild(wrap);
      box.appendChild(section);
    });
  }

  function draw(doc) {
    document.getElementById('host').textContent = doc.host;
    document.title = 'eid: ' + doc.host;
    var hosts = allHosts(doc);
    drawHosts(hosts);
    drawClusters(doc);
    drawContainers(hosts);
    drawRegistered(hosts);
  }

  function poll() {
    var status = document.getElementById('status');
    fetch('/v1/membership', { cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then(function (doc) {
        draw(doc);
        lastGood = Date.now();
        status.className = '';
        status.textContent = 'updated ' + new Date().toLocaleTimeString() + ', every ' + POLL_MS / 1000 + ' s';
      })
      .catch(function (err) {
        status.className = 'stale';
        status.textContent = 'the daemon does not answer (' + err.message + '); showing data from ' +
          (lastGood ? new Date(lastGood).toLocaleTimeString() : 'never');
      })
      .finally(function () { setTimeout(poll, POLL_MS); });
  }
  poll();
})();
`;
