// Node's built-in modules for actions and their npm dependencies, the `process` global, and CommonJS `require`
// over the modules the host resolved when the flow loaded (crates/engine/src/modules). Evaluated once per sandbox
// context after the prelude and before lockdown, as a function the host calls; lockdown then freezes everything
// this returns, so a built-in module is shared and immutable, while modules from node_modules are instantiated
// per login (their state never reaches another login).
(function (host, internals) {
  'use strict';
  const { inspect, format, Buffer, URL, URLSearchParams, Blob, concatBytes, TextEncoder, TextDecoder } = internals;
  const { defineProperty, getOwnPropertyDescriptor, getPrototypeOf, setPrototypeOf } = Object;
  const hasOwn = (object, key) => Object.prototype.hasOwnProperty.call(object, key);

  function unavailable(name) {
    return "module '" + name + "' is not available in actions";
  }

  // Frozen prototypes make `Sub.prototype.method = f` fail when `method` is inherited (the "override mistake");
  // packages that subclass EventEmitter or Stream do exactly that. Each method becomes an accessor whose setter
  // defines the property on the object assigned to, as lockdown does for the intrinsics.
  function overridable(proto) {
    for (const key of Reflect.ownKeys(proto)) {
      const desc = getOwnPropertyDescriptor(proto, key);
      if (!('value' in desc) || !desc.configurable) continue;
      const value = desc.value;
      const { get, set } = {
        get() { return value; },
        set(v) {
          if (this === proto) throw new TypeError("Cannot assign to read only property '" + String(key) + "' of a built-in module");
          defineProperty(this, key, { value: v, writable: true, enumerable: true, configurable: true });
        },
      };
      defineProperty(proto, key, { get, set, enumerable: desc.enumerable, configurable: false });
    }
  }

  function inherits(ctor, superCtor) {
    if (typeof ctor !== 'function' || typeof superCtor !== 'function' || superCtor.prototype === undefined) {
      throw new TypeError('The "ctor" and "superCtor" arguments must be functions with a prototype');
    }
    defineProperty(ctor, 'super_', { value: superCtor, writable: true, configurable: true });
    setPrototypeOf(ctor.prototype, superCtor.prototype);
  }

  // ---- process --------------------------------------------------------------------------------------------
  // The Node version Auth0 Actions run, for packages that check it. `env` is empty: secrets are in event.secrets.

  const started = Date.now();
  function nextTick(callback, ...args) { queueMicrotask(() => callback(...args)); }
  function hrtime(previous) {
    const now = Date.now() - started;
    const seconds = Math.floor(now / 1000);
    const nanos = (now % 1000) * 1e6;
    if (!previous) return [seconds, nanos];
    let s = seconds - previous[0];
    let n = nanos - previous[1];
    if (n < 0) { s -= 1; n += 1e9; }
    return [s, n];
  }
  hrtime.bigint = () => BigInt(Date.now() - started) * 1000000n;
  const noop = () => {};
  const process = {
    version: 'v22.12.0',
    versions: { node: '22.12.0' },
    platform: 'linux',
    arch: 'x64',
    release: { name: 'node' },
    env: {},
    argv: [],
    execArgv: [],
    pid: 1,
    browser: false,
    title: 'node',
    nextTick,
    hrtime,
    cwd: () => '/',
    uptime: () => (Date.now() - started) / 1000,
    memoryUsage: () => ({ rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }),
    emitWarning: noop,
    on: () => process,
    once: () => process,
    off: () => process,
    removeListener: () => process,
    listeners: () => [],
    exit: () => { throw new Error('process.exit is not available in actions'); },
  };

  // ---- events ---------------------------------------------------------------------------------------------
  // Constructor functions, as Node's are, so `EventEmitter.call(this)` in a subclass works.

  function EventEmitter(options) {
    EventEmitter.init.call(this, options);
  }
  EventEmitter.init = function () {
    if (this._events === undefined || this._events === getPrototypeOf(this)._events) {
      this._events = Object.create(null);
      this._eventsCount = 0;
    }
    this._maxListeners = this._maxListeners || undefined;
  };
  EventEmitter.defaultMaxListeners = 10;
  function events(emitter) {
    if (emitter._events === undefined) EventEmitter.init.call(emitter);
    return emitter._events;
  }
  function addListener(emitter, type, listener, prepend) {
    if (typeof listener !== 'function') throw new TypeError('The "listener" argument must be of type function');
    const all = events(emitter);
    if (all.newListener !== undefined) emitter.emit('newListener', type, listener.listener ? listener.listener : listener);
    const list = all[type];
    if (list === undefined) {
      all[type] = [listener];
      emitter._eventsCount++;
    } else if (prepend) list.unshift(listener);
    else list.push(listener);
    return emitter;
  }
  function onceWrapper(emitter, type, listener) {
    const wrapped = function (...args) {
      emitter.removeListener(type, wrapped);
      return listener.apply(emitter, args);
    };
    wrapped.listener = listener;
    return wrapped;
  }
  EventEmitter.prototype.setMaxListeners = function (n) { this._maxListeners = n; return this; };
  EventEmitter.prototype.getMaxListeners = function () {
    return this._maxListeners === undefined ? EventEmitter.defaultMaxListeners : this._maxListeners;
  };
  EventEmitter.prototype.emit = function (type, ...args) {
    const list = events(this)[type];
    if (list === undefined) {
      if (type === 'error') {
        const err = args[0];
        if (err instanceof Error) throw err;
        const e = new Error('Unhandled error.' + (err === undefined ? '' : ' (' + inspect(err, 1, []) + ')'));
        e.context = err;
        throw e;
      }
      return false;
    }
    for (const listener of list.slice()) listener.apply(this, args);
    return true;
  };
  EventEmitter.prototype.addListener = function (type, listener) { return addListener(this, type, listener, false); };
  EventEmitter.prototype.on = EventEmitter.prototype.addListener;
  EventEmitter.prototype.prependListener = function (type, listener) { return addListener(this, type, listener, true); };
  EventEmitter.prototype.once = function (type, listener) {
    if (typeof listener !== 'function') throw new TypeError('The "listener" argument must be of type function');
    return this.on(type, onceWrapper(this, type, listener));
  };
  EventEmitter.prototype.prependOnceListener = function (type, listener) {
    return this.prependListener(type, onceWrapper(this, type, listener));
  };
  EventEmitter.prototype.removeListener = function (type, listener) {
    const all = events(this);
    const list = all[type];
    if (list === undefined) return this;
    const i = list.findIndex((l) => l === listener || l.listener === listener);
    if (i >= 0) {
      list.splice(i, 1);
      if (list.length === 0) {
        delete all[type];
        this._eventsCount--;
      }
      if (all.removeListener !== undefined) this.emit('removeListener', type, listener);
    }
    return this;
  };
  EventEmitter.prototype.off = EventEmitter.prototype.removeListener;
  EventEmitter.prototype.removeAllListeners = function (type) {
    const all = events(this);
    if (type === undefined) {
      this._events = Object.create(null);
      this._eventsCount = 0;
    } else if (all[type] !== undefined) {
      delete all[type];
      this._eventsCount--;
    }
    return this;
  };
  EventEmitter.prototype.listeners = function (type) {
    return (events(this)[type] || []).map((l) => l.listener || l);
  };
  EventEmitter.prototype.rawListeners = function (type) { return (events(this)[type] || []).slice(); };
  EventEmitter.prototype.listenerCount = function (type) { return (events(this)[type] || []).length; };
  EventEmitter.prototype.eventNames = function () { return Reflect.ownKeys(events(this)); };
  EventEmitter.EventEmitter = EventEmitter;
  EventEmitter.once = (emitter, type) => new Promise((resolve, reject) => {
    emitter.once(type, (...args) => resolve(args));
    if (type !== 'error') emitter.once('error', reject);
  });
  EventEmitter.listenerCount = (emitter, type) => emitter.listenerCount(type);
  EventEmitter.errorMonitor = Symbol('events.errorMonitor');
  EventEmitter.captureRejectionSymbol = Symbol.for('nodejs.rejection');
  EventEmitter.setMaxListeners = noop;
  overridable(EventEmitter.prototype);

  // ---- stream -----------------------------------------------------------------------------------------------
  // The classes dependencies subclass when they load (jws, form-data, follow-redirects) and a simple in-memory
  // flow of chunks; there is no I/O to stream in an action.

  function Stream(options) { EventEmitter.call(this, options); }
  inherits(Stream, EventEmitter);
  Stream.prototype.pipe = function (dest) {
    this.on('data', (chunk) => dest.write(chunk));
    this.on('end', () => { if (typeof dest.end === 'function') dest.end(); });
    return dest;
  };

  function Readable(options) {
    Stream.call(this, options);
    this.readable = true;
    this.destroyed = false;
    this._readableState = { ended: false, objectMode: !!(options && options.objectMode), encoding: null };
    if (options && typeof options.read === 'function') this._read = options.read;
  }
  inherits(Readable, Stream);
  Readable.prototype._read = noop;
  Readable.prototype.push = function (chunk) {
    if (chunk === null) {
      this._readableState.ended = true;
      nextTick(() => this.emit('end'));
      return false;
    }
    const encoding = this._readableState.encoding;
    const value = encoding && typeof chunk !== 'string' ? Buffer.from(chunk).toString(encoding) : chunk;
    nextTick(() => this.emit('data', value));
    return true;
  };
  Readable.prototype.setEncoding = function (encoding) { this._readableState.encoding = encoding; return this; };
  Readable.prototype.resume = function () { this._read(); return this; };
  Readable.prototype.pause = function () { return this; };
  Readable.prototype.read = function () { this._read(); return null; };
  Readable.prototype.destroy = function (error) {
    this.destroyed = true;
    if (error) nextTick(() => this.emit('error', error));
    nextTick(() => this.emit('close'));
    return this;
  };
  Readable.prototype[Symbol.asyncIterator] = function () {
    const chunks = [];
    let done = false;
    let error = null;
    let wake = null;
    this.on('data', (c) => { chunks.push(c); if (wake) wake(); });
    this.on('end', () => { done = true; if (wake) wake(); });
    this.on('error', (e) => { error = e; if (wake) wake(); });
    this.resume();
    return {
      next: () => new Promise((resolve, reject) => {
        const step = () => {
          wake = null;
          if (error) reject(error);
          else if (chunks.length) resolve({ value: chunks.shift(), done: false });
          else if (done) resolve({ value: undefined, done: true });
          else wake = step;
        };
        step();
      }),
      [Symbol.asyncIterator]() { return this; },
    };
  };
  Readable.from = function (iterable, options) {
    const stream = new Readable({ objectMode: true, ...options });
    nextTick(async () => {
      try {
        for await (const chunk of iterable) stream.push(chunk);
        stream.push(null);
      } catch (e) {
        stream.destroy(e);
      }
    });
    return stream;
  };

  function Writable(options) {
    Stream.call(this, options);
    this.writable = true;
    this.destroyed = false;
    this._writableState = { ended: false, finished: false };
    if (options && typeof options.write === 'function') this._write = options.write;
    if (options && typeof options.final === 'function') this._final = options.final;
  }
  inherits(Writable, Stream);
  Writable.prototype._write = function (chunk, encoding, callback) { callback(); };
  Writable.prototype.write = function (chunk, encoding, callback) {
    if (typeof encoding === 'function') {
      callback = encoding;
      encoding = undefined;
    }
    if (this._writableState.ended) {
      const e = new Error('write after end');
      e.code = 'ERR_STREAM_WRITE_AFTER_END';
      nextTick(() => this.emit('error', e));
      return false;
    }
    this._write(chunk, encoding || 'utf8', (error) => {
      if (error) this.emit('error', error);
      if (callback) callback(error);
    });
    return true;
  };
  Writable.prototype.end = function (chunk, encoding, callback) {
    if (typeof chunk === 'function') {
      callback = chunk;
      chunk = undefined;
    } else if (typeof encoding === 'function') {
      callback = encoding;
      encoding = undefined;
    }
    if (chunk !== undefined && chunk !== null) this.write(chunk, encoding);
    if (this._writableState.ended) return this;
    this._writableState.ended = true;
    const finish = () => {
      this._writableState.finished = true;
      this.emit('finish');
      if (callback) callback();
    };
    if (typeof this._final === 'function') this._final((error) => (error ? this.emit('error', error) : nextTick(finish)));
    else nextTick(finish);
    return this;
  };
  Writable.prototype.destroy = Readable.prototype.destroy;
  Writable.prototype.cork = noop;
  Writable.prototype.uncork = noop;
  Writable.prototype.setDefaultEncoding = function () { return this; };

  function Duplex(options) {
    Readable.call(this, options);
    Writable.call(this, options);
  }
  inherits(Duplex, Readable);
  for (const key of ['write', 'end', 'cork', 'uncork', 'setDefaultEncoding', '_write']) {
    Duplex.prototype[key] = Writable.prototype[key];
  }

  function Transform(options) {
    Duplex.call(this, options);
    if (options && typeof options.transform === 'function') this._transform = options.transform;
    if (options && typeof options.flush === 'function') this._flush = options.flush;
  }
  inherits(Transform, Duplex);
  Transform.prototype._transform = function (chunk, encoding, callback) { callback(null, chunk); };
  Transform.prototype._write = function (chunk, encoding, callback) {
    this._transform(chunk, encoding, (error, data) => {
      if (data !== undefined && data !== null) this.push(data);
      callback(error);
    });
  };
  Transform.prototype._final = function (callback) {
    const done = (error, data) => {
      if (data !== undefined && data !== null) this.push(data);
      this.push(null);
      callback(error);
    };
    if (typeof this._flush === 'function') this._flush(done);
    else done();
  };

  function PassThrough(options) { Transform.call(this, options); }
  inherits(PassThrough, Transform);

  function finished(stream, callback) {
    let called = false;
    const done = (error) => { if (!called) { called = true; callback(error); } };
    stream.on('end', () => done());
    stream.on('finish', () => done());
    stream.on('error', done);
    return noop;
  }
  function pipeline(...streams) {
    const callback = typeof streams[streams.length - 1] === 'function' ? streams.pop() : noop;
    for (let i = 0; i + 1 < streams.length; i++) streams[i].pipe(streams[i + 1]);
    finished(streams[streams.length - 1], callback);
    return streams[streams.length - 1];
  }
  for (const ctor of [Stream, Readable, Writable, Duplex, Transform, PassThrough]) overridable(ctor.prototype);
  Object.assign(Stream, { Stream, Readable, Writable, Duplex, Transform, PassThrough, finished, pipeline });

  // ---- util -----------------------------------------------------------------------------------------------

  const inspectCustom = Symbol.for('nodejs.util.inspect.custom');

  const customPromisify = Symbol.for('nodejs.util.promisify.custom');
  function promisify(original) {
    if (typeof original !== 'function') throw new TypeError('The "original" argument must be of type function');
    if (typeof original[customPromisify] === 'function') return original[customPromisify];
    function promisified(...args) {
      return new Promise((resolve, reject) => {
        original.call(this, ...args, (error, value) => (error ? reject(error) : resolve(value)));
      });
    }
    setPrototypeOf(promisified, getPrototypeOf(original));
    return promisified;
  }
  promisify.custom = customPromisify;

  function callbackify(original) {
    if (typeof original !== 'function') throw new TypeError('The "original" argument must be of type function');
    return function (...args) {
      const callback = args.pop();
      original.apply(this, args).then((value) => nextTick(callback, null, value), (error) => nextTick(callback, error));
    };
  }

  function isDeepStrictEqual(a, b, seen = []) {
    if (Object.is(a, b)) return true;
    if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
    if (getPrototypeOf(a) !== getPrototypeOf(b)) return false;
    if (seen.some(([x, y]) => x === a && y === b)) return true;
    const next = seen.concat([[a, b]]);
    if (a instanceof Date) return a.getTime() === b.getTime();
    if (a instanceof RegExp) return String(a) === String(b);
    if (ArrayBuffer.isView(a)) return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
    if (a instanceof Map) {
      if (a.size !== b.size) return false;
      for (const [k, v] of a) if (!b.has(k) || !isDeepStrictEqual(v, b.get(k), next)) return false;
      return true;
    }
    if (a instanceof Set) {
      if (a.size !== b.size) return false;
      for (const v of a) if (!b.has(v)) return false;
      return true;
    }
    const keysA = Reflect.ownKeys(a).filter((k) => Object.prototype.propertyIsEnumerable.call(a, k));
    const keysB = Reflect.ownKeys(b).filter((k) => Object.prototype.propertyIsEnumerable.call(b, k));
    if (keysA.length !== keysB.length) return false;
    return keysA.every((k) => hasOwn(b, k) && isDeepStrictEqual(a[k], b[k], next));
  }

  const tag = (v) => Object.prototype.toString.call(v);
  const types = {
    isPromise: (v) => v instanceof Promise,
    isDate: (v) => v instanceof Date,
    isRegExp: (v) => v instanceof RegExp,
    isNativeError: (v) => v instanceof Error,
    isMap: (v) => v instanceof Map,
    isSet: (v) => v instanceof Set,
    isWeakMap: (v) => v instanceof WeakMap,
    isWeakSet: (v) => v instanceof WeakSet,
    isArrayBuffer: (v) => v instanceof ArrayBuffer,
    isAnyArrayBuffer: (v) => v instanceof ArrayBuffer || (typeof SharedArrayBuffer === 'function' && v instanceof SharedArrayBuffer),
    isArrayBufferView: (v) => ArrayBuffer.isView(v),
    isTypedArray: (v) => ArrayBuffer.isView(v) && !(v instanceof DataView),
    isUint8Array: (v) => v instanceof Uint8Array,
    isDataView: (v) => v instanceof DataView,
    isGeneratorFunction: (v) => typeof v === 'function' && tag(v) === '[object GeneratorFunction]',
    isAsyncFunction: (v) => typeof v === 'function' && tag(v) === '[object AsyncFunction]',
    isBoxedPrimitive: (v) => ['[object Number]', '[object String]', '[object Boolean]', '[object Symbol]', '[object BigInt]'].includes(tag(v)) && typeof v === 'object',
    isProxy: () => false,
    isKeyObject: (v) => v instanceof KeyObject,
    isCryptoKey: () => false,
  };

  const util = {
    format: (...args) => format(args),
    formatWithOptions: (options, ...args) => format(args),
    inherits,
    promisify,
    callbackify,
    deprecate: (fn) => fn,
    debuglog: () => Object.assign(noop, { enabled: false }),
    debug: () => noop,
    isDeepStrictEqual: (a, b) => isDeepStrictEqual(a, b),
    types,
    TextEncoder,
    TextDecoder,
    isArray: Array.isArray,
    isBoolean: (v) => typeof v === 'boolean',
    isNull: (v) => v === null,
    isNullOrUndefined: (v) => v === null || v === undefined,
    isNumber: (v) => typeof v === 'number',
    isString: (v) => typeof v === 'string',
    isSymbol: (v) => typeof v === 'symbol',
    isUndefined: (v) => v === undefined,
    isRegExp: types.isRegExp,
    isObject: (v) => v !== null && typeof v === 'object',
    isDate: types.isDate,
    isError: types.isNativeError,
    isFunction: (v) => typeof v === 'function',
    isPrimitive: (v) => v === null || (typeof v !== 'object' && typeof v !== 'function'),
    isBuffer: (v) => Buffer.isBuffer(v),
    stripVTControlCharacters: (s) => String(s).replace(/\u001b\[[0-9;]*[A-Za-z]/g, ''),
    toUSVString: (s) => String(s).toWellFormed ? String(s).toWellFormed() : String(s),
  };
  // `inspect` the way Node prints it: strings quoted inside containers, bare at the top.
  util.inspect = Object.assign((value) => inspect(value, 1, []), { custom: inspectCustom, defaultOptions: {} });

  // ---- assert -----------------------------------------------------------------------------------------------

  class AssertionError extends Error {
    constructor(options = {}) {
      super(options.message === undefined ? 'Failed' : String(options.message));
      this.name = 'AssertionError';
      this.code = 'ERR_ASSERTION';
      this.actual = options.actual;
      this.expected = options.expected;
      this.operator = options.operator;
      this.generatedMessage = options.generated === true;
    }
  }
  function fail(actual, expected, message, operator, generated) {
    if (message instanceof Error) throw message;
    throw new AssertionError({ message: message === undefined ? generated : message, actual, expected, operator, generated: message === undefined });
  }
  const show = (v) => inspect(v, 1, []);
  function assert(value, message) {
    if (!value) fail(value, true, message, '==', 'The expression evaluated to a falsy value:\n\n  assert(' + show(value) + ')\n');
  }
  function matches(error, expected) {
    if (expected === undefined) return true;
    if (typeof expected === 'function') {
      if (expected.prototype !== undefined && error instanceof expected) return true;
      if (Error.isPrototypeOf(expected) || expected === Error) return false;
      return expected(error) === true;
    }
    if (expected instanceof RegExp) return expected.test(String(error && error.message !== undefined ? error : error));
    if (typeof expected === 'object' && expected !== null) {
      return Object.keys(expected).every((k) => (expected[k] instanceof RegExp && typeof error[k] === 'string' ? expected[k].test(error[k]) : isDeepStrictEqual(error[k], expected[k])));
    }
    return false;
  }
  Object.assign(assert, {
    ok: (value, message) => assert(value, message),
    fail: (message) => fail(undefined, undefined, message, 'fail', 'Failed'),
    equal: (a, b, m) => { if (!(a == b || (a !== a && b !== b))) fail(a, b, m, '==', show(a) + ' == ' + show(b)); },
    notEqual: (a, b, m) => { if (a == b) fail(a, b, m, '!=', show(a) + ' != ' + show(b)); },
    strictEqual: (a, b, m) => { if (!Object.is(a, b)) fail(a, b, m, 'strictEqual', 'Expected values to be strictly equal:\n\n' + show(a) + ' !== ' + show(b) + '\n'); },
    notStrictEqual: (a, b, m) => { if (Object.is(a, b)) fail(a, b, m, 'notStrictEqual', 'Expected "actual" to be strictly unequal to: ' + show(b)); },
    deepEqual: (a, b, m) => { if (!isDeepStrictEqual(a, b)) fail(a, b, m, 'deepEqual', 'Expected values to be loosely deep-equal:\n\n' + show(a) + '\n\nshould loosely deep-equal\n\n' + show(b)); },
    deepStrictEqual: (a, b, m) => { if (!isDeepStrictEqual(a, b)) fail(a, b, m, 'deepStrictEqual', 'Expected values to be strictly deep-equal:\n' + show(a) + '\n\nshould equal\n\n' + show(b)); },
    notDeepEqual: (a, b, m) => { if (isDeepStrictEqual(a, b)) fail(a, b, m, 'notDeepEqual', '"actual" deep-equals "expected"'); },
    notDeepStrictEqual: (a, b, m) => { if (isDeepStrictEqual(a, b)) fail(a, b, m, 'notDeepStrictEqual', 'Expected "actual" not to be strictly deep-equal to: ' + show(b)); },
    match: (s, re, m) => { if (!re.test(s)) fail(s, re, m, 'match', 'The input did not match the regular expression ' + String(re) + '. Input:\n\n' + show(s) + '\n'); },
    doesNotMatch: (s, re, m) => { if (re.test(s)) fail(s, re, m, 'doesNotMatch', 'The input was expected to not match the regular expression ' + String(re)); },
    ifError: (value) => { if (value !== null && value !== undefined) throw value; },
    throws: (fn, expected, message) => {
      if (typeof expected === 'string') { message = expected; expected = undefined; }
      try {
        fn();
      } catch (error) {
        if (!matches(error, expected)) throw error;
        return;
      }
      fail(undefined, expected, message, 'throws', 'Missing expected exception.');
    },
    doesNotThrow: (fn, message) => {
      try {
        fn();
      } catch (error) {
        fail(error, undefined, message, 'doesNotThrow', 'Got unwanted exception.\nActual message: "' + (error && error.message) + '"');
      }
    },
    rejects: async (promiseOrFn, expected, message) => {
      if (typeof expected === 'string') { message = expected; expected = undefined; }
      try {
        await (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn);
      } catch (error) {
        if (!matches(error, expected)) throw error;
        return;
      }
      fail(undefined, expected, message, 'rejects', 'Missing expected rejection.');
    },
    doesNotReject: async (promiseOrFn, message) => {
      try {
        await (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn);
      } catch (error) {
        fail(error, undefined, message, 'doesNotReject', 'Got unwanted rejection.\nActual message: "' + (error && error.message) + '"');
      }
    },
    AssertionError,
  });
  assert.strict = assert;

  // ---- path (POSIX) -------------------------------------------------------------------------------------------

  function normalizeParts(parts, absolute) {
    const out = [];
    for (const part of parts) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (out.length && out[out.length - 1] !== '..') out.pop();
        else if (!absolute) out.push('..');
      } else out.push(part);
    }
    return out;
  }
  const path = {
    sep: '/',
    delimiter: ':',
    isAbsolute: (p) => String(p).startsWith('/'),
    normalize(p) {
      p = String(p);
      if (p === '') return '.';
      const absolute = p.startsWith('/');
      const trailing = p.endsWith('/');
      let out = normalizeParts(p.split('/'), absolute).join('/');
      if (out === '' && !absolute) out = '.';
      if (out && trailing) out += '/';
      return (absolute ? '/' : '') + out;
    },
    join: (...parts) => {
      const joined = parts.map(String).filter((p) => p !== '').join('/');
      return joined === '' ? '.' : path.normalize(joined);
    },
    resolve: (...parts) => {
      let resolved = '';
      for (let i = parts.length - 1; i >= 0 && !resolved.startsWith('/'); i--) {
        const part = String(parts[i]);
        if (part) resolved = part + (resolved ? '/' + resolved : '');
      }
      if (!resolved.startsWith('/')) resolved = '/' + resolved;
      return '/' + normalizeParts(resolved.split('/'), true).join('/');
    },
    relative: (from, to) => {
      const a = path.resolve(from).split('/').filter(Boolean);
      const b = path.resolve(to).split('/').filter(Boolean);
      let i = 0;
      while (i < a.length && i < b.length && a[i] === b[i]) i++;
      return a.slice(i).map(() => '..').concat(b.slice(i)).join('/');
    },
    dirname: (p) => {
      p = String(p);
      if (p === '') return '.';
      const trimmed = p.length > 1 ? p.replace(/\/+$/, '') : p;
      const i = trimmed.lastIndexOf('/');
      if (i < 0) return '.';
      if (i === 0) return '/';
      return trimmed.slice(0, i);
    },
    basename: (p, ext) => {
      const trimmed = String(p).replace(/\/+$/, '');
      let base = trimmed.slice(trimmed.lastIndexOf('/') + 1);
      if (ext && base.endsWith(ext) && base !== ext) base = base.slice(0, -ext.length);
      return base;
    },
    extname: (p) => {
      const base = path.basename(p);
      const i = base.lastIndexOf('.');
      return i <= 0 ? '' : base.slice(i);
    },
    parse: (p) => {
      const root = String(p).startsWith('/') ? '/' : '';
      const base = path.basename(p);
      const ext = path.extname(p);
      const dir = path.dirname(p);
      return { root, dir: dir === '.' && !String(p).includes('/') ? '' : dir, base, ext, name: ext ? base.slice(0, -ext.length) : base };
    },
    format: (o) => {
      const dir = o.dir || o.root || '';
      const base = o.base || (o.name || '') + (o.ext || '');
      return dir ? (dir === o.root ? dir + base : dir + '/' + base) : base;
    },
    toNamespacedPath: (p) => p,
  };
  path.posix = path;

  // ---- querystring ------------------------------------------------------------------------------------------

  function qsUnescape(s) {
    try {
      return decodeURIComponent(s);
    } catch (e) {
      return s;
    }
  }
  function qsEscape(s) { return encodeURIComponent(s); }
  function qsValue(v) {
    if (typeof v === 'string') return v;
    if ((typeof v === 'number' && isFinite(v)) || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
    return '';
  }
  const querystring = {
    escape: qsEscape,
    unescape: qsUnescape,
    parse(text, sep = '&', eq = '=', options = {}) {
      const out = Object.create(null);
      if (typeof text !== 'string' || text.length === 0) return out;
      const max = options.maxKeys === undefined ? 1000 : options.maxKeys;
      const decode = typeof options.decodeURIComponent === 'function' ? options.decodeURIComponent : qsUnescape;
      let parts = text.split(sep);
      if (max > 0) parts = parts.slice(0, max);
      for (const part of parts) {
        if (part === '') continue;
        const i = part.indexOf(eq);
        const key = decode((i >= 0 ? part.slice(0, i) : part).replace(/\+/g, ' '));
        const value = decode((i >= 0 ? part.slice(i + eq.length) : '').replace(/\+/g, ' '));
        if (!hasOwn(out, key)) out[key] = value;
        else if (Array.isArray(out[key])) out[key].push(value);
        else out[key] = [out[key], value];
      }
      return out;
    },
    stringify(object, sep = '&', eq = '=', options = {}) {
      if (object === null || typeof object !== 'object') return '';
      const encode = typeof options.encodeURIComponent === 'function' ? options.encodeURIComponent : qsEscape;
      return Object.keys(object)
        .map((k) => {
          const key = encode(qsValue(k)) + eq;
          const v = object[k];
          return Array.isArray(v) ? v.map((x) => key + encode(qsValue(x))).join(sep) : key + encode(qsValue(v));
        })
        .filter(Boolean)
        .join(sep);
    },
  };
  querystring.decode = querystring.parse;
  querystring.encode = querystring.stringify;

  // ---- url ----------------------------------------------------------------------------------------------------

  function Url() {
    Object.assign(this, {
      protocol: null, slashes: null, auth: null, host: null, port: null, hostname: null,
      hash: null, search: null, query: null, pathname: null, path: null, href: null,
    });
  }
  function urlParse(input, parseQuery, slashesDenoteHost) {
    if (input instanceof Url) return input;
    const text = String(input).trim();
    const m = /^(?:([a-zA-Z][a-zA-Z0-9+.-]*:))?(\/\/(?:([^@/?#]*)@)?(\[[^\]]*\]|[^/?#:]*)(?::(\d*))?)?([^?#]*)(\?[^#]*)?(#.*)?$/.exec(text);
    const url = new Url();
    if (!m) {
      url.pathname = text;
      url.path = text;
      url.href = text;
      return url;
    }
    url.protocol = m[1] ? m[1].toLowerCase() : null;
    if (m[2] !== undefined && (url.protocol || slashesDenoteHost)) {
      url.slashes = true;
      url.auth = m[3] === undefined ? null : qsUnescape(m[3]);
      url.hostname = (m[4] || '').toLowerCase();
      url.port = m[5] || null;
      url.host = url.hostname + (url.port ? ':' + url.port : '');
      url.pathname = m[6] || (url.protocol ? '/' : null);
    } else {
      url.pathname = (m[2] || '') + (m[6] || '') || null;
    }
    url.search = m[7] || null;
    url.hash = m[8] || null;
    const query = url.search ? url.search.slice(1) : '';
    url.query = parseQuery ? querystring.parse(query) : url.search ? query : null;
    url.path = (url.pathname || '') + (url.search || '') || null;
    url.href = urlFormat(url);
    return url;
  }
  function urlFormat(object) {
    if (typeof object === 'string') object = urlParse(object);
    if (object instanceof URL) return object.href;
    let out = object.protocol ? (object.protocol.endsWith(':') ? object.protocol : object.protocol + ':') : '';
    const host = object.host || (object.hostname ? object.hostname + (object.port ? ':' + object.port : '') : '');
    if (object.slashes || (host && /^(https?|ftp|wss?|file):?$/.test(object.protocol || ''))) out += '//';
    if (object.auth) out += encodeURIComponent(object.auth).replace(/%3A/i, ':') + '@';
    out += host;
    let pathname = object.pathname || '';
    if (host && pathname && !pathname.startsWith('/')) pathname = '/' + pathname;
    out += pathname;
    let search = object.search || '';
    if (!search && object.query && typeof object.query === 'object') {
      const qs = querystring.stringify(object.query);
      if (qs) search = '?' + qs;
    }
    if (search && !search.startsWith('?')) search = '?' + search;
    out += search;
    if (object.hash) out += object.hash.startsWith('#') ? object.hash : '#' + object.hash;
    return out;
  }
  const url = {
    URL,
    URLSearchParams,
    Url,
    parse: urlParse,
    format: urlFormat,
    resolve: (from, to) => {
      try {
        return new URL(to, from).href;
      } catch (e) {
        const base = 'http://gatehouse.invalid';
        const resolved = new URL(to, new URL(from, base)).href;
        return resolved.startsWith(base) ? resolved.slice(base.length) : resolved;
      }
    },
    domainToASCII: (domain) => { try { return new URL('http://' + domain).hostname; } catch (e) { return ''; } },
    domainToUnicode: (domain) => String(domain),
    fileURLToPath: () => { throw new Error("url.fileURLToPath: there are no files in actions"); },
    pathToFileURL: () => { throw new Error("url.pathToFileURL: there are no files in actions"); },
  };

  // ---- string_decoder -----------------------------------------------------------------------------------------

  function StringDecoder(encoding) {
    const normalized = String(encoding || 'utf8').toLowerCase().replace('-', '');
    if (!Buffer.isEncoding(normalized) && normalized !== 'utf8') throw new TypeError('Unknown encoding: ' + encoding);
    this.encoding = normalized;
    this._pending = new Uint8Array(0);
  }
  // How many bytes at the end of `bytes` begin a UTF-8 sequence that is not complete yet.
  function incompleteTail(bytes) {
    for (let back = 1; back <= Math.min(3, bytes.length); back++) {
      const b = bytes[bytes.length - back];
      if ((b & 0xc0) === 0x80) continue;
      const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
      return need > back ? back : 0;
    }
    return 0;
  }
  StringDecoder.prototype.write = function (chunk) {
    if (typeof chunk === 'string') return chunk;
    const view = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.encoding !== 'utf8') return Buffer.from(view).toString(this.encoding);
    const bytes = concatBytes([this._pending, view]);
    const keep = incompleteTail(bytes);
    this._pending = bytes.slice(bytes.length - keep);
    return Buffer.from(bytes.subarray(0, bytes.length - keep)).toString('utf8');
  };
  StringDecoder.prototype.end = function (chunk) {
    let out = chunk === undefined ? '' : this.write(chunk);
    if (this._pending.length) out += '\ufffd';
    this._pending = new Uint8Array(0);
    return out;
  };
  StringDecoder.prototype.text = StringDecoder.prototype.write;

  // ---- crypto -------------------------------------------------------------------------------------------------
  // Hashes, HMAC and RSA signatures are computed by the host (md5, sha1, sha256, sha384, sha512; RS256/384/512
  // with PKCS#1 v1.5). RSA keys are PEM (PKCS#8, PKCS#1, SPKI); other key types, ciphers and key derivation are
  // not available and say so.

  function toBytes(data, encoding, what = 'data') {
    if (typeof data === 'string') return Buffer.from(data, encoding);
    if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (data instanceof ArrayBuffer) return new Uint8Array(data);
    throw new TypeError('The "' + what + '" argument must be of type string or an instance of Buffer, TypedArray, or DataView.');
  }
  function output(bytes, encoding) {
    const buf = Buffer.from(bytes);
    return encoding && encoding !== 'buffer' ? buf.toString(encoding) : buf;
  }

  class Hash {
    #algorithm;
    #chunks = [];
    #done = false;
    constructor(algorithm, chunks) {
      this.#algorithm = host.digestAlgorithm(String(algorithm));
      if (chunks) this.#chunks = chunks.slice();
    }
    update(data, encoding) {
      if (this.#done) throw new Error('Digest already called');
      this.#chunks.push(toBytes(data, encoding).slice());
      return this;
    }
    digest(encoding) {
      if (this.#done) throw new Error('Digest already called');
      this.#done = true;
      return output(host.digest(this.#algorithm, concatBytes(this.#chunks)), encoding);
    }
    copy() {
      if (this.#done) throw new Error('Digest already called');
      return new Hash(this.#algorithm, this.#chunks);
    }
  }

  class Hmac {
    #algorithm;
    #key;
    #chunks = [];
    #done = false;
    constructor(algorithm, key, encoding) {
      this.#algorithm = host.digestAlgorithm(String(algorithm));
      this.#key = key instanceof KeyObject ? keyBytes(key) : toBytes(key, encoding, 'key').slice();
    }
    update(data, encoding) {
      if (this.#done) throw new Error('Digest already called');
      this.#chunks.push(toBytes(data, encoding).slice());
      return this;
    }
    digest(encoding) {
      if (this.#done) throw new Error('Digest already called');
      this.#done = true;
      return output(host.hmac(this.#algorithm, this.#key, concatBytes(this.#chunks)), encoding);
    }
  }

  // KeyObject: `secret` keys hold their bytes; RSA keys hold the PEM the host checked, with their details.
  const keyToken = Symbol('KeyObject');
  let keyBytes;
  let keyPem;
  class KeyObject {
    #type;
    #bytes;
    #pem;
    #details;
    constructor(token, type, material, details) {
      if (token !== keyToken) throw new TypeError('Illegal constructor');
      this.#type = type;
      if (type === 'secret') this.#bytes = material;
      else {
        this.#pem = material;
        this.#details = details;
      }
    }
    static _bytes(key) { return key.#bytes; }
    static _pem(key) { return key.#pem; }
    static from() { throw new TypeError('KeyObject.from: CryptoKey is not available in actions'); }
    get type() { return this.#type; }
    get asymmetricKeyType() { return this.#type === 'secret' ? undefined : 'rsa'; }
    get asymmetricKeyDetails() {
      if (this.#type === 'secret') return undefined;
      return { modulusLength: this.#details.modulusLength, publicExponent: BigInt(this.#details.publicExponent) };
    }
    get symmetricKeySize() { return this.#type === 'secret' ? this.#bytes.length : undefined; }
    export(options = {}) {
      if (this.#type === 'secret') {
        if (options.format === 'jwk') return { kty: 'oct', k: Buffer.from(this.#bytes).toString('base64url') };
        return Buffer.from(this.#bytes);
      }
      if (options.format === 'jwk') return host.keyJwk(this.#pem);
      if (options.format === 'der') {
        const body = this.#pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
        return Buffer.from(body, 'base64');
      }
      if (options.type === 'pkcs1') throw new Error('KeyObject.export: PKCS#1 output is not available in actions; use spki or pkcs8');
      return this.#pem;
    }
    equals(other) {
      if (!(other instanceof KeyObject) || other.type !== this.#type) return false;
      if (this.#type === 'secret') return Buffer.compare(Buffer.from(this.#bytes), Buffer.from(keyBytes(other))) === 0;
      return this.#pem === keyPem(other);
    }
  }
  keyBytes = KeyObject._bytes;
  keyPem = KeyObject._pem;
  delete KeyObject._bytes;
  delete KeyObject._pem;

  // The PEM text of a key argument (a PEM string or buffer, DER with `format: 'der'`, or `{ key, ... }`).
  function keyText(input, label) {
    let key = input;
    let options = {};
    if (key !== null && typeof key === 'object' && !ArrayBuffer.isView(key) && !(key instanceof KeyObject)) {
      options = key;
      key = key.key;
    }
    if (key instanceof KeyObject) return { object: key };
    if (options.passphrase !== undefined) throw new Error('Encrypted private keys are not available in actions');
    if (options.format === 'jwk') throw new Error('JWK key input is not available in actions; use PEM');
    if (options.format === 'der') {
      const der = Buffer.from(toBytes(key, undefined, 'key')).toString('base64');
      const name = options.type === 'pkcs1' ? 'RSA ' + label : options.type === 'spki' ? 'PUBLIC KEY' : label;
      return { pem: '-----BEGIN ' + name + '-----\n' + der + '\n-----END ' + name + '-----\n' };
    }
    if (typeof key === 'string') return { pem: key };
    if (ArrayBuffer.isView(key)) return { pem: Buffer.from(toBytes(key)).toString('utf8') };
    throw new TypeError('The "key" argument must be of type string or an instance of Buffer, TypedArray, DataView, or KeyObject.');
  }

  function createPrivateKey(input) {
    const { object, pem } = keyText(input, 'PRIVATE KEY');
    if (object) {
      if (object.type !== 'private') throw new TypeError('Invalid key object type ' + object.type + ', expected private.');
      return object;
    }
    const info = host.parseKey('private', pem);
    return new KeyObject(keyToken, 'private', info.pem, info);
  }
  function createPublicKey(input) {
    const { object, pem } = keyText(input, 'PUBLIC KEY');
    if (object) {
      if (object.type === 'secret') throw new TypeError('Invalid key object type secret, expected private or public.');
      if (object.type === 'public') return object;
      const info = host.parseKey('public', keyPem(object));
      return new KeyObject(keyToken, 'public', info.pem, info);
    }
    const info = host.parseKey('public', pem);
    return new KeyObject(keyToken, 'public', info.pem, info);
  }
  function createSecretKey(key, encoding) {
    return new KeyObject(keyToken, 'secret', toBytes(key, encoding, 'key').slice());
  }

  function signingPem(key, expected) {
    if (key instanceof KeyObject) {
      if (key.type === 'secret') throw new TypeError('Invalid key object type secret, expected ' + expected + '.');
      return keyPem(key);
    }
    if (key !== null && typeof key === 'object' && !ArrayBuffer.isView(key)) {
      if (key.padding !== undefined && key.padding !== 1) throw new Error('RSA-PSS signatures are not available in actions');
      if (key.key instanceof KeyObject) return signingPem(key.key, expected);
    }
    const { pem } = keyText(key, expected === 'private' ? 'PRIVATE KEY' : 'PUBLIC KEY');
    return pem;
  }

  class Sign extends Writable {
    #algorithm;
    #chunks = [];
    constructor(algorithm) {
      super();
      this.#algorithm = host.digestAlgorithm(String(algorithm));
    }
    update(data, encoding) { this.#chunks.push(toBytes(data, encoding).slice()); return this; }
    sign(key, encoding) {
      return output(host.rsaSign(this.#algorithm, signingPem(key, 'private'), concatBytes(this.#chunks)), encoding);
    }
  }
  class Verify extends Writable {
    #algorithm;
    #chunks = [];
    constructor(algorithm) {
      super();
      this.#algorithm = host.digestAlgorithm(String(algorithm));
    }
    update(data, encoding) { this.#chunks.push(toBytes(data, encoding).slice()); return this; }
    verify(key, signature, encoding) {
      return host.rsaVerify(this.#algorithm, signingPem(key, 'public'), concatBytes(this.#chunks), toBytes(signature, encoding, 'signature').slice());
    }
  }

  function randomBytes(size, callback) {
    if (typeof size !== 'number' || size < 0 || size > 2 ** 31 - 1) throw new RangeError('The value of "size" is out of range.');
    const chunks = [];
    for (let left = size; left > 0; left -= 65536) chunks.push(Uint8Array.from(host.randomBytes(Math.min(left, 65536))));
    const buf = Buffer.from(concatBytes(chunks));
    if (typeof callback === 'function') {
      nextTick(callback, null, buf);
      return undefined;
    }
    return buf;
  }
  function randomFillSync(buffer, offset = 0, size) {
    const view = toBytes(buffer, undefined, 'buf');
    const length = size === undefined ? view.length - offset : size;
    view.set(randomBytes(length), offset);
    return buffer;
  }
  function randomInt(min, max, callback) {
    if (max === undefined || typeof max === 'function') {
      callback = max;
      max = min;
      min = 0;
    }
    const range = max - min;
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || range <= 0 || range > 2 ** 48) {
      throw new RangeError('The value of "max" is out of range. It must be greater than the value of "min" and at most 2^48 more');
    }
    const limit = 2 ** 48 - (2 ** 48 % range);
    let n;
    do {
      const b = randomBytes(6);
      n = b[0] * 2 ** 40 + b[1] * 2 ** 32 + b[2] * 2 ** 24 + b[3] * 2 ** 16 + b[4] * 2 ** 8 + b[5];
    } while (n >= limit);
    const value = min + (n % range);
    if (typeof callback === 'function') {
      nextTick(callback, null, value);
      return undefined;
    }
    return value;
  }
  function timingSafeEqual(a, b) {
    const x = toBytes(a, undefined, 'buf1');
    const y = toBytes(b, undefined, 'buf2');
    if (x.length !== y.length) throw new RangeError('Input buffers must have the same byte length');
    let difference = 0;
    for (let i = 0; i < x.length; i++) difference |= x[i] ^ y[i];
    return difference === 0;
  }
  const notInActions = (name) => function () { throw new Error('crypto.' + name + ' is not available in actions'); };
  const crypto = {
    createHash: (algorithm) => new Hash(algorithm),
    createHmac: (algorithm, key, options) => new Hmac(algorithm, key, options && options.encoding),
    hash: (algorithm, data, encoding = 'hex') => new Hash(algorithm).update(data).digest(encoding),
    createSign: (algorithm) => new Sign(algorithm),
    createVerify: (algorithm) => new Verify(algorithm),
    sign: (algorithm, data, key) => new Sign(algorithm || 'sha256').update(data).sign(key),
    verify: (algorithm, data, key, signature) => new Verify(algorithm || 'sha256').update(data).verify(key, signature),
    createPrivateKey,
    createPublicKey,
    createSecretKey,
    KeyObject,
    randomBytes,
    pseudoRandomBytes: randomBytes,
    randomFillSync,
    randomFill: (buffer, ...rest) => {
      const callback = rest.pop();
      randomFillSync(buffer, ...rest);
      nextTick(callback, null, buffer);
    },
    randomInt,
    randomUUID: () => host.randomUUID(),
    getRandomValues: (array) => globalThis.crypto.getRandomValues(array),
    timingSafeEqual,
    getHashes: () => ['md5', 'sha1', 'sha256', 'sha384', 'sha512'],
    getCiphers: () => [],
    getCurves: () => [],
    constants: {
      RSA_PKCS1_PADDING: 1, RSA_NO_PADDING: 3, RSA_PKCS1_OAEP_PADDING: 4, RSA_PKCS1_PSS_PADDING: 6,
      RSA_PSS_SALTLEN_DIGEST: -1, RSA_PSS_SALTLEN_MAX_SIGN: -2, RSA_PSS_SALTLEN_AUTO: -2,
    },
    webcrypto: undefined,
  };
  for (const name of [
    'createCipheriv', 'createDecipheriv', 'pbkdf2', 'pbkdf2Sync', 'scrypt', 'scryptSync', 'hkdf', 'hkdfSync',
    'generateKeyPair', 'generateKeyPairSync', 'generateKey', 'generateKeySync', 'publicEncrypt', 'privateDecrypt',
    'privateEncrypt', 'publicDecrypt', 'createECDH', 'createDiffieHellman', 'getDiffieHellman', 'diffieHellman',
    'X509Certificate', 'Certificate',
  ]) {
    crypto[name] = notInActions(name);
  }

  // ---- buffer, timers -------------------------------------------------------------------------------------------

  const buffer = {
    Buffer,
    SlowBuffer: Buffer,
    Blob,
    kMaxLength: 2 ** 32,
    kStringMaxLength: 2 ** 29 - 24,
    constants: { MAX_LENGTH: 2 ** 32, MAX_STRING_LENGTH: 2 ** 29 - 24 },
    INSPECT_MAX_BYTES: 50,
    atob: globalThis.atob,
    btoa: globalThis.btoa,
    isUtf8: (input) => { try { new TextDecoder('utf-8', { fatal: true }).decode(input); return true; } catch (e) { return false; } },
  };
  const timers = {
    setTimeout: globalThis.setTimeout,
    setInterval: globalThis.setInterval,
    clearTimeout: globalThis.clearTimeout,
    clearInterval: globalThis.clearInterval,
    setImmediate: globalThis.setImmediate,
    clearImmediate: globalThis.clearImmediate,
  };

  const builtins = {
    assert, 'assert/strict': assert, buffer, crypto, events: EventEmitter, path, process, querystring,
    stream: Stream, string_decoder: { StringDecoder }, timers, url, util,
  };

  // ---- the stubs of Node built-ins actions do not have ----------------------------------------------------------
  // Reading any property gives another stub (so `zlib.constants.Z_SYNC_FLUSH` or `class X extends http.Agent`
  // still loads); calling or constructing one throws "module 'zlib' is not available in actions".

  function stub(name) {
    const message = unavailable(name);
    const target = function () {};
    return new Proxy(target, {
      get(t, key) {
        if (hasOwn(t, key)) return Reflect.get(t, key);
        if (typeof key === 'symbol' || key === 'then' || key === '__esModule') return undefined;
        return stub(name);
      },
      apply() { throw new Error(message); },
      construct() { throw new Error(message); },
    });
  }

  // ---- require ------------------------------------------------------------------------------------------------
  // The module cache lives for one login: the host empties it after every run (`perRun`), so every login runs
  // each module it requires from scratch (as each action's own module scope is fresh).

  const moduleCache = new Map();
  function notFound(id, reason) {
    const error = new Error("Cannot find module '" + id + "'" + (reason ? ': ' + reason : ''));
    error.code = 'MODULE_NOT_FOUND';
    return error;
  }

  // `defs[i]`: { filename, dirname, kind: 'js' | 'json', fn, value, error, links }; `actionLinks[a]`: links.
  // A link is { kind: 'module' | 'builtin' | 'unavailable' | 'missing', to }.
  function link(defs, actionLinks) {
    const stubs = new Map();
    const requires = [];
    function load(index) {
      const cached = moduleCache.get(index);
      if (cached) return cached.exports;
      const def = defs[index];
      const module = {
        id: def.filename, filename: def.filename, path: def.dirname, exports: {}, loaded: false,
        children: [], paths: [], require: requires[index],
      };
      if (def.kind === 'json') {
        module.exports = def.value;
      } else {
        if (def.error) throw new SyntaxError(def.error);
        moduleCache.set(index, module);
        try {
          def.fn.call(module.exports, module.exports, requires[index], module, def.filename, def.dirname);
        } catch (e) {
          moduleCache.delete(index);
          throw e;
        }
      }
      module.loaded = true;
      moduleCache.set(index, module);
      return module.exports;
    }
    function makeRequire(links) {
      function require(id) {
        if (typeof id !== 'string') throw new TypeError('The "id" argument must be of type string. Received ' + typeof id);
        const target = hasOwn(links, id) ? links[id] : undefined;
        if (target === undefined) {
          const bare = id.startsWith('node:') ? id.slice(5) : id;
          if (hasOwn(builtins, bare)) return builtins[bare];
          throw notFound(id, 'Gatehouse resolves require() calls that name their module with a string literal, when the flow loads');
        }
        switch (target.kind) {
          case 'module': return load(target.to);
          case 'builtin': return builtins[target.to];
          case 'unavailable': return stubs.get(target.to) || stub(target.to);
          default: throw notFound(id, target.to);
        }
      }
      require.resolve = (id) => {
        const target = hasOwn(links, id) ? links[id] : undefined;
        if (target === undefined || target.kind === 'missing') throw notFound(id, target && target.to);
        return target.kind === 'module' ? defs[target.to].filename : id;
      };
      require.cache = Object.create(null);
      return require;
    }
    for (const def of defs) requires.push(makeRequire(def.links));
    // Every stub a link names exists before lockdown, so it is frozen like the rest.
    for (const links of defs.map((d) => d.links).concat(actionLinks)) {
      for (const key of Object.keys(links)) {
        const target = links[key];
        if (target.kind === 'unavailable' && !stubs.has(target.to)) stubs.set(target.to, stub(target.to));
      }
    }
    return { actions: actionLinks.map(makeRequire), modules: requires, stubs: [...stubs.values()] };
  }

  return {
    builtins,
    globals: { process },
    link,
    perRun: [moduleCache],
  };
})
