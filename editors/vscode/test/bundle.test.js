// The bundle is one self-contained file: loaded with a stand-in for the `vscode`
// module (which VS Code provides at run time), it exports activate/deactivate and
// asks for no module other than `vscode` and Node's own.
'use strict';
const assert = require('assert');
const Module = require('module');
const path = require('path');

const bundle = path.join(__dirname, '..', 'out', 'extension.js');
const asked = new Set();
const load = Module._load;
Module._load = function (request, parent, isMain) {
  if (parent && parent.filename === bundle) {
    asked.add(request);
  }
  if (request === 'vscode') {
    return new Proxy({}, { get: () => new Proxy(function () {}, { get: () => ({}) }) });
  }
  return load.call(this, request, parent, isMain);
};
const extension = require(bundle);
Module._load = load;

assert.strictEqual(typeof extension.activate, 'function', 'activate is exported');
assert.strictEqual(typeof extension.deactivate, 'function', 'deactivate is exported');
const builtins = new Set(Module.builtinModules.flatMap((name) => [name, `node:${name}`]));
const foreign = [...asked].filter((name) => name !== 'vscode' && !builtins.has(name));
assert.deepStrictEqual(foreign, [], `the bundle requires only vscode and Node built-ins, not ${foreign.join(', ')}`);
assert.ok(asked.has('vscode'), 'the bundle leaves vscode external');
console.log(`bundle ok: ${path.relative(process.cwd(), bundle)} requires ${[...asked].sort().join(', ')}`);
