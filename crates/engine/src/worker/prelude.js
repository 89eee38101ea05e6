// The JavaScript side of the host surface. Evaluated once per sandbox context, before lockdown, as a function
// the host calls with its native functions; nothing here is reachable from actions except what it returns.
// Validation and state live in Rust (worker/host.rs); these wrappers only give the natives Auth0's shapes.
(function (host, NativeURL) {
  'use strict';

  // ---- console: Node-like formatting, captured per action by the host -------------------------------------

  function quote(s) {
    return "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n') + "'";
  }

  function inspect(v, depth, seen) {
    if (v === null) return 'null';
    switch (typeof v) {
      case 'string': return depth === 0 ? v : quote(v);
      case 'number': return Object.is(v, -0) ? '-0' : String(v);
      case 'bigint': return v + 'n';
      case 'boolean':
      case 'undefined': return String(v);
      case 'symbol': return v.toString();
      case 'function': {
        const src = Function.prototype.toString.call(v);
        const kind = src.startsWith('class') ? 'class' : 'Function';
        return '[' + kind + ': ' + (v.name || '(anonymous)') + ']';
      }
    }
    if (seen.includes(v)) return '[Circular *1]';
    if (v instanceof Error) {
      const head = (v.name || 'Error') + ': ' + v.message;
      return v.stack ? head + '\n' + String(v.stack).replace(/\n$/, '') : head;
    }
    if (v instanceof Date) return isNaN(v) ? 'Invalid Date' : v.toISOString();
    if (v instanceof RegExp) return String(v);
    if (depth > 2) return Array.isArray(v) ? '[Array]' : '[Object]';
    const next = seen.concat([v]);
    if (Array.isArray(v)) {
      if (v.length === 0) return '[]';
      const items = v.slice(0, 100).map((x) => inspect(x, depth + 1, next));
      if (v.length > 100) items.push('... ' + (v.length - 100) + ' more items');
      return '[ ' + items.join(', ') + ' ]';
    }
    if (v instanceof Map) {
      const items = [...v].map(([k, x]) => inspect(k, depth + 1, next) + ' => ' + inspect(x, depth + 1, next));
      return 'Map(' + v.size + ') {' + (items.length ? ' ' + items.join(', ') + ' ' : '') + '}';
    }
    if (v instanceof Set) {
      const items = [...v].map((x) => inspect(x, depth + 1, next));
      return 'Set(' + v.size + ') {' + (items.length ? ' ' + items.join(', ') + ' ' : '') + '}';
    }
    if (ArrayBuffer.isView(v)) {
      const name = (v.constructor && v.constructor.name) || 'TypedArray';
      return name + '(' + v.length + ') [ ' + Array.from(v.slice(0, 50)).join(', ') + ' ]';
    }
    const keys = Object.keys(v);
    const proto = Object.getPrototypeOf(v);
    const name = proto && proto !== Object.prototype && proto.constructor && proto.constructor.name;
    const prefix = proto === null ? '[Object: null prototype] ' : name ? name + ' ' : '';
    if (keys.length === 0) return prefix + '{}';
    const items = keys.map((k) => {
      const key = /^[A-Za-z_$][\w$]*$/.test(k) ? k : quote(k);
      return key + ': ' + inspect(v[k], depth + 1, next);
    });
    return prefix + '{ ' + items.join(', ') + ' }';
  }

  function format(args) {
    let first = args[0];
    let rest = args.slice(1);
    let out;
    if (typeof first === 'string' && first.includes('%') && rest.length > 0) {
      out = first.replace(/%[sdifjoOc%]/g, (spec) => {
        if (spec === '%%') return '%';
        if (rest.length === 0) return spec;
        const arg = rest.shift();
        switch (spec) {
          case '%s': return typeof arg === 'string' ? arg : inspect(arg, 1, []);
          case '%d':
          case '%i': return typeof arg === 'bigint' ? arg + 'n' : String(spec === '%i' ? parseInt(arg) : Number(arg));
          case '%f': return String(parseFloat(arg));
          case '%j': try { return JSON.stringify(arg); } catch (e) { return '[Circular]'; }
          case '%c': return '';
          default: return inspect(arg, 1, []);
        }
      });
    } else {
      out = args.length ? inspect(first, 0, []) : '';
    }
    for (const arg of rest) out += ' ' + inspect(arg, 0, []);
    return out;
  }

  const counters = new Map();
  const console = {
    log: (...a) => host.log('log', format(a)),
    info: (...a) => host.log('info', format(a)),
    debug: (...a) => host.log('debug', format(a)),
    warn: (...a) => host.log('warn', format(a)),
    error: (...a) => host.log('error', format(a)),
    trace: (...a) => host.log('trace', format(a)),
    dir: (v) => host.log('log', inspect(v, 1, [])),
    table: (v) => host.log('log', inspect(v, 1, [])),
    assert: (cond, ...a) => { if (!cond) host.log('error', 'Assertion failed' + (a.length ? ': ' + format(a) : '')); },
    count: (label = 'default') => {
      const n = (counters.get(label) || 0) + 1;
      counters.set(label, n);
      host.log('log', label + ': ' + n);
    },
    time: () => {},
    timeEnd: () => {},
    group: (...a) => { if (a.length) host.log('log', format(a)); },
    groupEnd: () => {},
  };

  // ---- timers: the engine's, with ids numbered per login --------------------------------------------------
  // The engine's own ids keep counting across the logins a context serves; the ids actions see start at 1 in
  // every login, and no id of one login clears a timer of another.

  const nativeSetTimeout = globalThis.setTimeout;
  const nativeSetInterval = globalThis.setInterval;
  const nativeClearTimeout = globalThis.clearTimeout;
  const timerIds = new Map();
  // The next id, kept in a Map (key 'next') like the rest of a login's state, so the host can empty it.
  const timerSequence = new Map();
  function track(native) {
    const id = timerSequence.get('next') ?? 1;
    timerSequence.set('next', id + 1);
    timerIds.set(id, native);
    return id;
  }
  function setTimeout(callback, delay, ...args) { return track(nativeSetTimeout(callback, delay, ...args)); }
  function setInterval(callback, delay, ...args) { return track(nativeSetInterval(callback, delay, ...args)); }
  function clearTimeout(id) {
    const native = timerIds.get(id);
    if (native !== undefined) {
      timerIds.delete(id);
      nativeClearTimeout(native);
    }
  }

  // ---- Buffer: the Node subset actions use for Basic auth headers and encodings ------------------------

  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const B64_INDEX = new Map([...B64].map((c, i) => [c, i]).concat([['-', 62], ['_', 63]]));

  function base64Encode(bytes, url) {
    let out = '';
    let i = 0;
    for (; i + 2 < bytes.length; i += 3) {
      const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
      out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
    }
    if (i < bytes.length) {
      const n = (bytes[i] << 16) | ((bytes[i + 1] || 0) << 8);
      out += B64[n >> 18] + B64[(n >> 12) & 63];
      out += i + 1 < bytes.length ? B64[(n >> 6) & 63] + '=' : '==';
    }
    return url ? out.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '') : out;
  }

  function base64Decode(text) {
    const out = [];
    let acc = 0;
    let bits = 0;
    for (const c of text) {
      const v = B64_INDEX.get(c);
      if (v === undefined) continue;
      acc = (acc << 6) | v;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out.push((acc >> bits) & 255);
      }
    }
    return out;
  }

  const utf8Encoder = new TextEncoder();
  const utf8Decoder = new TextDecoder();

  function encodeString(s, encoding) {
    switch ((encoding || 'utf8').toLowerCase()) {
      case 'utf8':
      case 'utf-8': return utf8Encoder.encode(s);
      case 'base64':
      case 'base64url': return base64Decode(s);
      case 'hex': {
        const out = [];
        for (let i = 0; i + 1 < s.length; i += 2) {
          const b = parseInt(s.substr(i, 2), 16);
          if (Number.isNaN(b)) break;
          out.push(b);
        }
        return out;
      }
      case 'latin1':
      case 'binary':
      case 'ascii': return Array.from(s, (c) => c.charCodeAt(0) & 255);
      default: throw new TypeError('Unknown encoding: ' + encoding);
    }
  }

  class Buffer extends Uint8Array {
    static from(value, encodingOrOffset, length) {
      if (typeof value === 'string') {
        const bytes = encodeString(value, encodingOrOffset);
        const buf = new Buffer(bytes.length);
        buf.set(bytes);
        return buf;
      }
      if (ArrayBuffer.isView(value)) {
        const view = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
        const buf = new Buffer(view.length);
        buf.set(view);
        return buf;
      }
      if (value instanceof ArrayBuffer) {
        const view = new Uint8Array(value, encodingOrOffset || 0, length);
        const buf = new Buffer(view.length);
        buf.set(view);
        return buf;
      }
      if (value && typeof value === 'object' && value.type === 'Buffer' && Array.isArray(value.data)) {
        return Buffer.from(value.data);
      }
      const arr = Array.from(value || []);
      const buf = new Buffer(arr.length);
      buf.set(arr);
      return buf;
    }
    static alloc(size, fill) {
      const buf = new Buffer(size);
      if (fill !== undefined) buf.fill(typeof fill === 'string' ? fill.charCodeAt(0) : fill);
      return buf;
    }
    static allocUnsafe(size) { return new Buffer(size); }
    static allocUnsafeSlow(size) { return new Buffer(size); }
    static isEncoding(encoding) {
      return ['utf8', 'utf-8', 'base64', 'base64url', 'hex', 'latin1', 'binary', 'ascii'].includes(String(encoding).toLowerCase());
    }
    static compare(a, b) {
      const n = Math.min(a.length, b.length);
      for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
      return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
    }
    static isBuffer(v) { return v instanceof Buffer; }
    static byteLength(v, encoding) {
      return typeof v === 'string' ? encodeString(v, encoding).length : v.byteLength;
    }
    static concat(list, total) {
      const size = total === undefined ? list.reduce((n, b) => n + b.length, 0) : total;
      const out = Buffer.alloc(size);
      let at = 0;
      for (const b of list) {
        if (at >= size) break;
        out.set(b.subarray(0, size - at), at);
        at += b.length;
      }
      return out;
    }
    toString(encoding, start, end) {
      const view = this.subarray(start || 0, end === undefined ? this.length : end);
      switch ((encoding || 'utf8').toLowerCase()) {
        case 'utf8':
        case 'utf-8': return utf8Decoder.decode(view);
        case 'base64': return base64Encode(view, false);
        case 'base64url': return base64Encode(view, true);
        case 'hex': return Array.from(view, (b) => b.toString(16).padStart(2, '0')).join('');
        case 'latin1':
        case 'binary':
        case 'ascii': return Array.from(view, (b) => String.fromCharCode(b)).join('');
        default: throw new TypeError('Unknown encoding: ' + encoding);
      }
    }
    toJSON() { return { type: 'Buffer', data: Array.from(this) }; }
    equals(other) { return this.length === other.length && this.every((b, i) => b === other[i]); }
    compare(other) { return Buffer.compare(this, other); }
    copy(target, targetStart = 0, sourceStart = 0, sourceEnd = this.length) {
      const part = this.subarray(sourceStart, Math.min(sourceEnd, sourceStart + target.length - targetStart));
      target.set(part, targetStart);
      return part.length;
    }
    readUInt8(offset = 0) { return this[offset]; }
    readUInt16BE(offset = 0) { return (this[offset] << 8) | this[offset + 1]; }
    readUInt32BE(offset = 0) { return ((this[offset] << 24) >>> 0) + ((this[offset + 1] << 16) | (this[offset + 2] << 8) | this[offset + 3]); }
    readInt32BE(offset = 0) { return (this[offset] << 24) | (this[offset + 1] << 16) | (this[offset + 2] << 8) | this[offset + 3]; }
    writeUInt8(value, offset = 0) { this[offset] = value; return offset + 1; }
    writeUInt16BE(value, offset = 0) { this[offset] = value >>> 8; this[offset + 1] = value; return offset + 2; }
    writeUInt32BE(value, offset = 0) {
      this[offset] = value >>> 24; this[offset + 1] = value >>> 16; this[offset + 2] = value >>> 8; this[offset + 3] = value;
      return offset + 4;
    }
    write() { throw new Error('Buffer.prototype.write is not available in Gatehouse actions'); }
  }

  // ---- URL and URLSearchParams ---------------------------------------------------------------------------

  function formEncode(s) {
    return encodeURIComponent(s).replace(/%20/g, '+').replace(/[!'()~]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
  }

  function formDecode(s) {
    const text = s.replace(/\+/g, ' ');
    try {
      return decodeURIComponent(text);
    } catch (e) {
      return text;
    }
  }

  class URLSearchParams {
    #list = [];
    #onChange = null;
    constructor(init) {
      if (init === undefined || init === null) return;
      if (typeof init === 'string') {
        this.#parse(init);
      } else if (init instanceof URLSearchParams) {
        this.#list = [...init];
      } else if (typeof init[Symbol.iterator] === 'function') {
        for (const pair of init) {
          const [k, v] = Array.from(pair);
          this.#list.push([String(k), String(v)]);
        }
      } else if (typeof init === 'object') {
        for (const k of Object.keys(init)) this.#list.push([k, String(init[k])]);
      } else {
        this.#parse(String(init));
      }
    }
    #parse(text) {
      this.#list = [];
      for (const part of text.replace(/^\?/, '').split('&')) {
        if (!part) continue;
        const eq = part.indexOf('=');
        const k = eq < 0 ? part : part.slice(0, eq);
        const v = eq < 0 ? '' : part.slice(eq + 1);
        this.#list.push([formDecode(k), formDecode(v)]);
      }
    }
    static _bind(params, text, onChange) {
      params.#parse(text);
      params.#onChange = onChange;
    }
    #changed() { if (this.#onChange) this.#onChange(this.toString()); }
    get size() { return this.#list.length; }
    append(k, v) { this.#list.push([String(k), String(v)]); this.#changed(); }
    delete(k, v) {
      this.#list = this.#list.filter(([a, b]) => !(a === String(k) && (v === undefined || b === String(v))));
      this.#changed();
    }
    get(k) { const e = this.#list.find(([a]) => a === String(k)); return e ? e[1] : null; }
    getAll(k) { return this.#list.filter(([a]) => a === String(k)).map(([, b]) => b); }
    has(k, v) { return this.#list.some(([a, b]) => a === String(k) && (v === undefined || b === String(v))); }
    set(k, v) {
      const key = String(k);
      const i = this.#list.findIndex(([a]) => a === key);
      if (i < 0) {
        this.#list.push([key, String(v)]);
      } else {
        this.#list[i] = [key, String(v)];
        this.#list = this.#list.filter(([a], j) => j <= i || a !== key);
      }
      this.#changed();
    }
    sort() { this.#list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)); this.#changed(); }
    forEach(cb, thisArg) { for (const [k, v] of this.#list) cb.call(thisArg, v, k, this); }
    keys() { return this.#list.map(([k]) => k)[Symbol.iterator](); }
    values() { return this.#list.map(([, v]) => v)[Symbol.iterator](); }
    entries() { return this.#list.map(([k, v]) => [k, v])[Symbol.iterator](); }
    [Symbol.iterator]() { return this.entries(); }
    toString() { return this.#list.map(([k, v]) => formEncode(k) + '=' + formEncode(v)).join('&'); }
    get [Symbol.toStringTag]() { return 'URLSearchParams'; }
  }
  const bindSearchParams = URLSearchParams._bind;
  delete URLSearchParams._bind;

  class URL {
    #url;
    #params = null;
    constructor(url, base) {
      this.#url = base === undefined ? new NativeURL(String(url)) : new NativeURL(String(url), String(base));
    }
    static canParse(url, base) { return NativeURL.canParse(String(url), base === undefined ? undefined : String(base)); }
    get href() { return this.#url.href; }
    set href(v) { this.#url.href = v; this.#sync(); }
    get origin() { return this.#url.origin; }
    get protocol() { return this.#url.protocol; }
    set protocol(v) { this.#url.protocol = v; }
    get username() { return this.#url.username; }
    set username(v) { this.#url.username = v; }
    get password() { return this.#url.password; }
    set password(v) { this.#url.password = v; }
    get host() { return this.#url.host; }
    set host(v) { this.#url.host = v; }
    get hostname() { return this.#url.hostname; }
    set hostname(v) { this.#url.hostname = v; }
    get port() { return this.#url.port; }
    set port(v) { this.#url.port = String(v); }
    get pathname() { return this.#url.pathname; }
    set pathname(v) { this.#url.pathname = v; }
    get search() { return this.#url.search; }
    set search(v) { this.#url.search = v; this.#sync(); }
    get hash() { return this.#url.hash; }
    set hash(v) { this.#url.hash = v; }
    get searchParams() {
      if (!this.#params) {
        this.#params = new URLSearchParams();
        bindSearchParams(this.#params, this.#url.search, (text) => { this.#url.search = text; });
      }
      return this.#params;
    }
    #sync() { if (this.#params) bindSearchParams(this.#params, this.#url.search, (text) => { this.#url.search = text; }); }
    toString() { return this.#url.href; }
    toJSON() { return this.#url.href; }
    get [Symbol.toStringTag]() { return 'URL'; }
  }

  // ---- fetch ------------------------------------------------------------------------------------------------

  class Headers {
    #list = [];
    constructor(init) {
      if (init === undefined || init === null) return;
      if (init instanceof Headers) {
        init.forEach((v, k) => this.append(k, v));
      } else if (typeof init[Symbol.iterator] === 'function') {
        for (const pair of init) {
          const [k, v] = Array.from(pair);
          this.append(k, v);
        }
      } else {
        for (const k of Object.keys(init)) this.append(k, init[k]);
      }
    }
    append(k, v) { this.#list.push([String(k).toLowerCase(), String(v).trim()]); }
    delete(k) { const key = String(k).toLowerCase(); this.#list = this.#list.filter(([a]) => a !== key); }
    get(k) {
      const key = String(k).toLowerCase();
      const values = this.#list.filter(([a]) => a === key).map(([, v]) => v);
      return values.length ? values.join(', ') : null;
    }
    has(k) { const key = String(k).toLowerCase(); return this.#list.some(([a]) => a === key); }
    set(k, v) { this.delete(k); this.append(k, v); }
    forEach(cb, thisArg) { for (const [k, v] of this.entries()) cb.call(thisArg, v, k, this); }
    entries() {
      const names = [...new Set(this.#list.map(([k]) => k))].sort();
      return names.map((k) => [k, this.get(k)])[Symbol.iterator]();
    }
    keys() { return [...this.entries()].map(([k]) => k)[Symbol.iterator](); }
    values() { return [...this.entries()].map(([, v]) => v)[Symbol.iterator](); }
    [Symbol.iterator]() { return this.entries(); }
    get [Symbol.toStringTag]() { return 'Headers'; }
    _raw() { return this.#list.map(([k, v]) => [k, v]); }
  }

  // ---- events, abort signals, blobs and forms (Node 18+ globals) --------------------------------------------

  class DOMException extends Error {
    #name;
    constructor(message = '', name = 'Error') {
      super(message);
      this.#name = String(name);
    }
    get name() { return this.#name; }
    get code() { return { AbortError: 20, TimeoutError: 23 }[this.#name] || 0; }
  }

  class Event {
    #type;
    constructor(type) { this.#type = String(type); }
    get type() { return this.#type; }
  }

  class EventTarget {
    #listeners = new Map();
    addEventListener(type, listener, options) {
      if (typeof listener !== 'function' && !(listener && typeof listener.handleEvent === 'function')) return;
      const list = this.#listeners.get(type) || [];
      if (list.some((l) => l.listener === listener)) return;
      list.push({ listener, once: !!(options && typeof options === 'object' && options.once) });
      this.#listeners.set(type, list);
    }
    removeEventListener(type, listener) {
      const list = this.#listeners.get(type);
      if (list) this.#listeners.set(type, list.filter((l) => l.listener !== listener));
    }
    dispatchEvent(event) {
      const list = (this.#listeners.get(event.type) || []).slice();
      for (const l of list) {
        if (l.once) this.removeEventListener(event.type, l.listener);
        if (typeof l.listener === 'function') l.listener.call(this, event);
        else l.listener.handleEvent(event);
      }
      return true;
    }
  }

  class AbortSignal extends EventTarget {
    #aborted = false;
    #reason = undefined;
    #onabort = null;
    get aborted() { return this.#aborted; }
    get reason() { return this.#reason; }
    get onabort() { return this.#onabort; }
    set onabort(handler) { this.#onabort = typeof handler === 'function' ? handler : null; }
    get [Symbol.toStringTag]() { return 'AbortSignal'; }
    throwIfAborted() { if (this.#aborted) throw this.#reason; }
    static _abort(signal, reason) {
      if (signal.#aborted) return;
      signal.#aborted = true;
      signal.#reason = reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason;
      const event = new Event('abort');
      if (signal.#onabort) signal.#onabort.call(signal, event);
      signal.dispatchEvent(event);
    }
    static abort(reason) {
      const signal = new AbortSignal();
      abortSignal(signal, reason);
      return signal;
    }
    static timeout(ms) {
      const signal = new AbortSignal();
      setTimeout(() => abortSignal(signal, new DOMException('The operation was aborted due to timeout', 'TimeoutError')), ms);
      return signal;
    }
    static any(signals) {
      const signal = new AbortSignal();
      for (const s of signals) {
        if (s.aborted) {
          abortSignal(signal, s.reason);
          return signal;
        }
      }
      for (const s of signals) s.addEventListener('abort', () => abortSignal(signal, s.reason), { once: true });
      return signal;
    }
  }
  const abortSignal = AbortSignal._abort;
  delete AbortSignal._abort;

  class AbortController {
    #signal = new AbortSignal();
    get signal() { return this.#signal; }
    abort(reason) { abortSignal(this.#signal, reason); }
  }

  function bytesOf(part) {
    if (typeof part === 'string') return utf8Encoder.encode(part);
    if (part instanceof Blob) return part._bytes();
    if (part instanceof ArrayBuffer) return new Uint8Array(part);
    if (ArrayBuffer.isView(part)) return new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
    return utf8Encoder.encode(String(part));
  }

  function concatBytes(chunks) {
    const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  class Blob {
    #bytes;
    #type;
    constructor(parts = [], options = {}) {
      this.#bytes = concatBytes(Array.from(parts, bytesOf));
      this.#type = options && options.type ? String(options.type).toLowerCase() : '';
    }
    get size() { return this.#bytes.length; }
    get type() { return this.#type; }
    get [Symbol.toStringTag]() { return 'Blob'; }
    _bytes() { return this.#bytes; }
    text() { return Promise.resolve(utf8Decoder.decode(this.#bytes)); }
    arrayBuffer() { return Promise.resolve(this.#bytes.slice().buffer); }
    bytes() { return Promise.resolve(this.#bytes.slice()); }
    slice(start, end, type) { return new Blob([this.#bytes.slice(start, end)], { type }); }
  }

  class FormData {
    #entries = [];
    get [Symbol.toStringTag]() { return 'FormData'; }
    #entry(name, value, filename) {
      if (value instanceof Blob) return [String(name), value, filename === undefined ? 'blob' : String(filename)];
      return [String(name), String(value), undefined];
    }
    append(name, value, filename) { this.#entries.push(this.#entry(name, value, filename)); }
    set(name, value, filename) {
      const key = String(name);
      const i = this.#entries.findIndex(([k]) => k === key);
      const entry = this.#entry(name, value, filename);
      if (i < 0) this.#entries.push(entry);
      else {
        this.#entries[i] = entry;
        this.#entries = this.#entries.filter(([k], j) => j <= i || k !== key);
      }
    }
    get(name) { const e = this.#entries.find(([k]) => k === String(name)); return e ? e[1] : null; }
    getAll(name) { return this.#entries.filter(([k]) => k === String(name)).map(([, v]) => v); }
    has(name) { return this.#entries.some(([k]) => k === String(name)); }
    delete(name) { this.#entries = this.#entries.filter(([k]) => k !== String(name)); }
    forEach(cb, thisArg) { for (const [k, v] of this.#entries) cb.call(thisArg, v, k, this); }
    entries() { return this.#entries.map(([k, v]) => [k, v])[Symbol.iterator](); }
    keys() { return this.#entries.map(([k]) => k)[Symbol.iterator](); }
    values() { return this.#entries.map(([, v]) => v)[Symbol.iterator](); }
    [Symbol.iterator]() { return this.entries(); }
    _multipart() {
      const boundary = '----GatehouseFormBoundary' + host.randomUUID().replace(/-/g, '');
      const escape = (s) => s.replace(/\r/g, '%0D').replace(/\n/g, '%0A').replace(/"/g, '%22');
      const chunks = [];
      for (const [name, value, filename] of this.#entries) {
        let head = '--' + boundary + '\r\nContent-Disposition: form-data; name="' + escape(name) + '"';
        if (filename !== undefined) head += '; filename="' + escape(filename) + '"\r\nContent-Type: ' + (value.type || 'application/octet-stream');
        chunks.push(utf8Encoder.encode(head + '\r\n\r\n'), bytesOf(value), utf8Encoder.encode('\r\n'));
      }
      chunks.push(utf8Encoder.encode('--' + boundary + '--\r\n'));
      return { body: utf8Decoder.decode(concatBytes(chunks)), type: 'multipart/form-data; boundary=' + boundary };
    }
  }

  // ---- fetch ------------------------------------------------------------------------------------------------

  function bodyText(body) {
    if (body === undefined || body === null) return null;
    if (typeof body === 'string') return body;
    if (body instanceof URLSearchParams) return body.toString();
    if (body instanceof Blob) return utf8Decoder.decode(body._bytes());
    if (body instanceof ArrayBuffer) return utf8Decoder.decode(new Uint8Array(body));
    if (ArrayBuffer.isView(body)) return utf8Decoder.decode(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
    return String(body);
  }

  // The content type a body implies when the caller set none.
  function encodeBody(body, headers) {
    if (body instanceof FormData) {
      const { body: text, type } = body._multipart();
      if (!headers.has('content-type')) headers.set('content-type', type);
      return text;
    }
    if (body instanceof URLSearchParams && !headers.has('content-type')) {
      headers.set('content-type', 'application/x-www-form-urlencoded;charset=UTF-8');
    }
    if (body instanceof Blob && body.type && !headers.has('content-type')) headers.set('content-type', body.type);
    if (typeof body === 'string' && !headers.has('content-type')) headers.set('content-type', 'text/plain;charset=UTF-8');
    return bodyText(body);
  }

  class Response {
    #body;
    #used = false;
    #status;
    #statusText;
    #headers;
    #url;
    constructor(body, init = {}) {
      this.#body = bodyText(body) ?? '';
      this.#status = init.status ?? 200;
      this.#statusText = init.statusText ?? '';
      this.#headers = new Headers(init.headers);
      this.#url = init.url ?? '';
    }
    get status() { return this.#status; }
    get ok() { return this.#status >= 200 && this.#status < 300; }
    get statusText() { return this.#statusText; }
    get headers() { return this.#headers; }
    get url() { return this.#url; }
    get redirected() { return false; }
    get type() { return 'basic'; }
    get body() { return null; }
    get bodyUsed() { return this.#used; }
    get [Symbol.toStringTag]() { return 'Response'; }
    #consume() {
      if (this.#used) return Promise.reject(new TypeError('Body is unusable: Body has already been read'));
      this.#used = true;
      return Promise.resolve(this.#body);
    }
    text() { return this.#consume(); }
    json() { return this.#consume().then((t) => JSON.parse(t)); }
    arrayBuffer() { return this.#consume().then((t) => utf8Encoder.encode(t).buffer); }
    blob() { return this.#consume().then((t) => new Blob([t], { type: this.#headers.get('content-type') || '' })); }
    clone() {
      if (this.#used) throw new TypeError('Response.clone: Body has already been consumed.');
      return new Response(this.#body, { status: this.#status, statusText: this.#statusText, headers: this.#headers, url: this.#url });
    }
    static json(data, init = {}) {
      const headers = new Headers(init.headers);
      if (!headers.has('content-type')) headers.set('content-type', 'application/json');
      return new Response(JSON.stringify(data), { ...init, headers });
    }
    static error() { return new Response(null, { status: 0 }); }
  }

  class Request {
    #url;
    #method;
    #headers;
    #body;
    #signal;
    #used = false;
    #credentials;
    #redirect;
    constructor(input, init = {}) {
      const from = input instanceof Request ? input : null;
      const options = init || {};
      this.#url = from ? from.url : new URL(input instanceof URL ? input.href : String(input)).href;
      this.#method = String(options.method || (from ? from.method : 'GET')).toUpperCase();
      this.#headers = new Headers(options.headers || (from ? from.headers : undefined));
      const body = 'body' in options ? options.body : from ? from._text() : null;
      if (body !== null && body !== undefined && (this.#method === 'GET' || this.#method === 'HEAD')) {
        throw new TypeError('Request with GET/HEAD method cannot have body.');
      }
      this.#body = body === null || body === undefined ? null : encodeBody(body, this.#headers);
      this.#signal = options.signal || (from ? from.signal : new AbortSignal());
      this.#credentials = options.credentials || (from ? from.credentials : 'same-origin');
      this.#redirect = options.redirect || (from ? from.redirect : 'follow');
    }
    get url() { return this.#url; }
    get method() { return this.#method; }
    get headers() { return this.#headers; }
    get signal() { return this.#signal; }
    get credentials() { return this.#credentials; }
    get redirect() { return this.#redirect; }
    get mode() { return 'cors'; }
    get cache() { return 'default'; }
    get body() { return null; }
    get bodyUsed() { return this.#used; }
    get [Symbol.toStringTag]() { return 'Request'; }
    _text() { return this.#body; }
    #consume() {
      if (this.#used) return Promise.reject(new TypeError('Body is unusable: Body has already been read'));
      this.#used = true;
      return Promise.resolve(this.#body ?? '');
    }
    text() { return this.#consume(); }
    json() { return this.#consume().then((t) => JSON.parse(t)); }
    arrayBuffer() { return this.#consume().then((t) => utf8Encoder.encode(t).buffer); }
    clone() { return new Request(this); }
  }

  // fetch(url | URL | Request, init): the host performs the request within the outbound policy and the deadline.
  // An aborted signal rejects the promise with its reason (the host's request is not cancelled; its answer is
  // dropped).
  function fetch(input, init) {
    let request;
    try {
      request = new Request(input, init);
    } catch (e) {
      return Promise.reject(e);
    }
    const signal = request.signal;
    if (signal.aborted) return Promise.reject(signal.reason);
    const sent = host.fetch({ method: request.method, url: request.url, headers: request.headers._raw(), body: request._text() }).then(
      (r) => new Response(r.body, { status: r.status, statusText: r.status_text, headers: r.headers, url: r.url }),
    );
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      sent.then(
        (r) => { signal.removeEventListener('abort', onAbort); resolve(r); },
        (e) => { signal.removeEventListener('abort', onAbort); reject(e); },
      );
    });
  }

  // ---- crypto ----------------------------------------------------------------------------------

  const crypto = {
    randomUUID: () => host.randomUUID(),
    getRandomValues(array) {
      if (!ArrayBuffer.isView(array)) throw new TypeError('crypto.getRandomValues: argument must be a typed array');
      if (array.byteLength > 65536) throw new RangeError('crypto.getRandomValues: at most 65536 bytes');
      new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(host.randomBytes(array.byteLength));
      return array;
    },
  };

  // ---- api objects, one shape per trigger ------------------------------------------------------------------

  const cmd = host.command;

  function cacheApi() {
    return {
      get: (key) => cmd('cache.get', key),
      set: (key, value, options) => cmd('cache.set', key, value, options),
      delete: (key) => cmd('cache.delete', key),
    };
  }

  function postLoginApi() {
    const api = {};
    api.access = { deny: (reason) => (cmd('access.deny', reason), api) };
    api.accessToken = {
      setCustomClaim: (key, value) => (cmd('accessToken.setCustomClaim', key, value), api),
      addScope: (scope) => { cmd('accessToken.addScope', scope); },
      removeScope: (scope) => { cmd('accessToken.removeScope', scope); },
    };
    api.idToken = { setCustomClaim: (key, value) => (cmd('idToken.setCustomClaim', key, value), api) };
    api.multifactor = { enable: (provider, options) => (cmd('multifactor.enable', provider, options), api) };
    api.authentication = {
      challengeWith: (factor, options) => { cmd('authentication.challengeWith', factor, options); },
      challengeWithAny: (factors) => { cmd('authentication.challengeWithAny', factors); },
      enrollWith: (factor, options) => { cmd('authentication.enrollWith', factor, options); },
      enrollWithAny: (factors) => { cmd('authentication.enrollWithAny', factors); },
      recordMethod: (url) => (cmd('authentication.recordMethod', url), api),
      setPrimaryUser: (userId) => { cmd('authentication.setPrimaryUser', userId); },
    };
    api.user = {
      setAppMetadata: (key, value) => (cmd('user.setAppMetadata', key, value), api),
      setUserMetadata: (key, value) => (cmd('user.setUserMetadata', key, value), api),
    };
    api.redirect = {
      sendUserTo: (url, options) => (cmd('redirect.sendUserTo', url, options), api),
      encodeToken: (options) => cmd('redirect.encodeToken', options),
      validateToken: (options) => cmd('redirect.validateToken', options),
      canRedirect: () => cmd('redirect.canRedirect'),
    };
    api.transaction = { setMetadata: (key, value) => { cmd('transaction.setMetadata', key, value); } };
    api.cache = cacheApi();
    api.rules = { wasExecuted: () => false };
    // Reference §2.10 to §2.14: checked like Auth0's wrapper, recorded in the outcome (session.revoke,
    // validation.error and refreshToken.revoke during a refresh token exchange deny the login).
    const recorder = (namespace, methods) => {
      const object = {};
      for (const method of methods) object[method] = (...args) => (cmd(namespace + '.' + method, ...args), api);
      return object;
    };
    const metadataMethods = ['setExpiresAt', 'setIdleExpiresAt', 'setMetadata', 'deleteMetadata', 'evictMetadata', 'revoke'];
    api.session = recorder('session', metadataMethods.concat(['setCookieMode']));
    api.refreshToken = recorder('refreshToken', metadataMethods);
    api.prompt = recorder('prompt', ['render']);
    api.validation = recorder('validation', ['error']);
    api.samlResponse = recorder('samlResponse', [
      'setAttribute', 'setAudience', 'setRecipient', 'setCreateUpnClaim', 'setPassthroughClaimsWithNoMapping',
      'setMapUnknownClaimsAsIs', 'setMapIdentities', 'setSignatureAlgorithm', 'setDigestAlgorithm', 'setDestination',
      'setLifetimeInSeconds', 'setSignResponse', 'setNameIdentifierFormat', 'setNameIdentifierProbes',
      'setAuthnContextClassRef', 'setSigningCert', 'setIncludeAttributeNameFormat', 'setTypedAttributes',
      'setEncryptionCert', 'setEncryptionPublicKey', 'setCert', 'setKey', 'setRelayState', 'setIssuer',
      'setEncryptionAlgorithm',
    ]);
    return api;
  }

  // custom-phone-provider: `api.notification.drop(reason)` / `retry(reason)` (the last call wins) and the cache.
  function customPhoneProviderApi() {
    const api = {};
    api.notification = {
      drop: (reason) => { cmd('notification.drop', reason); },
      retry: (reason) => { cmd('notification.retry', reason); },
    };
    api.cache = cacheApi();
    return api;
  }

  // credentials-exchange: `api.access.deny(code, reason)`, `api.accessToken.setCustomClaim` and the cache.
  function credentialsExchangeApi() {
    const api = {};
    api.access = { deny: (code, reason) => (cmd('credentials.deny', code, reason), api) };
    api.accessToken = { setCustomClaim: (key, value) => (cmd('accessToken.setCustomClaim', key, value), api) };
    api.cache = cacheApi();
    // The target scopes: each call changes event.transaction.target_scopes at once; scopes the client grant does
    // not authorize are dropped when the token is issued.
    api.transaction = {
      addTargetScope: (scope) => (cmd('transaction.addTargetScope', scope), api),
      removeTargetScope: (scope) => (cmd('transaction.removeTargetScope', scope), api),
      setTargetScopes: (scopes) => (cmd('transaction.setTargetScopes', scopes), api),
      clearTargetScopes: () => (cmd('transaction.clearTargetScopes'), api),
    };
    return api;
  }

  // send-phone-message (Auth0's older phone trigger): only the cache.
  function sendPhoneMessageApi() {
    return { cache: cacheApi() };
  }

  // pre-user-registration: `api.access.deny(reason, userMessage)` and `api.validation.error(code, message)` refuse the
  // sign-up after this action; `api.user.set*Metadata` apply to the user being created; the cache.
  function preUserRegistrationApi() {
    const api = {};
    api.access = { deny: (reason, userMessage) => (cmd('registration.deny', reason, userMessage), api) };
    api.user = {
      setAppMetadata: (key, value) => (cmd('user.setAppMetadata', key, value), api),
      setUserMetadata: (key, value) => (cmd('user.setUserMetadata', key, value), api),
    };
    api.validation = { error: (code, message) => (cmd('registration.validationError', code, message), api) };
    api.cache = cacheApi();
    return api;
  }

  // post-user-registration and post-change-password: only the cache (what they do is call out with fetch).
  function cacheOnlyApi() {
    return { cache: cacheApi() };
  }

  // password-reset-post-challenge: `api.access.deny(reason)` ends the reset; a challenge or a redirect ends this run,
  // which resumes once the user completed it (the redirecting action in `onContinuePostChallenge`).
  function passwordResetPostChallengeApi() {
    const api = {};
    api.access = { deny: (reason) => (cmd('access.deny', reason), api) };
    api.authentication = {
      challengeWith: (factor, options) => { cmd('authentication.challengeWith', factor, options); },
      challengeWithAny: (factors) => { cmd('authentication.challengeWithAny', factors); },
    };
    api.redirect = {
      sendUserTo: (url, options) => (cmd('redirect.sendUserTo', url, options), api),
      encodeToken: (options) => cmd('redirect.encodeToken', options),
      validateToken: (options) => cmd('redirect.validateToken', options),
    };
    api.cache = cacheApi();
    return api;
  }

  const apis = {
    'post-login': postLoginApi,
    'custom-phone-provider': customPhoneProviderApi,
    'send-phone-message': sendPhoneMessageApi,
    'credentials-exchange': credentialsExchangeApi,
    'pre-user-registration': preUserRegistrationApi,
    'post-user-registration': cacheOnlyApi,
    'post-change-password': cacheOnlyApi,
    'password-reset-post-challenge': passwordResetPostChallengeApi,
  };

  function setImmediate(callback, ...args) { return setTimeout(callback, 0, ...args); }

  return {
    apis,
    globals: {
      console, Buffer, URL, URLSearchParams, Headers, Response, Request, fetch, crypto, global: undefined,
      setTimeout, setInterval, clearTimeout, clearInterval: clearTimeout, setImmediate, clearImmediate: clearTimeout,
      AbortController, AbortSignal, Blob, FormData, Event, EventTarget, DOMException,
    },
    // What node.js builds Node's built-in modules from.
    internals: { inspect, format, Buffer, URL, URLSearchParams, Blob, concatBytes, TextEncoder, TextDecoder },
    // A login's own state (console counters, timer ids): Maps the host empties after every run, natively.
    perRun: [counters, timerIds, timerSequence],
  };
})
