// Lockdown: evaluated once per sandbox context, after the prelude and before any action runs.
//
// A context serves many logins, so nothing a script does may outlive its login. Every object reachable from the
// global object (the intrinsics, the prelude's globals, the api objects) is frozen, and the global object's own
// bindings become read-only. What a script can still create on the global object (a sloppy-mode implicit global,
// `globalThis.x = 1`) is deleted by the host after each run.
//
// Freezing prototypes breaks the classic "override mistake" (`this.name = 'MyError'` on an Error subclass would
// throw in strict code), so the data properties real code assigns on instances become accessors whose setter
// defines an own property on the instance instead.
(function (extraRoots) {
  'use strict';
  const { defineProperty, freeze, getOwnPropertyDescriptor, getPrototypeOf } = Object;
  const ownKeys = Reflect.ownKeys;
  const g = globalThis;

  const hidden = [
    getPrototypeOf(function* () {}),
    getPrototypeOf(async function () {}),
    getPrototypeOf(async function* () {}),
    getPrototypeOf((function* () {})()),
    getPrototypeOf((async function* () {})()),
    getPrototypeOf([][Symbol.iterator]()),
    getPrototypeOf(new Map()[Symbol.iterator]()),
    getPrototypeOf(new Set()[Symbol.iterator]()),
    getPrototypeOf(''[Symbol.iterator]()),
    getPrototypeOf(/a/[Symbol.matchAll]('a')),
    getPrototypeOf(Int8Array),
    getOwnPropertyDescriptor(Function.prototype, 'caller')?.get,
    getOwnPropertyDescriptor(Function.prototype, 'arguments')?.get,
    (function () { return arguments; })(),
  ];
  if (typeof Iterator === 'function' && typeof Iterator.prototype.map === 'function') {
    hidden.push(getPrototypeOf([].values().map((x) => x)));
  }
  if (typeof Iterator === 'function' && typeof Iterator.from === 'function') {
    // %WrapForValidIteratorPrototype%: reachable only through what Iterator.from returns.
    hidden.push(getPrototypeOf(Iterator.from({ next() { return { done: true }; } })));
  }
  // %AsyncFromSyncIteratorPrototype% is never handed to scripts; the async iterator prototypes are reachable from
  // the async generator functions above. worker/tests.rs walks everything reachable after a hostile run and
  // compares it with a clean context, so an intrinsic missing here shows up there.

  const seen = new Set();
  const stack = [];
  const visit = (value) => {
    if (value !== null && (typeof value === 'object' || typeof value === 'function') && value !== g) stack.push(value);
  };
  const visitProperties = (object) => {
    for (const key of ownKeys(object)) {
      const desc = getOwnPropertyDescriptor(object, key);
      if (!desc) continue;
      if ('value' in desc) visit(desc.value);
      else {
        visit(desc.get);
        visit(desc.set);
      }
    }
  };
  hidden.forEach(visit);
  extraRoots.forEach(visit);
  visitProperties(g);
  visit(getPrototypeOf(g));
  while (stack.length > 0) {
    const item = stack.pop();
    if (seen.has(item)) continue;
    seen.add(item);
    visit(getPrototypeOf(item));
    visitProperties(item);
  }

  // Assignments real code makes on instances whose prototypes are now frozen.
  const overridable = new Map([
    [Object.prototype, ['constructor', 'toString', 'valueOf', 'toLocaleString', 'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable']],
    [Function.prototype, ['constructor', 'name', 'toString', 'bind', 'apply', 'call']],
    [Error.prototype, ['constructor', 'name', 'message', 'toString']],
    [Promise.prototype, ['constructor', 'then', 'catch', 'finally']],
    [Array.prototype, ['toString', 'join', 'push']],
    [Date.prototype, ['toString', 'toJSON']],
  ]);
  for (const ctor of [EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError, AggregateError]) {
    overridable.set(ctor.prototype, ['constructor', 'name', 'message', 'toString']);
  }
  for (const [proto, names] of overridable) {
    for (const name of names) {
      const desc = getOwnPropertyDescriptor(proto, name);
      if (!desc || !('value' in desc) || !desc.configurable) continue;
      const value = desc.value;
      // Methods, not `function`s: a function expression would bring a `prototype` object of its own that no walk
      // above has seen (the reachability test in worker/tests.rs found one left writable).
      const { get, set } = {
        get() { return value; },
        set(v) {
          if (this === proto) throw new TypeError("Cannot assign to read only property '" + name + "' of a built-in prototype");
          defineProperty(this, name, { value: v, writable: true, enumerable: true, configurable: true });
        },
      };
      defineProperty(proto, name, { get, set, enumerable: desc.enumerable, configurable: false });
      seen.add(get);
      seen.add(set);
    }
  }

  for (const object of seen) freeze(object);

  for (const key of ownKeys(g)) {
    const desc = getOwnPropertyDescriptor(g, key);
    if (!desc.configurable && !desc.writable) continue;
    if ('value' in desc) defineProperty(g, key, { writable: false, configurable: false });
    else defineProperty(g, key, { configurable: false });
  }
})
