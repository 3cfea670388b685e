#!/usr/bin/env node
'use strict';
// Writes fixtures/golden/pinus-tcp-composer.json: frames made by pinus-rpc 1.7.4's own
// composer (the framing of its tcp mailbox/acceptor), for the Rust golden tests.
//   node compat-tests/gen-pinus-golden.js > fixtures/golden/pinus-tcp-composer.json
require('reflect-metadata');
const { Composer } = require('pinus-rpc/dist/lib/util/composer');
const c = new Composer({});
const req = {id: 1, msg: {namespace: 'user', serverType: 'demo', service: 'echoRemote', method: 'echo', args: ['é中😀']}};
const batch = [{id: 1, resp: [null, 'a']}, {id: 2, resp: [{stack: 'Error: x\n    at y'}]}];
const big = {id: 3, msg: {namespace: 'user', serverType: 'demo', service: 'echoRemote', method: 'echo', args: ['x'.repeat(20000)]}};
const frames = [
  {kind: 0, body: JSON.stringify(req)},
  {kind: 3, body: JSON.stringify(batch)},
  {kind: 1, body: null},
  {kind: 2, body: null},
  {kind: 0, body: JSON.stringify(big)},
];
const out = frames.map(f => ({
  kind: f.kind,
  body: f.body,
  hex: (f.body === null ? c.compose(f.kind) : c.compose(f.kind, f.body)).toString('hex'),
}));
process.stdout.write(JSON.stringify({source: 'pinus-rpc 1.7.4 dist/lib/util/composer.js', frames: out}, null, 1) + '\n');
