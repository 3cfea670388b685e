#!/usr/bin/env node
'use strict';
/*
 * Live Node.js peer for the pomelo-interop compatibility tests.
 *
 *   node compat-tests/peer.js <server|corpus|bench|route-check> [options]
 *
 * Implementations (each one is required lazily, only when selected):
 *   --impl rpc04   pomelo-rpc 0.4.11 (npm alias pomelo-rpc-04)   transports: tcp (+ ws = socket.io 0.9, extra)
 *   --impl rpc10   pomelo-rpc 1.0.7                              transports: mqtt, tcp (acceptor only)
 *   --impl pinus   pinus-rpc 1.7.4                               transports: mqtt, tcp (pinus' own tcp framing)
 *
 * Options:
 *   --transport tcp|mqtt|ws   default: rpc04 -> tcp, rpc10 -> mqtt, pinus -> mqtt
 *   --host H                  default 127.0.0.1 (client target host; acceptors listen on all interfaces)
 *   --port N                  server: listen port (0 = pick a free one); corpus/bench: target port
 *   --buffer                  bufferMsg = true (client or server side, whichever this process is)
 *   --interval MS             flush interval for --buffer, default 50
 *   --id ID                   own server id (context.serverId), default node-peer-1
 *   --server-type T           default demo
 *   --timeout MS              client callback timeout, default 10000
 *   --target-id ID            corpus/bench: server id of the target, default rust-1
 *   --cases a,b,c             corpus: run only these cases (the opt-in cases keepalive-idle,
 *                             idle, never and json-edge run only when named here)
 *   --server-style S          corpus: callback|promise|any -- what replies to expect from the target:
 *                             callback = pomelo remotes (cb(null, ...args)), promise = pinus remotes
 *                             ([null, value]); default callback for rpc04/rpc10, any for pinus
 *   --payload BYTES           bench: payload string length, default 1024
 *   --inflight N              bench: calls kept in flight, default 1
 *   --count N                 bench: measured calls, default 20000
 *   --max-seconds S           bench: measurement time limit, default 10
 *   --warmup N                bench: warm-up calls before measuring, default 200 (same inflight)
 *                             (bench prints one JSON line: ops_per_sec and p50_us/p99_us/p999_us of
 *                             the measured calls that succeeded, from an HDR histogram)
 *   --keepalive MS            client keepalive period (1.0.7 mqtt mailbox ping interval); opt-in
 *                             case keepalive-idle idles for five periods
 *   --heartbeat-interval S    server, rpc04 ws only: socket.io 'heartbeat interval' (seconds)
 *   --heartbeat-timeout S     server, rpc04 ws only: socket.io 'heartbeat timeout' (seconds)
 *   --idle MS                 opt-in case idle: how long to stay idle, default 10000
 *   --nodelay                 OPT-IN, NOT stock behaviour: set TCP_NODELAY on every socket this
 *                             process opens/accepts (pomelo-rpc 1.0.7 does not do it by itself)
 *   --relative-stacks         server: error stacks name files relative to compat-tests/
 *                             (remote/pomelo/user/echoRemote.js:24:6, node_modules/...) instead of
 *                             absolute paths of this machine; V8's format otherwise. For recording
 *                             fixtures that must not carry the recording machine's paths.
 *   --sio-transports LIST     server, rpc04 ws only: socket.io 'transports' to offer, comma-separated
 *                             (e.g. xhr-polling: the Node client then polls instead of a websocket)
 *
 * Case json-edge (opt-in) echoes the values of compat-tests/json-corpus.js (lone surrogates,
 * 1000-deep nesting, and raw payload bytes JSON.stringify cannot write: 1e400, -0, a byte that
 * is not UTF-8) on one mailbox, then a plain call on the same mailbox. Besides its {case, ok}
 * line it prints one observation line per value, for a harness that compares two targets:
 *   {"json_value": name, "arg_hex": <the argument's bytes in the payload>, "injected": true
 *    (raw values only: the bytes went out), "reply": JSON.stringify(callback args) | null,
 *    "exact": the same with -0/Infinity/NaN/undefined spelled out | null, "error": null | text,
 *    "closed": mailbox closes so far, "same_mailbox": still the first call's mailbox}
 * It passes when every value got a reply, the mailbox never closed and the plain call after
 * the corpus (observation "plain-after") was answered on it; it does not judge the replies.
 *
 * stdout carries only protocol lines (READY line / JSON lines); everything else,
 * including library logging and console.log, is redirected to stderr.
 */

// socket.io 0.9 (loaded by pomelo-rpc 0.4.11) needs this on Node >= 7.
process.EventEmitter = require('events').EventEmitter;

// ---------------------------------------------------------------------------
// stdout hygiene: keep the real writer for protocol lines, send everything else to stderr.
var realStdoutWrite = process.stdout.write.bind(process.stdout);
process.stdout.write = function() {
  return process.stderr.write.apply(process.stderr, arguments);
};
function emitLine(obj) {
  realStdoutWrite((typeof obj === 'string' ? obj : JSON.stringify(obj)) + '\n');
}
function log() {
  var parts = Array.prototype.map.call(arguments, function(a) {
    return typeof a === 'string' ? a : safeJson(a, 500);
  });
  process.stderr.write('[peer ' + process.pid + '] ' + parts.join(' ') + '\n');
}

var fs = require('fs');
var net = require('net');
var path = require('path');

// pomelo installs a handler like this too; the rpc04 tcp mailbox's timeout timer throws
// a ReferenceError ("logger is not defined") and must not kill us.
var uncaughtLog = [];
process.on('uncaughtException', function(err) {
  var text = (err && err.stack) ? err.stack : String(err);
  uncaughtLog.push(String(text).split('\n')[0]);
  log('uncaughtException (ignored):', text);
});

// ---------------------------------------------------------------------------
// argument parsing

var MODES = ['server', 'corpus', 'bench', 'route-check'];
var BOOL_FLAGS = {buffer: true, nodelay: true, help: true, 'relative-stacks': true};

function parseArgs(argv) {
  var opts = {_: []};
  for (var i = 0; i < argv.length; i++) {
    var a = argv[i];
    if (a.slice(0, 2) !== '--') {
      opts._.push(a);
      continue;
    }
    var key = a.slice(2);
    var val;
    var eq = key.indexOf('=');
    if (eq >= 0) {
      val = key.slice(eq + 1);
      key = key.slice(0, eq);
    } else if (BOOL_FLAGS[key]) {
      val = true;
    } else {
      if (i + 1 >= argv.length) {
        usageError('option --' + key + ' needs a value');
      }
      val = argv[++i];
    }
    opts[key] = val;
  }
  return opts;
}

function usageError(msg) {
  process.stderr.write('peer.js: ' + msg + '\n' +
    'usage: node peer.js <server|corpus|bench> [--impl rpc04|rpc10|pinus] [--transport tcp|mqtt|ws] ' +
    '[--host H] [--port N] [--buffer] [--interval MS] [--id ID] [--server-type T] [--timeout MS] ' +
    '[--target-id ID] [--cases a,b] [--server-style callback|promise|any] [--payload B] [--inflight N] ' +
    '[--count N] [--max-seconds S] [--warmup N] [--keepalive MS] [--idle MS] [--heartbeat-interval S] ' +
    '[--heartbeat-timeout S] [--nodelay] [--relative-stacks] [--sio-transports LIST]\n' +
    '       node peer.js route-check [--servers JSON] [--uids a,b] [--server-type T] [--timeout MS]\n' +
    '  opt-in corpus cases (only run when named in --cases): keepalive-idle, idle, never, json-edge\n');
  process.exit(2);
}

function intOpt(opts, name, dflt) {
  if (opts[name] === undefined) {
    return dflt;
  }
  var n = Number(opts[name]);
  if (!isFinite(n) || n < 0) {
    usageError('--' + name + ' must be a non-negative number');
  }
  return n;
}

// ---------------------------------------------------------------------------
// implementation table (lazy requires)

var DEFAULT_TRANSPORT = {rpc04: 'tcp', rpc10: 'mqtt', pinus: 'mqtt'};
var REMOTE_DIR = {
  rpc04: path.join(__dirname, 'remote', 'pomelo', 'user'),
  rpc10: path.join(__dirname, 'remote', 'pomelo', 'user'),
  pinus: path.join(__dirname, 'remote', 'pinus', 'user')
};

function requirePinus() {
  // pinus-loader uses Reflect.hasMetadata; a plain-JS pinus app must load this first.
  require('reflect-metadata');
  return require('pinus-rpc');
}

// Returns {acceptorFactory} for the server side. pomelo-rpc wants an object with
// create(opts, cb); pinus-rpc wants a plain function (opts, cb).
function acceptorFor(impl, transport) {
  if (impl === 'rpc04') {
    var rpc04 = require('pomelo-rpc-04');
    if (transport === 'tcp') {
      return rpc04.server.TcpAcceptor;
    }
    if (transport === 'ws') {
      return rpc04.server.WSAcceptor; // socket.io 0.9 (the 0.4.11 default)
    }
  } else if (impl === 'rpc10') {
    var rpc10 = require('pomelo-rpc');
    if (transport === 'mqtt') {
      return rpc10.server.MqttAcceptor;
    }
    if (transport === 'tcp') {
      // not exported by 1.0.7, must be required by path (wire.md §1)
      return require('pomelo-rpc/lib/rpc-server/acceptors/tcp-acceptor');
    }
  } else if (impl === 'pinus') {
    var pinus = requirePinus();
    if (transport === 'mqtt') {
      return pinus.createDefaultAcceptor; // MQTTAcceptor
    }
    if (transport === 'tcp') {
      return pinus.createTcpAcceptor;
    }
  }
  return null;
}

function mailboxFor(impl, transport) {
  if (impl === 'rpc04') {
    if (transport === 'tcp') {
      return require('pomelo-rpc-04/lib/rpc-client/mailboxes/tcp-mailbox');
    }
    if (transport === 'ws') {
      return require('pomelo-rpc-04').client.WSMailbox;
    }
  } else if (impl === 'rpc10') {
    if (transport === 'mqtt') {
      return require('pomelo-rpc').client.MQTTMailbox;
    }
    if (transport === 'tcp') {
      throw new Error('the pomelo-rpc 1.0.7 tcp mailbox is broken (wire.md §8.2: it dereferences a null ' +
        'tracer in send and mis-orders callback arguments); use --impl rpc04 --transport tcp as the tcp client');
    }
  } else if (impl === 'pinus') {
    var pinus = requirePinus();
    if (transport === 'mqtt') {
      return pinus.createMqttMailBox;
    }
    if (transport === 'tcp') {
      return pinus.createTcpMailBox;
    }
  }
  return null;
}

function commonConfig(opts) {
  var impl = opts.impl || 'rpc10';
  if (!DEFAULT_TRANSPORT[impl]) {
    usageError('unknown --impl ' + impl);
  }
  var transport = opts.transport || DEFAULT_TRANSPORT[impl];
  var ok = {rpc04: ['tcp', 'ws'], rpc10: ['tcp', 'mqtt'], pinus: ['tcp', 'mqtt']}[impl];
  if (ok.indexOf(transport) < 0) {
    usageError('--impl ' + impl + ' does not support --transport ' + transport);
  }
  return {
    impl: impl,
    transport: transport,
    host: opts.host || '127.0.0.1',
    port: intOpt(opts, 'port', 0),
    buffer: !!opts.buffer,
    interval: intOpt(opts, 'interval', 50),
    id: opts.id || 'node-peer-1',
    serverType: opts['server-type'] || 'demo',
    timeout: intOpt(opts, 'timeout', 10000),
    targetId: opts['target-id'] || 'rust-1',
    nodelay: !!opts.nodelay,
    keepalive: intOpt(opts, 'keepalive', 0),
    heartbeatInterval: intOpt(opts, 'heartbeat-interval', 0),
    heartbeatTimeout: intOpt(opts, 'heartbeat-timeout', 0),
    idle: intOpt(opts, 'idle', 10000)
  };
}

// ---------------------------------------------------------------------------
// --nodelay (opt-in patch, not stock behaviour)

function patchClientNoDelay() {
  ['connect', 'createConnection'].forEach(function(name) {
    var orig = net[name];
    net[name] = function() {
      var sock = orig.apply(net, arguments);
      try {
        sock.setNoDelay(true);
      } catch (e) {
        log('setNoDelay failed:', e.message);
      }
      return sock;
    };
  });
  log('--nodelay: TCP_NODELAY forced on client sockets (NOT stock library behaviour)');
}

// ---------------------------------------------------------------------------
// raw payload bytes (case json-edge)

// Makes the selected library send the raw bytes of json-corpus.js RawTokens: the one function
// where it turns the JSON.stringify'd payload into bytes gets the payload through rawify()
// (see json-corpus.js). Each library's own copy of the module it uses is patched.
var rawHooks = {};

function installRawHooks(cfg) {
  var key = cfg.impl + '/' + cfg.transport;
  if (rawHooks[key]) {
    return;
  }
  var rawify = require('./json-corpus').rawify;
  var dirOf = function(pkg, from) {
    return path.dirname(require.resolve(pkg + '/package.json', from ? {paths: [from]} : undefined));
  };
  var fromDir = function(pkg, dir) {
    return require(require.resolve(pkg, {paths: [dir]}));
  };
  if (cfg.impl === 'rpc04' && cfg.transport === 'tcp') {
    // stream-pkg 0.0.5 Composer#compose(data) takes a string or a Buffer and prefixes the length.
    var Composer04 = fromDir('stream-pkg', dirOf('pomelo-rpc-04'));
    var compose04 = Composer04.prototype.compose;
    Composer04.prototype.compose = function(data) {
      return compose04.call(this, rawify(data));
    };
  } else if (cfg.impl === 'rpc04' && cfg.transport === 'ws') {
    // socket.io-client 0.9.16 writes each packet with ws 0.4.32 WebSocket#send(string); a Buffer
    // with binary: false goes out as a text frame holding exactly those bytes.
    var WebSocket04 = fromDir('ws', dirOf('socket.io-client', dirOf('pomelo-rpc-04')));
    var send04 = WebSocket04.prototype.send;
    WebSocket04.prototype.send = function(data, options, cb) {
      var bytes = rawify(data);
      if (bytes !== data) {
        if (typeof options === 'function') {
          cb = options;
          options = undefined;
        }
        options = Object.assign({}, options, {binary: false});
      }
      return send04.call(this, bytes, options, cb);
    };
  } else if (cfg.transport === 'mqtt') {
    // pomelo-rpc 1.0.7 (mqtt-connection 3.0.0) and pinus-rpc 1.7.4 (4.1.0) publish
    // {topic: 'rpc', payload: JSON.stringify(msg)}; mqtt-packet writes a Buffer payload as is.
    var Connection = fromDir('mqtt-connection', dirOf(cfg.impl === 'pinus' ? 'pinus-rpc' : 'pomelo-rpc'));
    var publish = Connection.prototype.publish;
    Connection.prototype.publish = function(opts, cb) {
      if (opts && typeof opts.payload === 'string') {
        opts.payload = rawify(opts.payload);
      }
      return publish.call(this, opts, cb);
    };
  } else if (cfg.impl === 'pinus' && cfg.transport === 'tcp') {
    // pinus-rpc's own Composer#compose(type, data, id): length, type byte, data.
    var ComposerPinus = require('pinus-rpc/dist/lib/util/composer').Composer;
    var composePinus = ComposerPinus.prototype.compose;
    ComposerPinus.prototype.compose = function(type, data, id) {
      return composePinus.call(this, type, rawify(data), id);
    };
  } else {
    throw new Error('no raw-bytes hook for --impl ' + cfg.impl + ' --transport ' + cfg.transport);
  }
  rawHooks[key] = true;
  log('raw payload bytes: ' + key + ' patched (case json-edge)');
}

// ===========================================================================
// server mode

function findFreePort(cb) {
  var srv = net.createServer();
  srv.on('error', cb);
  // no host: the acceptors also listen on all interfaces
  srv.listen(0, function() {
    var port = srv.address().port;
    srv.close(function() {
      cb(null, port);
    });
  });
}

// The acceptors do not report "listening"; find their net.Server.
function findNetServer(acceptor) {
  if (!acceptor) {
    return null;
  }
  var s = acceptor.server;
  if (s instanceof net.Server) {
    return s;
  }
  if (s && s.server instanceof net.Server) {
    return s.server; // socket.io 0.9 manager
  }
  if (s && s.httpServer instanceof net.Server) {
    return s.httpServer;
  }
  return null;
}

function runServer(opts) {
  var cfg = commonConfig(opts);
  if (opts['relative-stacks']) {
    require('./relative-stacks')(__dirname);
  }
  var acceptorFactory = acceptorFor(cfg.impl, cfg.transport);
  var gateway = null;
  var ready = false;

  var shutdown = function(why) {
    log('shutting down (' + why + ')');
    try {
      if (gateway) {
        gateway.stop(true);
      }
    } catch (e) {
      log('stop error:', e && e.message);
    }
    process.exit(0);
  };
  process.on('SIGTERM', function() {
    shutdown('SIGTERM');
  });
  process.on('SIGINT', function() {
    shutdown('SIGINT');
  });
  watchStdin(shutdown);

  var start = function(port) {
    var serverOpts = {
      port: port,
      paths: [{namespace: 'user', serverType: cfg.serverType, path: REMOTE_DIR[cfg.impl]}],
      context: {serverId: cfg.id},
      acceptorFactory: acceptorFactory,
      bufferMsg: cfg.buffer,
      interval: cfg.interval
    };
    if (cfg.impl === 'pinus') {
      gateway = requirePinus().createServer(serverOpts);
    } else {
      var lib = cfg.impl === 'rpc04' ? require('pomelo-rpc-04') : require('pomelo-rpc');
      gateway = lib.server.create(serverOpts);
    }
    gateway.on('error', function(err) {
      log('rpc server error:', (err && err.stack) || String(err));
      if (!ready) {
        log('failed to listen on port ' + port);
        process.exit(1);
      }
    });
    gateway.start();
    if (cfg.heartbeatInterval || cfg.heartbeatTimeout) {
      // socket.io 0.9 manager settings (seconds), only for the rpc04 ws acceptor.
      var manager = gateway.acceptor && gateway.acceptor.server;
      if (!manager || typeof manager.set !== 'function') {
        usageError('--heartbeat-* needs --impl rpc04 --transport ws');
      }
      if (cfg.heartbeatInterval) {
        manager.set('heartbeat interval', cfg.heartbeatInterval);
      }
      if (cfg.heartbeatTimeout) {
        manager.set('heartbeat timeout', cfg.heartbeatTimeout);
      }
      log('socket.io heartbeat interval=' + manager.get('heartbeat interval') + 's timeout=' +
        manager.get('heartbeat timeout') + 's');
    }

    if (opts['sio-transports']) {
      var sioManager = gateway.acceptor && gateway.acceptor.server;
      if (!sioManager || typeof sioManager.set !== 'function') {
        usageError('--sio-transports needs --impl rpc04 --transport ws');
      }
      sioManager.set('transports', String(opts['sio-transports']).split(','));
      log('socket.io transports=' + sioManager.get('transports').join(','));
    }

    var announce = function() {
      if (ready) {
        return;
      }
      ready = true;
      emitLine('READY ' + JSON.stringify({port: port}));
      log('listening: impl=' + cfg.impl + ' transport=' + cfg.transport + ' port=' + port +
        ' bufferMsg=' + cfg.buffer + (cfg.buffer ? ' interval=' + cfg.interval : '') + ' id=' + cfg.id);
    };
    var srv = findNetServer(gateway.acceptor);
    if (srv) {
      if (cfg.nodelay) {
        srv.on('connection', function(sock) {
          sock.setNoDelay(true);
        });
        log('--nodelay: TCP_NODELAY forced on accepted sockets (NOT stock library behaviour)');
      }
      if (srv.listening) {
        announce();
      } else {
        srv.once('listening', announce);
      }
    } else {
      // fallback: probe the port
      var probe = function() {
        var s = net.connect(port, '127.0.0.1');
        s.on('connect', function() {
          s.destroy();
          announce();
        });
        s.on('error', function() {
          setTimeout(probe, 20);
        });
      };
      probe();
    }
  };

  if (cfg.port > 0) {
    start(cfg.port);
  } else {
    findFreePort(function(err, port) {
      if (err) {
        log('cannot find a free port:', err.message);
        process.exit(1);
      }
      start(port);
    });
  }
}

// Exit when stdin (the harness' liveness pipe) closes -- only if stdin is a pipe/socket.
function watchStdin(shutdown) {
  var st;
  try {
    st = fs.fstatSync(0);
  } catch (e) {
    return;
  }
  if (!(st.isFIFO() || st.isSocket())) {
    return;
  }
  process.stdin.on('end', function() {
    shutdown('stdin closed');
  });
  process.stdin.on('close', function() {
    shutdown('stdin closed');
  });
  process.stdin.on('error', function() {
    shutdown('stdin error');
  });
  process.stdin.on('data', function() {});
  process.stdin.resume();
}

// ===========================================================================
// client side (corpus and bench)

function createClient(cfg) {
  if (cfg.nodelay) {
    patchClientNoDelay();
  }
  var mailboxFactory = mailboxFor(cfg.impl, cfg.transport);
  var clientOpts = {
    context: {serverId: cfg.id}, // 1.x/pinus mqtt mailboxes require context.serverId
    mailboxFactory: mailboxFactory,
    bufferMsg: cfg.buffer,
    interval: cfg.interval,
    timeout: cfg.timeout
  };
  if (cfg.keepalive) {
    clientOpts.keepalive = cfg.keepalive;
  }
  var client;
  if (cfg.impl === 'pinus') {
    client = requirePinus().createClient(clientOpts);
  } else if (cfg.impl === 'rpc04') {
    // pomelo-rpc 0.4.11 mail station calls mailboxFactory.create(server, opts)
    client = require('pomelo-rpc-04').client.create(clientOpts);
  } else {
    client = require('pomelo-rpc').client.create(clientOpts);
  }
  client.addServer({id: cfg.targetId, serverType: cfg.serverType, host: cfg.host, port: cfg.port});
  return client;
}

function startClient(client) {
  return new Promise(function(resolve, reject) {
    client.start(function(err) {
      if (err) {
        reject(err);
      } else {
        resolve();
      }
    });
  });
}

// One RPC through client.rpcInvoke. For ALL three impls (pinus included) the raw
// rpcInvoke callback receives the complete `resp` array of the reply as its argument
// list, so we see the raw reply. (pinus' promise proxies would resolve with resp[1] only
// and reject with resp[0]; we do not use them.)
//
// Resolves with {resp: [...]}            a reply arrived (resp may hold a remote error object)
//            or {local: Error}           the client library called back with a locally
//                                        generated Error (timeout, send failure, code N)
//            or {timeout: true}          nothing at all within guardMs (e.g. the rpc04 tcp
//                                        mailbox timer crashes instead of calling back)
function makeInvoker(client, cfg) {
  var invoke = function(service, method, args, guardMs) {
    return invokeNs('user', service, method, args, guardMs);
  };
  var invokeNs = function(namespace, service, method, args, guardMs) {
    var msg = {namespace: namespace, serverType: cfg.serverType, service: service, method: method, args: args};
    return invokeRaw(msg, guardMs);
  };
  invoke.ns = invokeNs;
  return invoke;

  function invokeRaw(msg, guardMs) {
    return new Promise(function(resolve) {
      var done = false;
      var timer = setTimeout(function() {
        if (!done) {
          done = true;
          resolve({timeout: true});
        }
      }, guardMs || (cfg.timeout + 1500));
      var finish = function(res) {
        if (done) {
          return;
        }
        done = true;
        clearTimeout(timer);
        resolve(res);
      };
      try {
        client.rpcInvoke(cfg.targetId, msg, function() {
          var resp = Array.prototype.slice.call(arguments);
          if (resp.length >= 1 && resp[0] instanceof Error) {
            // errors from the remote side arrive as plain objects, never as Error instances
            finish({local: resp[0]});
          } else {
            finish({resp: resp});
          }
        });
      } catch (e) {
        finish({local: e});
      }
    });
  }
}

// ---------------------------------------------------------------------------
// comparison helpers

function safeJson(v, max) {
  var s;
  try {
    s = JSON.stringify(v);
  } catch (e) {
    s = String(v);
  }
  if (s === undefined) {
    s = String(v);
  }
  max = max || 300;
  if (s.length > max) {
    s = s.slice(0, max) + '...(' + s.length + ' chars)';
  }
  return s;
}

function typeOf(v) {
  if (v === null) {
    return 'null';
  }
  if (Array.isArray(v)) {
    return 'array';
  }
  return typeof v;
}

// Strict deep equality; returns null if equal, else a description of the first difference.
// Numbers are compared with Object.is (so -0 and 0 differ, NaN equals NaN).
function diff(actual, expected, where) {
  where = where || '$';
  var ta = typeOf(actual);
  var te = typeOf(expected);
  if (ta !== te) {
    return where + ': type ' + ta + ' ' + safeJson(actual, 120) + ' != expected ' + te + ' ' + safeJson(expected, 120);
  }
  if (ta === 'array') {
    if (actual.length !== expected.length) {
      return where + ': array length ' + actual.length + ' != expected ' + expected.length +
        ' (got ' + safeJson(actual, 200) + ')';
    }
    for (var i = 0; i < actual.length; i++) {
      var d = diff(actual[i], expected[i], where + '[' + i + ']');
      if (d) {
        return d;
      }
    }
    return null;
  }
  if (ta === 'object') {
    var ka = Object.keys(actual);
    var ke = Object.keys(expected);
    for (var j = 0; j < ke.length; j++) {
      if (!Object.prototype.hasOwnProperty.call(actual, ke[j])) {
        return where + ': missing key ' + JSON.stringify(ke[j]);
      }
    }
    for (var k = 0; k < ka.length; k++) {
      if (!Object.prototype.hasOwnProperty.call(expected, ka[k])) {
        return where + ': unexpected key ' + JSON.stringify(ka[k]);
      }
    }
    for (var m = 0; m < ke.length; m++) {
      var d2 = diff(actual[ke[m]], expected[ke[m]], where + '.' + ke[m]);
      if (d2) {
        return d2;
      }
    }
    return null;
  }
  if (ta === 'number') {
    return Object.is(actual, expected) ? null :
      where + ': ' + (Object.is(actual, -0) ? '-0' : String(actual)) + ' != expected ' +
      (Object.is(expected, -0) ? '-0' : String(expected));
  }
  if (ta === 'string') {
    if (actual === expected) {
      return null;
    }
    var p = 0;
    while (p < actual.length && p < expected.length && actual[p] === expected[p]) {
      p++;
    }
    return where + ': strings differ at index ' + p + ' (lengths ' + actual.length + ' vs expected ' +
      expected.length + '): got ' + safeJson(actual.slice(Math.max(0, p - 10), p + 20)) +
      ' expected ' + safeJson(expected.slice(Math.max(0, p - 10), p + 20));
  }
  return actual === expected ? null : where + ': ' + safeJson(actual) + ' != expected ' + safeJson(expected);
}

function CaseFailure(detail) {
  this.detail = detail;
}

function fail(detail) {
  throw new CaseFailure(detail);
}

// Unwrap an invocation result into the resp array, or fail the case.
function respOf(res, what) {
  if (res.timeout) {
    fail(what + ': no callback at all (guard timeout)');
  }
  if (res.local) {
    fail(what + ': client-side error: ' + (res.local.message || String(res.local)));
  }
  return res.resp;
}

// expectation by server style:
//   callback (pomelo remotes): reply = the callback's full argument list
//   promise  (pinus remotes):  reply = [null, resolved value] -- always 2 elements
// The mailbox of the target after a first call, and whether it has closed since.
function watchMailbox(ctx) {
  var station = ctx.client._station;
  var watch = {station: station, mailbox: station.mailboxes[ctx.cfg.targetId], closed: 0};
  if (!watch.mailbox) {
    fail('no mailbox after the first call');
  }
  watch.mailbox.on('close', function() {
    watch.closed++;
  });
  return watch;
}

function expectOneOf(resp, candidates, what) {
  var reasons = [];
  for (var i = 0; i < candidates.length; i++) {
    var d = diff(resp, candidates[i].value);
    if (!d) {
      matchedStyles[candidates[i].style] = true;
      return candidates[i].style;
    }
    reasons.push((candidates.length > 1 ? candidates[i].style + ' style: ' : '') + d);
  }
  fail(what + ': ' + reasons.join(' | '));
}

var matchedStyles = {}; // which reply style(s) the current case matched (logged to stderr)

function echoCandidates(styles, args) {
  return styles.map(function(style) {
    if (style === 'callback') {
      return {style: style, value: [null].concat(args)};
    }
    return {style: style, value: [null, args.length ? args[0] : null]};
  });
}

function checkErrorObject(resp, prefix, what, message) {
  if (!Array.isArray(resp) || resp.length !== 1) {
    fail(what + ': expected a reply with exactly 1 element, got ' + safeJson(resp));
  }
  var e = resp[0];
  if (typeOf(e) !== 'object') {
    fail(what + ': resp[0] is not an object: ' + safeJson(e));
  }
  if (typeof e.stack !== 'string') {
    fail(what + ': resp[0].stack is not a string: ' + safeJson(e));
  }
  if (e.stack.indexOf(prefix) !== 0) {
    fail(what + ': stack does not start with ' + JSON.stringify(prefix) + ': ' + safeJson(e.stack, 200));
  }
  if (message !== undefined && Object.prototype.hasOwnProperty.call(e, 'msg') && e.msg !== message) {
    fail(what + ': msg is ' + safeJson(e.msg) + ', expected ' + JSON.stringify(message));
  }
}

// ---------------------------------------------------------------------------
// corpus cases

function nested(depth) {
  var v = 'leaf';
  for (var i = 0; i < depth; i++) {
    v = (i % 2 === 0) ? {d: v, i: i} : [i, v];
  }
  return v;
}

function manyKeys() {
  var o = {};
  var special = ['zeta', 'alpha', 'Mike', '_under', 'é', '中文', '😀', 'a b', 'Z', ''];
  special.forEach(function(k, i) {
    o[k] = i;
  });
  // 200 keys in a scrambled (non-sorted) order
  for (var i = 0; i < 200; i++) {
    var n = (i * 7919) % 200;
    o['k' + n + '_' + String.fromCharCode(122 - (n % 26))] = n;
  }
  o.aaa = {z: 1, y: 2, x: [3, {c: 1, b: 2, a: 3}]};
  return o;
}

function mib1() {
  var pattern = 'The quick é中文😀!'; // 16 UTF-16 code units, 23 UTF-8 bytes
  if (pattern.length !== 16) {
    throw new Error('bad pattern');
  }
  var s = pattern.repeat(1048576 / 16);
  return s;
}

function isIntIn(v, lo, hi) {
  return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
}

var CASES = [
  {
    name: 'echo-unicode',
    run: async function(ctx) {
      var strings = [
        'é',
        '中文',
        '😀',
        'line\u2028sep\u2029para',
        'nul\u0000byte',
        'héllo 中文 😀 \u2028\u2029\u0000 end',
        'ctl \t\n\r\b\f \u0001\u001f \u007f \\ " / \' <>&',
        '\ufeffbom \ufffd \uffff \ud7ff \ue000',
        '𝄞 music 👨‍👩‍👧 family 🇫🇷 flag'
      ];
      for (var i = 0; i < strings.length; i++) {
        var res = await ctx.invoke('echoRemote', 'echo', [strings[i]]);
        var resp = respOf(res, 'echo(' + safeJson(strings[i], 40) + ')');
        expectOneOf(resp, echoCandidates(ctx.styles, [strings[i]]), 'echo(' + safeJson(strings[i], 40) + ')');
      }
    }
  },
  {
    name: 'echo-numbers',
    run: async function(ctx) {
      var nums = [
        [0, 0],
        [-1, -1],
        [9007199254740992, 9007199254740992],
        [-9007199254740992, -9007199254740992],
        [9007199254740991, 9007199254740991],
        [1.5, 1.5],
        [0.1, 0.1],
        [1e-7, 1e-7],
        [1e21, 1e21],
        [-0, 0], // JSON.stringify(-0) === "0"
        [3.141592653589793, 3.141592653589793],
        [5e-324, 5e-324],
        [1.7976931348623157e308, 1.7976931348623157e308]
      ];
      for (var i = 0; i < nums.length; i++) {
        var label = 'echo(' + (Object.is(nums[i][0], -0) ? '-0' : String(nums[i][0])) + ')';
        var res = await ctx.invoke('echoRemote', 'echo', [nums[i][0]]);
        var resp = respOf(res, label);
        expectOneOf(resp, echoCandidates(ctx.styles, [nums[i][1]]), label);
      }
      // and all of them at once inside one array argument
      var arr = nums.map(function(n) {
        return n[0];
      });
      var want = nums.map(function(n) {
        return n[1];
      });
      var res2 = await ctx.invoke('echoRemote', 'echo', [arr]);
      expectOneOf(respOf(res2, 'echo([numbers])'), echoCandidates(ctx.styles, [want]), 'echo([numbers])');
    }
  },
  {
    name: 'echo-nesting',
    run: async function(ctx) {
      var deep = nested(64);
      var res = await ctx.invoke('echoRemote', 'echo', [deep]);
      expectOneOf(respOf(res, 'echo(nested 64)'), echoCandidates(ctx.styles, [deep]), 'echo(nested 64)');

      var keys = manyKeys();
      var res2 = await ctx.invoke('echoRemote', 'echo', [keys]);
      var resp2 = respOf(res2, 'echo(many keys)');
      expectOneOf(resp2, echoCandidates(ctx.styles, [keys]), 'echo(many keys)');
      var got = JSON.stringify(resp2[1]);
      var want = JSON.stringify(keys);
      if (got !== want) {
        fail('echo(many keys): key order changed: got ' + safeJson(Object.keys(resp2[1]).slice(0, 20)) +
          ' expected ' + safeJson(Object.keys(keys).slice(0, 20)));
      }
    }
  },
  {
    name: 'echo-empty',
    run: async function(ctx) {
      var vals = ['', [], {}, null, true, false];
      for (var i = 0; i < vals.length; i++) {
        var label = 'echo(' + safeJson(vals[i]) + ')';
        var res = await ctx.invoke('echoRemote', 'echo', [vals[i]]);
        expectOneOf(respOf(res, label), echoCandidates(ctx.styles, [vals[i]]), label);
      }
      // zero arguments: callback style -> [null]; promise style -> [null, null] (undefined -> null)
      var res0 = await ctx.invoke('echoRemote', 'echo', []);
      expectOneOf(respOf(res0, 'echo()'), echoCandidates(ctx.styles, []), 'echo()');
    }
  },
  {
    name: 'echo-multi',
    run: async function(ctx) {
      var args = ['a', 1, {b: 2}, [3]];
      var res = await ctx.invoke('echoRemote', 'echo', args);
      // promise style (pinus remote) can only answer the first argument: [null,'a']
      expectOneOf(respOf(res, 'echo(a,1,{b:2},[3])'), echoCandidates(ctx.styles, args), 'echo(a,1,{b:2},[3])');
    }
  },
  {
    name: 'echo-1mib',
    run: async function(ctx) {
      var s = mib1();
      var res = await ctx.invoke('echoRemote', 'echo', [s]);
      var resp = respOf(res, 'echo(1 MiB string)');
      if (!Array.isArray(resp) || resp.length !== 2 || resp[0] !== null) {
        fail('echo(1 MiB string): reply is not [null, string]: ' + safeJson(resp, 200));
      }
      var d = diff(resp[1], s, '$[1]');
      if (d) {
        fail('echo(1 MiB string): ' + d);
      }
    }
  },
  {
    name: 'concurrent-50',
    run: async function(ctx) {
      var order = [];
      var calls = [];
      for (var i = 0; i < 50; i++) {
        (function(i) {
          var ms = 5 + (49 - i) * 4;
          calls.push(ctx.invoke('echoRemote', 'sleep', [ms]).then(function(res) {
            order.push(i);
            return {i: i, ms: ms, res: res};
          }));
        })(i);
      }
      var results = await Promise.all(calls);
      results.forEach(function(r) {
        var resp = respOf(r.res, 'sleep(' + r.ms + ') #' + r.i);
        var d = diff(resp, [null, r.ms]);
        if (d) {
          fail('sleep(' + r.ms + ') #' + r.i + ': ' + d);
        }
      });
      var inOrder = order.every(function(v, idx) {
        return v === idx;
      });
      if (inOrder) {
        fail('completion order equals send order (replies were serialized?)');
      }
      log('concurrent-50 completion order:', order.join(','));
    }
  },
  {
    name: 'time',
    run: async function(ctx) {
      var res = await ctx.invoke('timeRemote', 'getCurrentTime', [1, 2]);
      var resp = respOf(res, 'getCurrentTime(1,2)');
      var hms = function(a) {
        return Array.isArray(a) && a.length === 3 && isIntIn(a[0], 0, 23) && isIntIn(a[1], 0, 59) && isIntIn(a[2], 0, 59);
      };
      var okStyles = ctx.styles.filter(function(style) {
        if (style === 'callback') {
          return hms(resp); // cb(hour, min, sec), no error slot
        }
        // pinus remote returns [h,m,s] -> reply [null,[h,m,s]]
        return Array.isArray(resp) && resp.length === 2 && resp[0] === null && hms(resp[1]);
      });
      okStyles.forEach(function(st) {
        matchedStyles[st] = true;
      });
      if (!okStyles.length) {
        fail('getCurrentTime(1,2): expected ' + ctx.styles.map(function(s) {
          return s === 'callback' ? '[h,m,s]' : '[null,[h,m,s]]';
        }).join(' or ') + ', got ' + safeJson(resp));
      }
    }
  },
  {
    name: 'fail-shape',
    run: async function(ctx) {
      var res = await ctx.invoke('echoRemote', 'fail', ['boom ü']);
      checkErrorObject(respOf(res, 'fail("boom ü")'), 'Error: boom ü', 'fail("boom ü")', 'boom ü');
    }
  },
  {
    name: 'missing-service',
    run: async function(ctx) {
      var res = await ctx.invoke('nopeRemote', 'echo', ['x']);
      checkErrorObject(respOf(res, 'nopeRemote.echo'), 'Error: no such service:nopeRemote', 'nopeRemote.echo');
    }
  },
  {
    name: 'missing-method',
    run: async function(ctx) {
      var res = await ctx.invoke('echoRemote', 'nope', ['x']);
      checkErrorObject(respOf(res, 'echoRemote.nope'), 'Error: no such method:nope', 'echoRemote.nope');
    }
  },
  {
    name: 'missing-namespace',
    impls: ['rpc04', 'rpc10'], // default selection; can be forced for pinus with --cases
    run: async function(ctx) {
      var res = await ctx.invokeNs('nons', 'echoRemote', 'echo', ['x']);
      checkErrorObject(respOf(res, 'nons.echoRemote.echo'), 'Error: no such namespace:nons', 'nons.echoRemote.echo');
    }
  },
  {
    // OPT-IN: the 1.0.7 mqtt mailbox pings every --keepalive ms and closes its mailbox when no
    // PINGRESP comes back within two periods. Idle for five periods: the target must have
    // answered every PINGREQ, so the very same mailbox object is still open afterwards.
    name: 'keepalive-idle',
    optIn: true,
    extraMs: function(cfg) {
      return 5 * cfg.keepalive;
    },
    impls: ['rpc10'],
    run: async function(ctx) {
      var first = await ctx.invoke('echoRemote', 'echo', ['before']);
      expectOneOf(respOf(first, 'echo before idle'), [{style: 'callback', value: [null, 'before']}], 'echo before idle');
      var watch = watchMailbox(ctx);
      var station = watch.station, mailbox = watch.mailbox;
      var pongs = mailbox.lastPong;
      await new Promise(function(r) {
        setTimeout(r, 5 * ctx.cfg.keepalive);
      });
      if (watch.closed || station.mailboxes[ctx.cfg.targetId] !== mailbox) {
        fail('mailbox closed while idle: the target did not answer PINGREQ');
      }
      if (!(mailbox.lastPong > pongs)) {
        fail('no PINGRESP recorded while idle');
      }
      var after = await ctx.invoke('echoRemote', 'echo', ['after']);
      expectOneOf(respOf(after, 'echo after idle'), [{style: 'callback', value: [null, 'after']}], 'echo after idle');
    }
  },
  {
    // OPT-IN: one call, then --idle ms without traffic, then another call on the SAME
    // mailbox. Proves the target's heartbeats keep an idle connection alive (socket.io 0.9
    // clients disconnect when nothing arrives within the heartbeat timeout).
    name: 'idle',
    optIn: true,
    extraMs: function(cfg) {
      return cfg.idle;
    },
    run: async function(ctx) {
      var first = await ctx.invoke('echoRemote', 'echo', ['before']);
      expectOneOf(respOf(first, 'echo before idle'), echoCandidates(ctx.styles, ['before']), 'echo before idle');
      var watch = watchMailbox(ctx);
      var station = watch.station, mailbox = watch.mailbox;
      await new Promise(function(r) {
        setTimeout(r, ctx.cfg.idle);
      });
      if (watch.closed || station.mailboxes[ctx.cfg.targetId] !== mailbox) {
        fail('mailbox closed while idle for ' + ctx.cfg.idle + ' ms');
      }
      var after = await ctx.invoke('echoRemote', 'echo', ['after']);
      expectOneOf(respOf(after, 'echo after idle'), echoCandidates(ctx.styles, ['after']), 'echo after idle');
      if (station.mailboxes[ctx.cfg.targetId] !== mailbox) {
        fail('the call after the idle period needed a new connection');
      }
    }
  },
  {
    // OPT-IN: the values of compat-tests/json-corpus.js that used to break a connection, each
    // echoed on the SAME mailbox, then a plain call on it. Prints one observation line per value
    // (see the header) for a harness that compares this target's replies with another's; fails
    // only when a value got no reply, the mailbox closed, or the plain call after the corpus
    // was not answered on the same mailbox.
    name: 'json-edge',
    optIn: true,
    extraMs: function(cfg) {
      return (require('./json-corpus').CORPUS.length + 2) * (cfg.timeout + 1500);
    },
    run: async function(ctx) {
      var jc = require('./json-corpus');
      installRawHooks(ctx.cfg);
      var first = await ctx.invoke('echoRemote', 'echo', ['before the corpus']);
      expectOneOf(respOf(first, 'echo before the corpus'), echoCandidates(ctx.styles, ['before the corpus']),
        'echo before the corpus');
      var watch = watchMailbox(ctx);
      var problems = [];
      var observe = function(name, res, extra) {
        var obs = {json_value: name};
        Object.keys(extra).forEach(function(k) {
          obs[k] = extra[k];
        });
        obs.reply = res.resp ? JSON.stringify(res.resp) : null;
        obs.exact = res.resp ? jc.exactText(res.resp) : null;
        obs.error = res.resp ? null : res.timeout ? 'no callback at all (guard timeout)' :
          'client-side error: ' + ((res.local && res.local.message) || String(res.local));
        obs.closed = watch.closed;
        obs.same_mailbox = watch.station.mailboxes[ctx.cfg.targetId] === watch.mailbox;
        emitLine(obs);
        if (obs.error) {
          problems.push(name + ': ' + obs.error);
        }
        if (obs.closed || !obs.same_mailbox) {
          problems.push(name + ': the mailbox closed (closes: ' + obs.closed + ', same mailbox: ' +
            obs.same_mailbox + ')');
        }
        return obs;
      };
      for (var i = 0; i < jc.CORPUS.length; i++) {
        var entry = jc.CORPUS[i];
        var replacedBefore = jc.stats.replaced;
        var res = await ctx.invoke('echoRemote', 'echo', [jc.argument(entry)]);
        var extra = {arg_hex: jc.argumentBytes(entry).toString('hex')};
        if (entry.raw) {
          // a library path without the hook would send the marker as a plain string
          extra.injected = jc.stats.replaced > replacedBefore;
          if (!extra.injected) {
            problems.push(entry.name + ': the raw bytes were not written into the payload');
          }
        }
        observe(entry.name, res, extra);
      }
      var plain = 'plain after the corpus';
      var after = await ctx.invoke('echoRemote', 'echo', [plain]);
      var obs = observe('plain-after', after, {arg_hex: Buffer.from(JSON.stringify(plain)).toString('hex')});
      var expected = echoCandidates(ctx.styles, [plain]);
      if (after.resp && expected.every(function(c) {
        return diff(after.resp, c.value);
      })) {
        problems.push('plain-after: unexpected reply ' + obs.reply);
      }
      if (problems.length) {
        fail(problems.join('; '));
      }
    }
  },
  {
    // OPT-IN only (never in the default set): echoRemote.never must get no reply at all.
    // Passes when the client library reports its own timeout (rpc10/pinus: an Error from
    // the mailbox timer) or when nothing at all comes back (rpc04 tcp: the mailbox timer
    // throws ReferenceError instead of calling back). Takes about --timeout ms.
    name: 'never',
    optIn: true,
    run: async function(ctx) {
      var res = await ctx.invoke('echoRemote', 'never', []);
      if (res.resp) {
        fail('never(): got a reply ' + safeJson(res.resp));
      }
      log('never(): ' + (res.timeout ? 'no callback at all until the guard fired' :
        'client-side error: ' + res.local.message));
    }
  }
];

async function runCorpus(opts) {
  var cfg = commonConfig(opts);
  if (!(cfg.port > 0)) {
    usageError('corpus needs --port');
  }
  var styleOpt = opts['server-style'] || (cfg.impl === 'pinus' ? 'any' : 'callback');
  var styles = {callback: ['callback'], promise: ['promise'], any: ['callback', 'promise']}[styleOpt];
  if (!styles) {
    usageError('--server-style must be callback, promise or any');
  }

  var selected;
  if (opts.cases) {
    var names = String(opts.cases).split(',').map(function(s) {
      return s.trim();
    }).filter(Boolean);
    selected = names.map(function(n) {
      var c = CASES.filter(function(cc) {
        return cc.name === n;
      })[0];
      if (!c) {
        usageError('unknown case ' + n + ' (known: ' + CASES.map(function(cc) {
          return cc.name;
        }).join(',') + ')');
      }
      return c;
    });
  } else {
    selected = CASES.filter(function(c) {
      return !c.optIn && (!c.impls || c.impls.indexOf(cfg.impl) >= 0);
    });
  }

  var caseBudget = cfg.timeout + 1500;
  // absolute bound for the whole run (each case is also raced against caseBudget)
  var watchdog = setTimeout(function() {
    log('global watchdog fired');
    emitLine({case: '_watchdog', ok: false, detail: 'corpus run exceeded its global time bound'});
    emitLine({summary: {passed: 0, failed: selected.length}});
    process.exit(1);
  }, selected.reduce(function(sum, c) {
    return sum + caseBudget + (c.extraMs ? c.extraMs(cfg) : 0);
  }, 0) + 10000);

  var client;
  try {
    client = createClient(cfg);
    await startClient(client);
  } catch (e) {
    log('client setup failed:', (e && e.stack) || String(e));
    selected.forEach(function(c) {
      emitLine({case: c.name, ok: false, detail: 'client setup failed: ' + (e && e.message)});
    });
    emitLine({summary: {passed: 0, failed: selected.length}});
    process.exit(1);
  }
  log('corpus: impl=' + cfg.impl + ' transport=' + cfg.transport + ' target=' + cfg.targetId + '@' +
    cfg.host + ':' + cfg.port + ' bufferMsg=' + cfg.buffer + ' styles=' + styles.join('/'));

  var invoke = makeInvoker(client, cfg);
  var ctx = {
    styles: styles,
    client: client,
    cfg: cfg,
    invoke: function(service, method, args) {
      return invoke(service, method, args, caseBudget);
    },
    invokeNs: function(ns, service, method, args) {
      return invoke.ns(ns, service, method, args, caseBudget);
    }
  };

  var passed = 0;
  var failed = 0;
  for (var i = 0; i < selected.length; i++) {
    var c = selected[i];
    var uncaughtBefore = uncaughtLog.length;
    matchedStyles = {};
    var t0 = Date.now();
    var outcome;
    var guardTimer;
    try {
      await Promise.race([
        c.run(ctx),
        new Promise(function(resolve, reject) {
          guardTimer = setTimeout(function() {
            reject(new CaseFailure('case did not finish within ' + (caseBudget + (c.extraMs ? c.extraMs(cfg) : 0)) + ' ms'));
          }, caseBudget + (c.extraMs ? c.extraMs(cfg) : 0));
        })
      ]);
      outcome = {case: c.name, ok: true};
    } catch (e) {
      var detail = e instanceof CaseFailure ? e.detail : 'exception in case: ' + ((e && e.stack) || String(e));
      var newUncaught = uncaughtLog.slice(uncaughtBefore);
      if (newUncaught.length) {
        var counts = {};
        var order = [];
        newUncaught.forEach(function(u) {
          if (!counts[u]) {
            counts[u] = 0;
            order.push(u);
          }
          counts[u]++;
        });
        detail += ' [uncaught exceptions during case: ' + order.map(function(u) {
          return counts[u] > 1 ? u + ' (x' + counts[u] + ')' : u;
        }).join(' ; ') + ']';
      }
      outcome = {case: c.name, ok: false, detail: detail};
    }
    clearTimeout(guardTimer);
    if (outcome.ok) {
      passed++;
    } else {
      failed++;
    }
    var ms = Object.keys(matchedStyles);
    log(c.name + ': ' + (outcome.ok ? 'ok' : 'FAILED') + ' (' + (Date.now() - t0) + ' ms)' +
      (ms.length ? ' reply style: ' + ms.join('+') : ''));
    emitLine(outcome);
  }
  emitLine({summary: {passed: passed, failed: failed}});
  clearTimeout(watchdog);
  try {
    client.stop(true);
  } catch (e) {
    // ignore
  }
  process.exit(failed === 0 ? 0 : 1);
}

// ===========================================================================
// bench

// route-check: a pomelo-rpc 1.0.7 client with its DEFAULT router (crc32 of routeParam.uid over
// the servers of the type in the order they were added) calls echoRemote.whoami through a proxy
// for every --uids entry and prints {"uid":..,"picked":<server id that answered>} per line.
//   --servers '[{"id":..,"host":..,"port":..}, ...]'  (in this order)  --uids a,b,c
async function runRouteCheck(opts) {
  var cfg = commonConfig(opts);
  var servers = JSON.parse(opts.servers || '[]');
  var uids = String(opts.uids || '').split(',');
  var lib = require('pomelo-rpc');
  // pomelo's app plays routeContext: getServersByType gives the type's servers in the order
  // this process learned them, which the default route indexes into.
  var infos = servers.map(function(s) {
    return {id: s.id, serverType: cfg.serverType, host: s.host || '127.0.0.1', port: s.port};
  });
  var routeContext = {
    getServersByType: function(type) {
      return infos.filter(function(i) {
        return i.serverType === type;
      });
    }
  };
  var client = lib.client.create({context: {serverId: cfg.id}, routeContext: routeContext, timeout: cfg.timeout});
  infos.forEach(function(info) {
    client.addServer(info);
  });
  client.addProxies([{namespace: 'user', serverType: cfg.serverType, path: REMOTE_DIR.rpc10}]);
  await startClient(client);
  var proxy = client.proxies.user[cfg.serverType].echoRemote;
  var failed = 0;
  for (var i = 0; i < uids.length; i++) {
    var uid = uids[i];
    var res = await new Promise(function(resolve) {
      var t = setTimeout(function() {
        resolve({err: 'timeout'});
      }, cfg.timeout + 500);
      proxy.whoami({uid: uid}, function(err, id) {
        clearTimeout(t);
        resolve(err ? {err: String(err.message || JSON.stringify(err))} : {id: id});
      });
    });
    if (res.err) {
      failed++;
    }
    emitLine({uid: uid, picked: res.id || null, error: res.err || null});
  }
  client.stop(true);
  process.exit(failed ? 1 : 0);
}

async function runBench(opts) {
  var cfg = commonConfig(opts);
  if (!(cfg.port > 0)) {
    usageError('bench needs --port');
  }
  var payloadLen = intOpt(opts, 'payload', 1024);
  var inflight = Math.max(1, Math.floor(intOpt(opts, 'inflight', 1)));
  var count = Math.floor(intOpt(opts, 'count', 20000));
  var maxSeconds = intOpt(opts, 'max-seconds', 10);
  var warmup = Math.floor(intOpt(opts, 'warmup', 200));

  var payload = '';
  var alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  for (var i = 0; i < payloadLen; i++) {
    payload += alphabet[i % alphabet.length];
  }

  var client = createClient(cfg);
  await startClient(client);
  var invoke = makeInvoker(client, cfg);
  var guard = cfg.timeout + 1500;

  var errors = 0;
  var firstError = null;
  var check = function(res) {
    var ok = res.resp && res.resp.length >= 2 && res.resp[0] === null && res.resp[1] === payload;
    if (!ok) {
      errors++;
      if (!firstError) {
        firstError = res.timeout ? 'no callback (guard timeout)' :
          res.local ? 'client-side error: ' + res.local.message : 'bad reply: ' + safeJson(res.resp, 200);
      }
    }
    return ok;
  };

  // Latency of every measured call that succeeded, in microseconds (HDR histogram: 1 us to one
  // hour, 3 significant digits, the same as the Rust bench).
  var hist = require('hdr-histogram-js').build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3600000000,
    numberOfSignificantValueDigits: 3
  });

  // run `total` calls (or until deadline) with `inflight` outstanding; returns completed count.
  // `record`: put each successful call's latency in `hist` (not during the warm-up).
  var phase = function(total, deadline, record) {
    return new Promise(function(resolve) {
      var issued = 0;
      var completed = 0;
      var outstanding = 0;
      var finished = false;
      var pump = function() {
        while (outstanding < inflight && issued < total && Date.now() < deadline) {
          issued++;
          outstanding++;
          invoke('echoRemote', 'echo', [payload], guard).then(onDone.bind(null, process.hrtime.bigint()));
        }
        if (outstanding === 0 && !finished) {
          finished = true;
          resolve(completed);
        }
      };
      var onDone = function(t0, res) {
        var us = Number(process.hrtime.bigint() - t0) / 1000;
        outstanding--;
        completed++;
        if (check(res) && record) {
          hist.recordValue(Math.max(0, Math.round(us)));
        }
        pump();
      };
      pump();
    });
  };

  var overall = setTimeout(function() {
    log('bench watchdog fired');
    process.exit(1);
  }, (maxSeconds + 60) * 1000 + 2 * guard);

  await phase(warmup, Date.now() + Math.max(30000, guard * 2), false);
  var warmErrors = errors;
  if (warmErrors) {
    log('warm-up errors: ' + warmErrors + ' (first: ' + firstError + ')');
  }
  errors = 0;
  firstError = null;
  var t0 = process.hrtime.bigint();
  var calls = await phase(count, Date.now() + maxSeconds * 1000, true);
  var secs = Number(process.hrtime.bigint() - t0) / 1e9;
  clearTimeout(overall);
  if (errors) {
    log('errors: ' + errors + ' (first: ' + firstError + ')');
  }
  emitLine({
    impl: cfg.impl,
    transport: cfg.transport,
    inflight: inflight,
    calls: calls,
    secs: Math.round(secs * 1e6) / 1e6,
    ops_per_sec: secs > 0 ? Math.round(calls / secs * 10) / 10 : 0,
    errors: errors,
    p50_us: hist.totalCount ? hist.getValueAtPercentile(50) : null,
    p99_us: hist.totalCount ? hist.getValueAtPercentile(99) : null,
    p999_us: hist.totalCount ? hist.getValueAtPercentile(99.9) : null,
    payload: payloadLen,
    buffer: cfg.buffer,
    nodelay: cfg.nodelay
  });
  try {
    client.stop(true);
  } catch (e) {
    // ignore
  }
  process.exit(0);
}

// ===========================================================================

function main() {
  var opts = parseArgs(process.argv.slice(2));
  var mode = opts._[0];
  if (opts.help || !mode) {
    usageError(opts.help ? 'help' : 'missing mode');
  }
  if (MODES.indexOf(mode) < 0) {
    usageError('unknown mode ' + mode + (mode === 'servers' ? ' (not implemented)' : ''));
  }
  var run = {server: runServer, corpus: runCorpus, bench: runBench, 'route-check': runRouteCheck}[mode];
  try {
    var p = run(opts);
    if (p && p.catch) {
      p.catch(function(e) {
        log('fatal:', (e && e.stack) || String(e));
        process.exit(1);
      });
    }
  } catch (e) {
    log('fatal:', (e && e.stack) || String(e));
    process.exit(1);
  }
}

main();
