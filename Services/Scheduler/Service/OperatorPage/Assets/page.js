// The operator page: polls ui/state and ui/accounts and renders them. Every figure is also written to a data-*
// attribute, so tests and scripts can read the page without parsing text. Plain ES2017, no dependencies.
(function () {
  'use strict';

  var POLL_MS = 1500;
  var SVG_NS = 'http://www.w3.org/2000/svg';
  var CLASSES = ['interactive', 'heavy'];
  var tenantFilter = new URLSearchParams(window.location.search).get('tenant') || '';
  var timer = null;
  var loaded = { state: false, accounts: false };

  function byId(id) { return document.getElementById(id); }

  function integer(value) { return value == null ? '–' : Math.round(value).toLocaleString('en-US'); }

  function decimal(value, digits) { return value == null ? '–' : value.toFixed(digits); }

  function percent(value) { return value == null ? '–' : (value * 100).toFixed(1) + '%'; }

  function duration(ms) {
    if (ms == null) { return '–'; }
    if (ms < 1000) { return Math.round(ms) + ' ms'; }
    if (ms < 60000) { return (ms / 1000).toFixed(1) + ' s'; }
    var seconds = Math.round((ms % 60000) / 1000);
    return Math.floor(ms / 60000) + ' min' + (seconds > 0 ? ' ' + seconds + ' s' : '');
  }

  function clock(unixMs) {
    var date = new Date(unixMs);
    function pad(n, width) { var s = String(n); while (s.length < width) { s = '0' + s; } return s; }
    return pad(date.getHours(), 2) + ':' + pad(date.getMinutes(), 2) + ':' + pad(date.getSeconds(), 2) + '.' +
      pad(date.getMilliseconds(), 3);
  }

  function figure(id, value, text) {
    var element = byId(id);
    element.textContent = text;
    element.setAttribute('data-value', value == null ? '' : String(value));
  }

  function cell(row, text, className) {
    var td = document.createElement('td');
    td.textContent = text;
    if (className) { td.className = className; }
    row.appendChild(td);
    return td;
  }

  function fill(tbodyId, items, build) {
    var tbody = byId(tbodyId);
    var fragment = document.createDocumentFragment();
    items.forEach(function (item) { fragment.appendChild(build(item)); });
    while (tbody.firstChild) { tbody.removeChild(tbody.firstChild); }
    tbody.appendChild(fragment);
  }

  function svg(name, attributes, parent) {
    var element = document.createElementNS(SVG_NS, name);
    Object.keys(attributes).forEach(function (key) { element.setAttribute(key, String(attributes[key])); });
    if (parent) { parent.appendChild(element); }
    return element;
  }

  function clear(element) { while (element.firstChild) { element.removeChild(element.firstChild); } }

  function sortedEntries(map) {
    return Object.keys(map || {}).map(function (key) { return [key, map[key]]; })
      .sort(function (a, b) { return b[1] - a[1] || (a[0] < b[0] ? -1 : 1); });
  }

  function reasonTable(tbodyId, totalId, map) {
    var entries = sortedEntries(map);
    var total = entries.reduce(function (sum, entry) { return sum + entry[1]; }, 0);
    figure(totalId, total, integer(total));
    fill(tbodyId, entries, function (entry) {
      var row = document.createElement('tr');
      row.setAttribute('data-reason', entry[0]);
      row.setAttribute('data-count', String(entry[1]));
      cell(row, entry[0]);
      cell(row, integer(entry[1]), 'num');
      return row;
    });
  }

  function waitingRow(group, attribute, clickable) {
    var row = document.createElement('tr');
    row.setAttribute(attribute, group.name);
    row.setAttribute('data-queued', String(group.queued));
    row.setAttribute('data-oldest-ms', String(Math.round(group.oldest_wait_ms)));
    var name = cell(row, group.name, clickable ? 'tenant' : null);
    if (clickable) { name.addEventListener('click', function () { setTenant(group.name); }); }
    cell(row, integer(group.queued), 'num');
    cell(row, group.queued > 0 ? duration(group.oldest_wait_ms) : '–', 'num');
    return row;
  }

  function renderCapacity(state) {
    var mode = byId('mode');
    mode.textContent = state.mode;
    mode.setAttribute('data-mode', state.mode);
    var change = state.mode_change;
    byId('mode-reason').textContent = change && change.reason
      ? change.reason.message + ' (' + duration(state.generated_unix_ms - change.time_unix_ms) + ' ago)'
      : 'No congestion mode change since start.';
    var cap = state.inflight_request_cap == null ? state.max_inflight_requests : state.inflight_request_cap;
    figure('inflight', state.inflight_requests, integer(state.inflight_requests));
    figure('inflight-cap', cap, integer(cap));
    byId('inflight-cap-kind').textContent = state.inflight_request_cap == null ? 'hard cap (knee not found yet)' : 'provider knee';
    figure('slowdown', state.slowdown_ratio, state.slowdown_ratio == null ? '–' : decimal(state.slowdown_ratio, 2) + '×');
    figure('rate-limited-share', state.rate_limited_share, percent(state.rate_limited_share));
    var bar = byId('inflight-bar');
    clear(bar);
    var width = cap > 0 ? Math.min(1, state.inflight_requests / cap) * 300 : 0;
    svg('rect', { x: 0, y: 0, width: width, height: 12, fill: width >= 300 ? '#d9822b' : '#2f6fdf' }, bar);
    fill('budgets', CLASSES, function (name) {
      var row = document.createElement('tr');
      row.setAttribute('data-class', name);
      cell(row, name);
      cell(row, integer(state.inflight_tokens_by_class[name]), 'num');
      cell(row, integer(state.inflight_budget_by_class[name]), 'num');
      return row;
    });
  }

  function renderQueues(state) {
    figure('queued-total', state.queued_total, integer(state.queued_total));
    figure('tenants-waiting', state.tenants_waiting, integer(state.tenants_waiting));
    fill('waiting-classes', state.waiting_by_class, function (group) { return waitingRow(group, 'data-class', false); });
    fill('waiting-tenants', state.waiting_by_tenant, function (group) { return waitingRow(group, 'data-tenant', true); });
    figure('dispatched-total', state.dispatched_total, integer(state.dispatched_total));
    figure('completed-total', state.completed_total, integer(state.completed_total));
    figure('failed-total', state.failed_total, integer(state.failed_total));
    figure('expired-total', state.expired_total, integer(state.expired_total));
    reasonTable('rejections', 'rejected-total', state.rejected_by_reason);
    reasonTable('deferrals', 'deferred-total', state.deferred_by_reason);
  }

  function renderDecisions(state) {
    figure('decision-count', state.decisions.length, integer(state.decisions.length));
    var tenants = {};
    state.waiting_by_tenant.forEach(function (group) { tenants[group.name] = true; });
    fill('decisions', state.decisions, function (event) {
      var row = document.createElement('tr');
      row.setAttribute('data-sequence', String(event.sequence));
      row.setAttribute('data-kind', event.kind);
      row.setAttribute('data-tenant', event.tenant_id || '');
      row.setAttribute('data-reason', event.reason ? event.reason.code : '');
      if (event.tenant_id) { tenants[event.tenant_id] = true; }
      cell(row, clock(event.time_unix_ms));
      // A request withdrawn by its client is recorded as an expiry with reason `cancelled`: shown as a cancel.
      var cancelled = event.kind === 'expire' && event.reason && event.reason.code === 'cancelled';
      cell(row, cancelled ? 'cancel' : event.kind.replace('_', ' '), 'kind kind-' + event.kind);
      var tenant = cell(row, event.tenant_id || '', event.tenant_id ? 'tenant' : null);
      if (event.tenant_id) { tenant.addEventListener('click', function () { setTenant(event.tenant_id); }); }
      cell(row, event.request_class || '');
      cell(row, event.request_id || '');
      cell(row, event.reason ? event.reason.code : '');
      cell(row, event.reason ? event.reason.message : '', 'why');
      return row;
    });
    var list = byId('tenant-names');
    clear(list);
    Object.keys(tenants).sort().forEach(function (name) {
      var option = document.createElement('option');
      option.value = name;
      list.appendChild(option);
    });
  }

  function logScale(min, max, from, to) {
    var low = Math.log(min);
    var span = Math.log(max) - low;
    return function (value) { return from + (Math.log(Math.max(min, Math.min(max, value))) - low) / span * (to - from); };
  }

  function renderScatter(prediction) {
    var chart = byId('scatter');
    clear(chart);
    var samples = prediction.samples;
    chart.setAttribute('data-points', String(samples.length));
    var largest = 16;
    samples.forEach(function (s) { largest = Math.max(largest, s.output_tokens, s.predicted_p90); });
    var top = Math.pow(2, Math.ceil(Math.log(largest) / Math.LN2));
    var x = logScale(1, top, 36, 310);
    var y = logScale(1, top, 220, 10);
    svg('line', { x1: 36, y1: 220, x2: 310, y2: 220, 'class': 'axis' }, chart);
    svg('line', { x1: 36, y1: 10, x2: 36, y2: 220, 'class': 'axis' }, chart);
    svg('line', { x1: x(1), y1: y(1), x2: x(top), y2: y(top), 'class': 'diagonal' }, chart);
    for (var tick = 1; tick <= top; tick *= 8) {
      svg('text', { x: x(tick), y: 234, 'text-anchor': 'middle' }, chart).textContent = String(tick);
      svg('text', { x: 32, y: y(tick) + 3, 'text-anchor': 'end' }, chart).textContent = String(tick);
    }
    svg('text', { x: 310, y: 214, 'text-anchor': 'end' }, chart).textContent = 'actual output tokens';
    svg('text', { x: 40, y: 18 }, chart).textContent = 'predicted';
    samples.forEach(function (s) {
      svg('circle', { cx: x(s.output_tokens), cy: y(s.predicted_p90), r: 3, 'class': 'p90' }, chart);
      svg('circle', { cx: x(s.output_tokens), cy: y(s.predicted_p50), r: 2.5, 'class': 'p50' }, chart);
    });
  }

  function renderPrediction(state) {
    var prediction = state.prediction;
    figure('prediction-samples', prediction.samples.length, integer(prediction.samples.length));
    figure('p90-coverage', prediction.p90_coverage, percent(prediction.p90_coverage));
    figure('rank-correlation', prediction.rank_correlation,
      prediction.rank_correlation == null ? 'not enough answers' : decimal(prediction.rank_correlation, 3));
    figure('trust', prediction.trust, percent(prediction.trust));
    var levels = sortedEntries(prediction.fallback_levels);
    var total = levels.reduce(function (sum, entry) { return sum + entry[1]; }, 0);
    fill('fallback-levels', levels, function (entry) {
      var row = document.createElement('tr');
      row.setAttribute('data-level', entry[0]);
      row.setAttribute('data-count', String(entry[1]));
      cell(row, entry[0].replace(/_/g, ' '));
      cell(row, integer(entry[1]), 'num');
      cell(row, percent(total > 0 ? entry[1] / total : null), 'num');
      return row;
    });
    renderScatter(prediction);
  }

  function renderLatency(state) {
    var chart = byId('latency-chart');
    clear(chart);
    var points = state.latency;
    chart.setAttribute('data-points', String(points.length));
    var end = state.generated_unix_ms;
    // The time axis spans what there is to show, at most the 5 minutes kept.
    var start = points.reduce(function (earliest, p) { return Math.min(earliest, p.start_unix_ms); }, end - 60000);
    start = Math.max(start, end - 300000);
    var largest = 100;
    points.forEach(function (p) { largest = Math.max(largest, p.p95_ms); });
    var x = function (t) { return 36 + (t - start) / (end - start) * 274; };
    var y = function (ms) { return 220 - ms / largest * 210; };
    svg('line', { x1: 36, y1: 220, x2: 310, y2: 220, 'class': 'axis' }, chart);
    svg('line', { x1: 36, y1: 10, x2: 36, y2: 220, 'class': 'axis' }, chart);
    [0, 0.5, 1].forEach(function (share) {
      var ms = largest * share;
      var label = ms < 1000 ? Math.round(ms) + ' ms' : ms < 60000 ? (ms / 1000).toFixed(1) + ' s' : (ms / 60000).toFixed(1) + ' min';
      svg('text', { x: 32, y: y(ms) + 3, 'text-anchor': 'end' }, chart).textContent = label;
    });
    svg('text', { x: 36, y: 234 }, chart).textContent = '−' + duration(end - start);
    svg('text', { x: 310, y: 234, 'text-anchor': 'end' }, chart).textContent = 'now';
    CLASSES.forEach(function (name) {
      var series = points.filter(function (p) { return p.request_class === name; });
      ['p50_ms', 'p95_ms'].forEach(function (key) {
        if (series.length === 0) { return; }
        var path = series.map(function (p, index) {
          return (index === 0 ? 'M' : 'L') + x(p.start_unix_ms + 2500).toFixed(1) + ',' + y(p[key]).toFixed(1);
        }).join(' ');
        svg('path', { d: path, 'class': 'line ' + name + (key === 'p95_ms' ? ' p95' : ''), 'data-class': name }, chart);
        if (series.length === 1) {
          svg('circle', { cx: x(series[0].start_unix_ms + 2500), cy: y(series[0][key]), r: 2, 'class': 'p50' }, chart);
        }
      });
    });
  }

  function renderAccounts(data) {
    var accounts = [];
    var errors = [];
    data.proxies.forEach(function (proxy) {
      if (proxy.error) { errors.push(proxy.url + ': ' + proxy.error); }
      proxy.accounts.forEach(function (account) { accounts.push({ proxy: proxy.instance || proxy.url, account: account }); });
    });
    var notice = byId('accounts-error');
    notice.hidden = errors.length === 0;
    notice.textContent = errors.join('; ');
    figure('accounts-count', accounts.length, integer(accounts.length));
    var requests = 0;
    var rateLimited = 0;
    fill('accounts', accounts, function (entry) {
      var a = entry.account;
      requests += a.requests;
      rateLimited += a.rate_limited;
      var row = document.createElement('tr');
      row.setAttribute('data-account', a.name);
      row.setAttribute('data-proxy', entry.proxy);
      row.setAttribute('data-window', String(a.window));
      row.setAttribute('data-in-flight', String(a.in_flight));
      row.setAttribute('data-requests', String(a.requests));
      row.setAttribute('data-rate-limited', String(a.rate_limited));
      row.setAttribute('data-cooldown-ms', String(Math.round(a.cooldown_remaining_ms)));
      cell(row, entry.proxy);
      cell(row, a.name);
      cell(row, a.model_name);
      var windowCell = cell(row, decimal(a.window, 1) + ' / ' + a.max_concurrency + ' ', 'num');
      var bar = svg('svg', { width: 60, height: 8, viewBox: '0 0 60 8' }, windowCell);
      svg('rect', { x: 0, y: 0, width: 60 * Math.min(1, a.window / Math.max(1, a.max_concurrency)), height: 8, 'class': 'window-bar' }, bar);
      cell(row, integer(a.in_flight), 'num');
      cell(row, integer(a.requests), 'num');
      cell(row, integer(a.rate_limited), 'num');
      cell(row, integer(a.errors), 'num');
      cell(row, a.cooldown_remaining_ms > 0 ? duration(a.cooldown_remaining_ms) : '–', 'num');
      cell(row, duration(a.ewma_latency_ms), 'num');
      return row;
    });
    figure('accounts-requests', requests, integer(requests));
    figure('accounts-rate-limited', rateLimited, integer(rateLimited));
  }

  function fetchJSON(url) {
    return fetch(url, { cache: 'no-store', headers: { Accept: 'application/json' } }).then(function (response) {
      if (!response.ok) { throw new Error(url + ' answered ' + response.status); }
      return response.json();
    });
  }

  function setStatus(kind, text) {
    var status = byId('status');
    status.setAttribute('data-status', kind);
    status.textContent = text;
  }

  function markReady() {
    if (loaded.state && loaded.accounts) { document.body.setAttribute('data-ready', 'true'); }
  }

  function poll() {
    timer = null;
    var stateURL = 'ui/state' + (tenantFilter ? '?tenant=' + encodeURIComponent(tenantFilter) : '');
    var state = fetchJSON(stateURL).then(function (data) {
      renderCapacity(data);
      renderQueues(data);
      renderDecisions(data);
      renderPrediction(data);
      renderLatency(data);
      document.body.setAttribute('data-generated-ms', String(data.generated_unix_ms));
      loaded.state = true;
      markReady();
      return data;
    });
    var accounts = fetchJSON('ui/accounts').then(function (data) {
      renderAccounts(data);
      loaded.accounts = true;
      markReady();
    });
    Promise.all([state, accounts]).then(function (results) {
      setStatus('ok', 'live · ' + clock(results[0].generated_unix_ms));
    }).catch(function (error) {
      setStatus('error', 'not updating: ' + error.message);
    }).then(function () {
      if (timer === null) { timer = window.setTimeout(poll, POLL_MS); }
    });
  }

  function setTenant(name) {
    tenantFilter = name;
    byId('tenant-filter').value = name;
    var url = new URL(window.location.href);
    if (name) { url.searchParams.set('tenant', name); } else { url.searchParams.delete('tenant'); }
    window.history.replaceState(null, '', url.toString());
    if (timer !== null) { window.clearTimeout(timer); timer = null; poll(); }
  }

  function start() {
    var input = byId('tenant-filter');
    input.value = tenantFilter;
    input.addEventListener('change', function () { setTenant(input.value.trim()); });
    byId('decision-filter').addEventListener('submit', function (event) {
      event.preventDefault();
      setTenant(input.value.trim());
    });
    byId('tenant-clear').addEventListener('click', function () { setTenant(''); });
    poll();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
}());
