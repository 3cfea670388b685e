#!/usr/bin/env node
'use strict';
// Writes fixtures/golden/route-vectors.json: routing decisions made by the real pomelo-rpc 1.0.7
// router (df, rr, wrr, ch) and consistent-hash ring, crc@0.2.0 (pomelo) and crc@4.3.2 (pinus), and
// pinus-rpc 1.7.4's default route, for the Rust router tests.
//   node compat-tests/gen-route-vectors.js > fixtures/golden/route-vectors.json
const path = require('path');

const pomeloRouterPath = require.resolve('pomelo-rpc/lib/rpc-client/router.js');
const pomeloRouter = require(pomeloRouterPath);
const ConsistentHash = require('pomelo-rpc/lib/util/consistentHash.js');
const pinusRouterPath = require.resolve('pinus-rpc/dist/lib/rpc-client/router.js');
const pinusRouter = require(pinusRouterPath);
// Resolve `crc` exactly as each router's own require('crc') does.
const pomeloCrcPath = require.resolve('crc', {paths: [path.dirname(pomeloRouterPath)]});
const pinusCrcPath = require.resolve('crc', {paths: [path.dirname(pinusRouterPath)]});
const pomeloCrc = require(pomeloCrcPath);
const pinusCrc = require(pinusCrcPath);
const versionOf = (p) => {
  // The nearest package.json that names a package (crc 4 has bare {"type"} ones inside).
  for (let dir = path.dirname(p); ; dir = path.dirname(dir)) {
    const f = path.join(dir, 'package.json');
    if (require('fs').existsSync(f) && require(f).name) return require(f).version;
  }
};
const rel = (p) => path.relative(__dirname, p);

// The callbacks of these routers run synchronously; fail loudly if one ever does not.
const call = (fn, ...args) => {
  let out;
  fn(...args, (err, id) => {
    out = err ? {error: err.message} : {id};
  });
  if (!out) throw new Error('router did not answer synchronously');
  return out;
};

const UIDS = [
  '', 'a', 'abc', '123456789', 'alice', 'bob', 'carol', '1', '0', '-1', '007', '10001', '1.5',
  '999999999999', 'uid-42', 'user_1', 'hello world', 'tab\there', 'newline\n', '\u0000', ' ', '-', '0x10',
  'f47ac10b-58cc-4372-a567-0e02b2c3d479', 'x'.repeat(200),
  'é', 'ÿ', 'Ü', 'ñandú', 'Ā', 'ĀāĂ', '€', 'Ωmega', 'κόσμε', '中文', '日本語テキスト',
  '😀', '𝄞', 'a😀b', '🂡🂱', 'emoji🎮game',
];

const crc = UIDS.map((key) => {
  const p = pomeloCrc.crc32(key);
  const q = pinusCrc.crc32(key);
  return {key, pomelo: p, pinus: q, pomelo_hex: (p >>> 0).toString(16).padStart(8, '0')};
});

// Route parameters for the default route: every uid as a session-like object, plus the
// non-string uids and non-object params the key rule has to survive.
const PARAMS = UIDS.map((uid) => ({param: {uid}}));
for (const uid of [10001, 1.5, -7, 1e21, 1.5e-7, 0.000001, 123456789012, 2 ** 53 + 2, true, [1, 'a', null], {a: 1}]) {
  PARAMS.push({param: {uid}});
}
for (const uid of [false, 0, '', null]) PARAMS.push({param: {uid}});
PARAMS.push({param: {}});
PARAMS.push({param: {uid: 'alice', id: 7, frontendId: 'connector-server-1'}});
PARAMS.push({});  // routeParam undefined
PARAMS.push({param: null});
for (const p of ['string-param', 42, true, [1, 2]]) PARAMS.push({param: p});

const ids = (n) => Array.from({length: n}, (_, i) => 's-' + (i + 1));
const dfContext = (n) => ({getServersByType: () => ids(n).map((id) => ({id, serverType: 't'}))});
const msgT = {namespace: 'user', serverType: 't', service: 'svc', method: 'm', args: []};
const defaultRoute = PARAMS.map((c) => {
  const session = c.param;  // undefined when absent
  const uid = session ? (session.uid || '') : '';
  const out = {key: uid.toString(), pomelo: [], pinus: []};
  if ('param' in c) out.route_param = c.param;
  for (let n = 1; n <= 5; n++) {
    out.pomelo.push(call(pomeloRouter.df, session, msgT, dfContext(n)).id);
    out.pinus.push(call(pinusRouter.df, session, msgT, dfContext(n)).id);
  }
  return out;
});
const emptyDf = call(pomeloRouter.df, {uid: 'a'}, msgT, {getServersByType: () => []});

// A fake rpc client shaped as router.js reads it: _station.serversMap / servers, opts.
const fakeClient = (opts) => ({
  opts: opts || {},
  _station: {serversMap: {}, servers: {}, on() {}},
});
const setServers = (client, list) => {
  client._station.serversMap.t = list.map((s) => s.id);
  for (const s of list) client._station.servers[s.id] = s;
};
// Runs a schedule over steps of {servers, picks}; the same client (and router state) throughout.
const runSteps = (method, steps) => {
  const client = fakeClient();
  return steps.map(({servers, picks}) => {
    setServers(client, servers);
    const out = [];
    for (let i = 0; i < picks; i++) {
      const r = call(method, client, 't', msgT);
      out.push(r.error !== undefined ? {error: r.error} : r.id);
    }
    return {servers, picks: out};
  });
};
const srv = (id, weight) => (weight === undefined ? {id} : {id, weight});

const rr = [
  {name: 'three servers', steps: runSteps(pomeloRouter.rr, [{servers: ids(3).map((id) => srv(id)), picks: 20}])},
  {
    name: 'list grows then shrinks',
    steps: runSteps(pomeloRouter.rr, [
      {servers: ids(3).map((id) => srv(id)), picks: 7},
      {servers: ids(4).map((id) => srv(id)), picks: 9},
      {servers: ['s-1', 's-3', 's-4'].map((id) => srv(id)), picks: 6},
    ]),
  },
];

const weighted = (ws) => ws.map((w, i) => srv('s-' + (i + 1), w === null ? undefined : w));
const wrr = [
  {name: 'weights 5,1,3', steps: runSteps(pomeloRouter.wrr, [{servers: weighted([5, 1, 3]), picks: 30}])},
  {name: 'weights 5,none,3', steps: runSteps(pomeloRouter.wrr, [{servers: weighted([5, null, 3]), picks: 30}])},
  {name: 'weights 2,2,2', steps: runSteps(pomeloRouter.wrr, [{servers: weighted([2, 2, 2]), picks: 12}])},
  {name: 'weights 3,0,-2,2', steps: runSteps(pomeloRouter.wrr, [{servers: weighted([3, 0, -2, 2]), picks: 20}])},
  {
    name: 'list changes mid-cycle',
    steps: runSteps(pomeloRouter.wrr, [
      {servers: weighted([4, 2]), picks: 4},
      {servers: weighted([4, 2, 6]), picks: 15},
      {servers: weighted([1]), picks: 5},
    ]),
  },
  {name: 'no weights', steps: runSteps(pomeloRouter.wrr, [{servers: weighted([null, null]), picks: 2}])},
  {name: 'zero weights', steps: runSteps(pomeloRouter.wrr, [{servers: weighted([0, 0]), picks: 1}])},
];

// Ring lookups straight on the real ConsistentHash.
const CH_KEYS = UIDS.filter((k) => k !== '').concat([
  'player-1', 'player-2', 'player-3', 'room:1001', 'room:1002', 'guild/42', 's-1', 's-1:0', 's-2:99',
  JSON.stringify(msgT),
  JSON.stringify({namespace: 'sys', serverType: 'area', service: 'msgRemote', method: 'forwardMessage',
    args: [{id: 1, route: 'area.h.move', body: {x: 1.5, y: -2}}, {id: 3, uid: 'alice', frontendId: 'c-1'}]}),
]);
const ring = (nodes, replicas) => {
  const opts = {station: {on() {}}};
  if (replicas !== undefined) opts.replicas = replicas;
  const con = new ConsistentHash(nodes, opts);
  // Edge keys: hashes below the smallest point (wrap to the last), above the largest, and
  // exactly on a point.
  const md5 = (s) => require('crypto').createHash('md5').update(s).digest('hex');
  const first = con.keys[0];
  const last = con.keys[con.keys.length - 1];
  const below = [];
  const above = [];
  for (let i = 0; below.length < 3 || above.length < 2; i++) {
    const k = 'edge-' + i;
    if (md5(k) < first && below.length < 3) below.push(k);
    if (md5(k) > last && above.length < 2) above.push(k);
  }
  const keys = CH_KEYS.concat(below, above, [nodes[0] + ':0', nodes[nodes.length - 1] + ':' + ((replicas || 100) - 1)]);
  return {nodes, replicas: replicas === undefined ? null : replicas, ring_size: con.keys.length,
    wrap_keys: below, lookups: keys.map((key) => ({key, node: con.getNode(key)}))};
};
const chRings = [
  ring(['s-1', 's-2', 's-3'], 100),
  ring(['s-1', 's-2', 's-3'], 10),
  ring(['s-3', 's-1', 's-2'], 10),
  ring(['connector-server-1', 'connector-server-2'], undefined),
  ring(['only'], 1),
];

// Whole ch route calls through router.ch (field choice + JSON.stringify(msg) + ring).
const CH_MSGS = [
  {hashFieldIndex: undefined, msg: msgT},
  {hashFieldIndex: undefined, msg: {namespace: 'user', serverType: 't', service: 'chatRemote', method: 'add',
    args: ['alice', 'connector-server-1', 'room-7', true]}},
  {hashFieldIndex: undefined, msg: {namespace: 'user', serverType: 't', service: 'n', method: 'nums',
    args: [1.5, 1e21, -0, 0.1, 100, 1.5e-7, 0.000001, 123456789012, 2 ** 53 + 2, -1e-7, 5e-324]}},
  {hashFieldIndex: undefined, msg: {namespace: 'user', serverType: 't', service: 'o', method: 'obj',
    args: [{b: 1, a: [true, null, 'é"\\\n\u0001'], 2: 'two', 1: 'one'}, '中文😀', '\u2028']}},
  {hashFieldIndex: 0, msg: {namespace: 'user', serverType: 't', service: 's', method: 'm', args: ['player-7', 1]}},
  {hashFieldIndex: 1, msg: {namespace: 'user', serverType: 't', service: 's', method: 'm', args: [1, 'room:1001']}},
  {hashFieldIndex: 0, msg: {namespace: 'user', serverType: 't', service: 's', method: 'm', args: ['', 1]}},
  {hashFieldIndex: 0, msg: {namespace: 'user', serverType: 't', service: 's', method: 'm', args: [0, 1]}},
  {hashFieldIndex: 0, msg: {namespace: 'user', serverType: 't', service: 's', method: 'm', args: [null]}},
  {hashFieldIndex: 3, msg: {namespace: 'user', serverType: 't', service: 's', method: 'm', args: ['a']}},
  {hashFieldIndex: 0, msg: {namespace: 'user', serverType: 't', service: 's', method: 'm', args: [42]}},
  {hashFieldIndex: 0, msg: {namespace: 'user', serverType: 't', service: 's', method: 'm', args: [{uid: 'a'}]}},
];
const chRoute = [];
for (const replicas of [100, 10]) {
  for (const c of CH_MSGS) {
    const client = fakeClient({replicas, hashFieldIndex: c.hashFieldIndex});
    setServers(client, ids(3).map((id) => srv(id)));
    let out;
    try {
      out = call(pomeloRouter.ch, client, 't', c.msg);
    } catch (e) {
      out = {throws: e.message};
    }
    chRoute.push({
      replicas, hash_field_index: c.hashFieldIndex === undefined ? null : c.hashFieldIndex,
      servers: ids(3), msg: c.msg, stringify: JSON.stringify(c.msg), ...out,
    });
  }
}

const doc = {
  description: 'Routing decisions of the real Node code. crc: crc32(key) of crc@0.2.0 (pomelo, signed) and ' +
    'crc@4.3.2 (pinus, unsigned). default_route: router.df(routeParam, msg, ctx) with ctx listing s-1..s-n for ' +
    'n = 1..5 (array index n-1); route_param absent = undefined; key = String(routeParam ? (routeParam.uid || "") : ""). ' +
    'rr / wrr: router.rr / router.wrr over one fake client per scenario; each step sets the server list ' +
    '(serversMap order; weight absent = no weight) then picks; a pick is an id or {error}. ' +
    'ch_ring: ConsistentHash(nodes, {replicas}).getNode(key) (replicas null = option unset = 100); wrap_keys hash ' +
    'below every ring point. ' +
    'ch_route: router.ch over s-1..s-3 with opts {replicas, hashFieldIndex}; stringify = JSON.stringify(msg); ' +
    'throws = the exception Node raised.',
  sources: {
    router: rel(pomeloRouterPath) + ' ' + versionOf(pomeloRouterPath),
    pinus_router: rel(pinusRouterPath) + ' ' + versionOf(pinusRouterPath),
    pomelo_crc: rel(pomeloCrcPath) + ' ' + versionOf(pomeloCrcPath),
    pinus_crc: rel(pinusCrcPath) + ' ' + versionOf(pinusCrcPath),
    node: process.version,
  },
  crc,
  default_route: defaultRoute,
  default_route_empty: {server_type: 't', ...emptyDf},
  rr,
  wrr,
  ch_ring: chRings,
  ch_route: chRoute,
};
process.stdout.write(JSON.stringify(doc, null, 1) + '\n');
