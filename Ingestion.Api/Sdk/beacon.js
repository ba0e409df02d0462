/*! Beacon browser SDK: storefront events to POST /beacon. No dependencies, no build step. */
(function (window, document) {
  'use strict';

  // Loaded twice (theme + app block)? Keep the first copy and its queue.
  if (window.Beacon && window.Beacon.version) {
    return;
  }

  var VERSION = '1.0.0';
  var SESSION_KEY = 'beacon_session_id';
  // POST /beacon takes 1-100 events per request.
  var MAX_BATCH_EVENTS = 100;
  // Browsers refuse a sendBeacon / keepalive body once 64 KiB are in flight, so every request stays below it.
  var MAX_BATCH_BYTES = 64000;
  var ENVELOPE_BYTES = '{"events":[]}'.length;
  // Bounds memory while the endpoint is unreachable; the oldest events go first.
  var MAX_QUEUE = 1000;
  var MAX_BACKOFF_MS = 60000;

  var config = null;
  var queue = [];      // { json, bytes } per event, serialized when tracked
  var inflight = [];   // fetch batches without an answer yet: { items, handedOff }
  var timer = null;
  var timerDue = 0;
  var failures = 0;
  var retryAt = 0;
  var sessionId = null;
  var listening = false;

  var script = document.currentScript;
  // Default endpoint: wherever this script was served from (".../sdk/beacon.js").
  var scriptEndpoint = script && script.src
    ? script.src.replace(/\/sdk\/beacon(\.min)?\.js(\?.*)?(#.*)?$/, '')
    : null;

  function init(options) {
    options = options || {};
    if (!options.token) {
      throw new Error('Beacon.init: a storefront access token is required');
    }
    var endpoint = options.endpoint || scriptEndpoint;
    if (!endpoint) {
      throw new Error('Beacon.init: endpoint is required (e.g. "https://ingest.example.com")');
    }
    config = {
      token: String(options.token),
      endpoint: String(endpoint).replace(/\/+$/, ''),
      flushInterval: positive(options.flushInterval, 5000),
      flushAt: Math.min(positive(options.flushAt, 20), MAX_BATCH_EVENTS),
      maxBatchBytes: Math.min(positive(options.maxBatchBytes, MAX_BATCH_BYTES), MAX_BATCH_BYTES),
      defaults: options.defaults || {}
    };
    if (!listening) {
      listening = true;
      // pagehide is the last reliable moment on navigation and tab close (unload is not fired on mobile);
      // visibilitychange covers the app switcher, after which a mobile page may be killed silently.
      window.addEventListener('pagehide', flushOnUnload);
      document.addEventListener('visibilitychange', function () {
        if (document.visibilityState === 'hidden') {
          flushOnUnload();
        }
      });
    }
    if (queue.length) {
      schedule(config.flushInterval);
    }
  }

  function track(eventType, fields) {
    if (typeof eventType !== 'string' || !eventType) {
      warn('track needs an event type, e.g. Beacon.track("page_view")');
      return null;
    }
    var event = {};
    assign(event, config && config.defaults);
    assign(event, fields);
    event.event_type = eventType;
    event.event_id = event.event_id || uuid();
    event.timestamp = event.timestamp || new Date().toISOString();
    event.session_id = event.session_id || session();

    var json;
    try {
      json = JSON.stringify(event);
    } catch (e) {
      warn('dropped a ' + eventType + ' event that is not JSON-serializable: ' + e);
      return null;
    }
    var bytes = utf8Length(json);
    if (ENVELOPE_BYTES + bytes > MAX_BATCH_BYTES) {
      warn('dropped a ' + eventType + ' event of ' + bytes + ' bytes: a browser cannot send over 64 KB at unload');
      return null;
    }
    queue.push({ json: json, bytes: bytes });
    trimQueue();

    if (config && queue.length >= config.flushAt && Date.now() >= retryAt) {
      flush();
    } else if (config) {
      schedule(config.flushInterval);
    }
    return event.event_id;
  }

  // Sends everything queued now. Resolves once the endpoint has answered every request: true when all
  // events were accepted, false when some are kept for a retry or were refused.
  function flush() {
    clearTimer();
    if (!config || !queue.length) {
      return Promise.resolve(!queue.length);
    }
    var batches = split(queue.splice(0, queue.length));
    var sent = [];
    for (var i = 0; i < batches.length; i++) {
      sent.push(send(batches[i]));
    }
    return Promise.all(sent).then(function (results) {
      return results.indexOf(false) < 0;
    });
  }

  // A normal flush: fetch with the token in a header (kept out of URLs and access logs). The request is
  // preflighted; credentials are omitted because the SDK needs no cookies and a credentialed request
  // would fail wherever the server answers with a wildcard origin.
  function send(items) {
    var batch = { items: items, handedOff: false };
    inflight.push(batch);
    var request;
    try {
      request = window.fetch(config.endpoint + '/beacon', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Storefront-Access-Token': config.token },
        body: body(items),
        credentials: 'omit',
        mode: 'cors'
      });
    } catch (e) {
      request = Promise.reject(e);
    }
    return request.then(function (response) {
      return settle(batch, response.status, retryAfterMs(response));
    }, function () {
      // Network error, or a refusal without CORS headers (e.g. a disallowed origin): unreadable, so retry.
      return settle(batch, 0, 0);
    });
  }

  // Returns whether the batch was delivered.
  function settle(batch, status, retryAfter) {
    remove(inflight, batch);
    var delivered = status >= 200 && status < 300;
    if (batch.handedOff) {
      return delivered; // the unload path has sent these again; the server dedups by event_id
    }
    if (delivered) {
      failures = 0;
      retryAt = 0;
    } else if (status === 0 || status === 408 || status === 429 || status >= 500) {
      queue = batch.items.concat(queue);
      trimQueue();
      backOff(retryAfter);
    } else {
      // Any other 4xx will not get better by retrying (bad token, origin not allowed, invalid batch).
      warn('dropped ' + batch.items.length + ' events: POST /beacon answered ' + status);
    }
    return delivered;
  }

  function backOff(retryAfter) {
    failures++;
    var delay = Math.min(config.flushInterval * Math.pow(2, failures - 1), MAX_BACKOFF_MS);
    delay = Math.max(delay * (0.8 + Math.random() * 0.4), retryAfter);
    retryAt = Date.now() + delay;
    clearTimer();
    schedule(delay);
  }

  // The page is going away (or may be killed in the background): hand everything not yet acknowledged to
  // the browser, which delivers beacons after the page is gone. Batches still waiting for a fetch answer
  // are sent again too; the server dedups by event_id, so a double delivery costs nothing.
  function flushOnUnload() {
    if (!config) {
      return;
    }
    var items = [];
    for (var i = 0; i < inflight.length; i++) {
      if (!inflight[i].handedOff) {
        inflight[i].handedOff = true;
        items = items.concat(inflight[i].items);
      }
    }
    items = items.concat(queue.splice(0, queue.length));
    if (!items.length) {
      return;
    }
    clearTimer();
    // sendBeacon cannot set headers: the token goes in the query and the body as text/plain, which is
    // CORS-safelisted, so no preflight is needed while the page unloads.
    var url = config.endpoint + '/beacon?token=' + encodeURIComponent(config.token);
    var batches = split(items);
    for (var j = 0; j < batches.length; j++) {
      beacon(url, batches[j]);
    }
  }

  function beacon(url, items) {
    var payload = body(items);
    var queued = false;
    try {
      queued = !!(navigator.sendBeacon && navigator.sendBeacon(url, new Blob([payload], { type: 'text/plain' })));
    } catch (e) {
      queued = false;
    }
    if (queued) {
      return;
    }
    // sendBeacon refuses when its quota is used up or it is unavailable; a keepalive fetch also outlives
    // the page. If that fails too, a plain fetch still delivers while the page lives (tab merely hidden).
    var request;
    try {
      request = window.fetch(url, { method: 'POST', body: payload, keepalive: true, credentials: 'omit' });
    } catch (e) {
      request = Promise.reject(e);
    }
    request.then(function (response) {
      if (response.status === 429 || response.status >= 500) {
        queue = items.concat(queue);
        trimQueue();
        backOff(retryAfterMs(response));
      }
    }, function () {
      send(items);
    });
  }

  // Cuts events into requests of at most 100 events and MAX_BATCH_BYTES bytes each, in order.
  function split(items) {
    var batches = [];
    var current = [];
    var size = ENVELOPE_BYTES;
    var limit = config ? config.maxBatchBytes : MAX_BATCH_BYTES;
    for (var i = 0; i < items.length; i++) {
      var item = items[i];
      var added = item.bytes + (current.length ? 1 : 0); // the comma
      if (current.length && (current.length >= MAX_BATCH_EVENTS || size + added > limit)) {
        batches.push(current);
        current = [];
        size = ENVELOPE_BYTES;
        added = item.bytes;
      }
      current.push(item);
      size += added;
    }
    if (current.length) {
      batches.push(current);
    }
    return batches;
  }

  function body(items) {
    var parts = [];
    for (var i = 0; i < items.length; i++) {
      parts.push(items[i].json);
    }
    return '{"events":[' + parts.join(',') + ']}';
  }

  function schedule(delay) {
    // Never earlier than a back-off asked for: new events must not hammer an endpoint that is down.
    var due = Math.max(Date.now() + delay, retryAt);
    delay = due - Date.now();
    if (timer && timerDue <= due) {
      return;
    }
    clearTimer();
    timerDue = due;
    timer = setTimeout(function () {
      timer = null;
      if (queue.length) {
        flush();
      }
    }, delay);
  }

  function clearTimer() {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
  }

  function trimQueue() {
    if (queue.length > MAX_QUEUE) {
      var dropped = queue.splice(0, queue.length - MAX_QUEUE);
      warn('dropped the ' + dropped.length + ' oldest events: the queue is full');
    }
  }

  function retryAfterMs(response) {
    // Readable only when the server exposes it (Access-Control-Expose-Headers).
    var value = response.headers && response.headers.get('Retry-After');
    var seconds = value ? parseInt(value, 10) : NaN;
    return isNaN(seconds) ? 0 : Math.min(seconds * 1000, MAX_BACKOFF_MS);
  }

  // One id per tab for as long as the tab lives, like the session of most analytics tools.
  function session() {
    if (sessionId) {
      return sessionId;
    }
    try {
      sessionId = window.sessionStorage.getItem(SESSION_KEY);
      if (!sessionId) {
        sessionId = uuid();
        window.sessionStorage.setItem(SESSION_KEY, sessionId);
      }
    } catch (e) {
      // Storage blocked (sandboxed iframe, strict privacy settings): a session per page view.
      sessionId = sessionId || uuid();
    }
    return sessionId;
  }

  // crypto.randomUUID exists only in secure contexts (https, localhost); plain-http pages get a v4 UUID
  // from getRandomValues instead.
  function uuid() {
    var c = window.crypto;
    if (c && typeof c.randomUUID === 'function') {
      return c.randomUUID();
    }
    var b = new Uint8Array(16);
    if (c && typeof c.getRandomValues === 'function') {
      c.getRandomValues(b);
    } else {
      for (var i = 0; i < 16; i++) {
        b[i] = Math.floor(Math.random() * 256);
      }
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var hex = '';
    for (var j = 0; j < 16; j++) {
      hex += (b[j] + 0x100).toString(16).slice(1);
      if (j === 3 || j === 5 || j === 7 || j === 9) {
        hex += '-';
      }
    }
    return hex;
  }

  // Bytes of the UTF-8 encoding; JSON.stringify leaves no lone surrogates, so pairs are 4 bytes.
  function utf8Length(text) {
    var n = 0;
    for (var i = 0; i < text.length; i++) {
      var code = text.charCodeAt(i);
      if (code < 0x80) {
        n += 1;
      } else if (code < 0x800) {
        n += 2;
      } else if (code >= 0xd800 && code <= 0xdbff) {
        n += 4;
        i++;
      } else {
        n += 3;
      }
    }
    return n;
  }

  function positive(value, fallback) {
    return typeof value === 'number' && value > 0 ? value : fallback;
  }

  function assign(target, source) {
    if (source) {
      for (var key in source) {
        if (Object.prototype.hasOwnProperty.call(source, key) && source[key] !== undefined) {
          target[key] = source[key];
        }
      }
    }
  }

  function remove(list, item) {
    var index = list.indexOf(item);
    if (index >= 0) {
      list.splice(index, 1);
    }
  }

  function warn(message) {
    if (window.console && console.warn) {
      console.warn('Beacon: ' + message);
    }
  }

  var api = { version: VERSION, init: init, track: track, flush: flush };

  // Calls made through the async-loading stub before this script arrived, in their order.
  var stub = window.Beacon;
  window.Beacon = api;
  if (stub && stub.q && stub.q.length) {
    for (var k = 0; k < stub.q.length; k++) {
      var call = stub.q[k];
      if (api[call[0]]) {
        api[call[0]].apply(null, call[1]);
      }
    }
  }

  if (!config && script && script.getAttribute('data-token')) {
    init({ token: script.getAttribute('data-token'), endpoint: script.getAttribute('data-endpoint') || undefined });
  }
})(window, document);
