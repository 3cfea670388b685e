#!/usr/bin/env node
// A pomelo game client (hybridconnector, websocket transport) for the cluster demo and tests
// of every generation (the wire protocol is the same in pomelo 1.x, 2.x and pinus). The 1.x and
// pinus projects run it through a two-line client.js of their own that points it at their own
// node_modules (CLIENT_NODE_MODULES).
//
// Speaks pomelo's hybrid protocol with `ws` and `pomelo-protocol`: handshake + handshake ack,
// heartbeats, requests, notifies, pushes and kicks. Runs a scenario of named steps and prints
// one JSON line per event on stdout:
//   {"event":"handshake","body":{...}}
//   {"event":"response","step":"now","route":"time.timeHandler.now","id":2,"body":{...}}
//   {"event":"push","route":"onTime","body":{...}}
//   {"event":"kick","body":{"reason":"bye"}}
//   {"event":"done","ok":true,"failures":[]}          (always the last line)
// Exit status 0 when every step got its answer and its check passed, 1 otherwise (the
// `failures` of the last line say why), 2 on bad arguments.
//
// Usage: node client.js [--host 127.0.0.1] [--port 23010] [--uid alice]
//                       [--steps entry,now,timeViaRpc,whoViaRpc,fail] [--timeout 20000]
//                       [--push-wait 3000] [--format json|text] [--lenient]
// --lenient: report every answer but do not fail on the checks (the test judges them).
// Steps (the default, `demo`, is entry,now,timeViaRpc,whoViaRpc,fail):
//   entry       connector.entryHandler.entry {uid}         Node handler: session.bind(uid)   → code 200
//   now         time.timeHandler.now {uid}                 Rust handler (forwarded)          → code 200,
//               and the push `onTime` it sends through channel `clock`
//   timeViaRpc  connector.entryHandler.timeViaRpc          Node → app.rpc.time.timeRemote.getCurrentTime → hms
//   whoViaRpc   connector.entryHandler.whoViaRpc           Node → app.rpc.time.echoRemote.whoami → server
//   myUid       connector.entryHandler.myUid               the connector's session uid / lastTimeServer
//   timeServers connector.entryHandler.timeServers         the time servers the connector knows
//   fail        time.timeHandler.fail                      Rust handler error                → code 500
//   kickMe      time.timeHandler.kickMe                    Rust kicks the session            → code 200 + kick
//   notifyNow   time.timeHandler.now as a notify           no response; waits for the onTime push
//   missing     time.timeHandler.nope                      no such handler                   → code 500
//   hold        prints {"event":"holding"} and keeps the session open (heartbeats)
//               until the server closes it (kick: exit 0) or the process is killed; it makes
//               sessions for a replay of recorded forwarded requests (tests/compat_replay.rs)
'use strict';

var fs = require('fs');
var path = require('path');
// ws and pomelo-protocol (or pinus-protocol, the same wire) from compat-tests/node_modules, or
// from the node_modules of the project whose wrapper sets CLIENT_NODE_MODULES.
var modules = process.env.CLIENT_NODE_MODULES || path.join(__dirname, '..', 'node_modules');
var WebSocket = require(path.join(modules, 'ws'));
var pinusProtocol = path.join(modules, 'pinus-protocol');
var protocolModule = require(fs.existsSync(pinusProtocol) ? pinusProtocol : path.join(modules, 'pomelo-protocol'));
var Protocol = protocolModule.Protocol || protocolModule; // pinus nests strencode/strdecode
var Package = protocolModule.Package;
var Message = protocolModule.Message;

// ---------------------------------------------------------------------------------------------
// Arguments

function usage(text) {
  process.stderr.write((text ? text + '\n' : '') +
    'usage: node client.js [--host H] [--port P] [--uid U] [--steps a,b,c] [--timeout MS] ' +
    '[--push-wait MS] [--format json|text] [--lenient]\n');
  process.exit(2);
}

var opts = {host: '127.0.0.1', port: 23010, uid: null, steps: 'demo', timeout: 20000,
            format: 'json', pushWait: 3000, lenient: false};
(function parseArgs(argv) {
  for (var i = 0; i < argv.length; i++) {
    var a = argv[i];
    var next = function() {
      if (i + 1 >= argv.length) {
        usage('missing value for ' + a);
      }
      return argv[++i];
    };
    switch (a) {
      case '--host': opts.host = next(); break;
      case '--port': opts.port = Number(next()); break;
      case '--uid': opts.uid = next(); break;
      case '--steps': opts.steps = next(); break;
      case '--timeout': opts.timeout = Number(next()); break;
      case '--push-wait': opts.pushWait = Number(next()); break;
      case '--format': opts.format = next(); break;
      case '--lenient': opts.lenient = true; break;
      case '-h': case '--help': usage(); break;
      default: usage('unknown argument ' + a);
    }
  }
})(process.argv.slice(2));

var SCENARIOS = {
  demo: ['entry', 'now', 'timeViaRpc', 'whoViaRpc', 'fail']
};

function isCode(body, code) {
  return !!body && body.code === code;
}

// name → {route, body(), notify?, check(body) → null | failure text, waitPush?, waitKick?}
var STEPS = {
  entry: {
    route: 'connector.entryHandler.entry',
    body: function() { return {uid: opts.uid}; },
    check: function(b) { return isCode(b, 200) ? null : 'expected code 200'; }
  },
  now: {
    route: 'time.timeHandler.now',
    body: function() { return opts.uid === null ? {} : {uid: opts.uid}; },
    check: function(b) {
      return isCode(b, 200) && typeof b.server === 'string' ? null
        : 'expected {code:200, server:<id>, ...}';
    },
    waitPush: 'onTime'
  },
  notifyNow: {
    route: 'time.timeHandler.now',
    notify: true,
    body: function() { return opts.uid === null ? {} : {uid: opts.uid}; },
    waitPush: 'onTime'
  },
  timeViaRpc: {
    route: 'connector.entryHandler.timeViaRpc',
    body: function() { return {}; },
    check: function(b) {
      var ok = isCode(b, 200) && Array.isArray(b.hms) && b.hms.length === 3 &&
        b.hms.every(function(x) { return typeof x === 'number'; });
      return ok ? null : 'expected {code:200, hms:[h,m,s]}';
    }
  },
  whoViaRpc: {
    route: 'connector.entryHandler.whoViaRpc',
    body: function() { return {}; },
    check: function(b) {
      return isCode(b, 200) && typeof b.server === 'string' ? null : 'expected {code:200, server}';
    }
  },
  myUid: {
    route: 'connector.entryHandler.myUid',
    body: function() { return {}; },
    check: function(b) { return isCode(b, 200) ? null : 'expected code 200'; }
  },
  timeServers: {
    route: 'connector.entryHandler.timeServers',
    body: function() { return {}; },
    check: function(b) { return isCode(b, 200) && Array.isArray(b.servers) ? null : 'expected {code:200, servers}'; }
  },
  fail: {
    route: 'time.timeHandler.fail',
    body: function() { return {}; },
    check: function(b) { return isCode(b, 500) ? null : 'expected code 500'; }
  },
  missing: {
    route: 'time.timeHandler.nope',
    body: function() { return {}; },
    check: function(b) { return isCode(b, 500) ? null : 'expected code 500'; }
  },
  hold: {
    hold: true
  },
  kickMe: {
    route: 'time.timeHandler.kickMe',
    body: function() { return {}; },
    check: function(b) { return isCode(b, 200) ? null : 'expected code 200'; },
    waitKick: true
  }
};

var stepNames = [];
opts.steps.split(',').forEach(function(s) {
  s = s.trim();
  if (!s) {
    return;
  }
  if (SCENARIOS[s]) {
    stepNames = stepNames.concat(SCENARIOS[s]);
  } else if (STEPS[s]) {
    stepNames.push(s);
  } else {
    usage('unknown step ' + s + ' (known: ' + Object.keys(STEPS).concat(Object.keys(SCENARIOS)).join(', ') + ')');
  }
});
if ((stepNames.indexOf('entry') >= 0) && opts.uid === null) {
  usage('step entry needs --uid');
}

// ---------------------------------------------------------------------------------------------
// Output

var failures = [];
var finished = false;

function text(ev) {
  var t = new Date().toISOString().slice(11, 23);
  switch (ev.event) {
    case 'response':
      return t + '  ' + (ev.uid || '-') + '  ' + ev.route + ' → ' + JSON.stringify(ev.body) +
        (ev.ms !== undefined ? '  (' + ev.ms + ' ms)' : '');
    case 'push':
      return t + '  ' + (opts.uid || '-') + '  push ' + ev.route + ' ← ' + JSON.stringify(ev.body);
    case 'kick':
      return t + '  ' + (opts.uid || '-') + '  kicked: ' + JSON.stringify(ev.body);
    case 'done':
      return t + '  ' + (opts.uid || '-') + '  ' + (ev.ok ? 'all steps answered' :
        'FAILED: ' + ev.failures.join('; '));
    default:
      return t + '  ' + (opts.uid || '-') + '  ' + ev.event + (ev.body !== undefined ? ' ' + JSON.stringify(ev.body) : '') +
        (ev.error ? ' ' + ev.error : '');
  }
}

function emit(ev) {
  if (opts.format === 'text') {
    if (ev.event === 'heartbeat' || ev.event === 'request' || ev.event === 'notify') {
      return;
    }
    process.stdout.write(text(ev) + '\n');
  } else {
    process.stdout.write(JSON.stringify(ev) + '\n');
  }
}

function finish() {
  if (finished) {
    return;
  }
  finished = true;
  var ok = failures.length === 0;
  emit({event: 'done', ok: ok, failures: failures, uid: opts.uid});
  try {
    ws.close();
  } catch (e) { /* ignore */ }
  // Let stdout drain.
  setTimeout(function() { process.exit(ok ? 0 : 1); }, 20);
}

var overall = setTimeout(function() {
  failures.push('scenario timed out after ' + opts.timeout + ' ms');
  finish();
}, opts.timeout);
overall.unref();

// ---------------------------------------------------------------------------------------------
// Protocol

var ws = new WebSocket('ws://' + opts.host + ':' + opts.port);
var reqId = 0;
var pending = {};          // reqId → {route, cb}
var pushWaiters = [];      // {route, cb}
var kickWaiters = [];
var pushes = [];           // received pushes, in order
var kicked = null;
var heartbeatMs = 0;
var heartbeatTimer = null;
var abbrs = {};            // route dictionary code → route (if the server uses a dict)
var dict = {};
var currentStep = null;

function send(type, body) {
  if (ws.readyState !== WebSocket.OPEN) {
    return;
  }
  ws.send(Package.encode(type, body));
}

function request(route, body, cb) {
  var id = ++reqId;
  var buf = Protocol.strencode(JSON.stringify(body));
  var compress = 0;
  var r = route;
  if (dict[route] !== undefined) {
    r = dict[route];
    compress = 1;
  }
  pending[id] = {route: route, cb: cb};
  emit({event: 'request', id: id, route: route, body: body});
  send(Package.TYPE_DATA, Message.encode(id, Message.TYPE_REQUEST, compress, r, buf));
}

function notify(route, body) {
  var buf = Protocol.strencode(JSON.stringify(body));
  emit({event: 'notify', route: route, body: body});
  send(Package.TYPE_DATA, Message.encode(0, Message.TYPE_NOTIFY, 0, route, buf));
}

function decodeBody(buf) {
  if (!buf || buf.length === 0) {
    return null;
  }
  var s = Protocol.strdecode(buf);
  try {
    return JSON.parse(s);
  } catch (e) {
    return s;
  }
}

function onPackage(pkg) {
  switch (pkg.type) {
    case Package.TYPE_HANDSHAKE: {
      var hs = decodeBody(pkg.body);
      emit({event: 'handshake', body: hs});
      if (!hs || hs.code !== 200) {
        failures.push('handshake refused: ' + JSON.stringify(hs));
        finish();
        return;
      }
      var sys = hs.sys || {};
      heartbeatMs = (sys.heartbeat || 0) * 1000;
      if (sys.dict) {
        dict = sys.dict;
        Object.keys(dict).forEach(function(route) { abbrs[dict[route]] = route; });
      }
      send(Package.TYPE_HANDSHAKE_ACK);
      runSteps();
      break;
    }
    case Package.TYPE_HEARTBEAT:
      emit({event: 'heartbeat'});
      if (heartbeatMs && !heartbeatTimer) {
        heartbeatTimer = setTimeout(function() {
          heartbeatTimer = null;
          send(Package.TYPE_HEARTBEAT);
        }, heartbeatMs);
        heartbeatTimer.unref();
      }
      break;
    case Package.TYPE_DATA: {
      var msg = Message.decode(pkg.body);
      var route = msg.route;
      if (msg.compressRoute && abbrs[route] !== undefined) {
        route = abbrs[route];
      }
      var body = decodeBody(msg.body);
      if (msg.type === Message.TYPE_RESPONSE) {
        var p = pending[msg.id];
        delete pending[msg.id];
        if (p) {
          p.cb(body);
        } else {
          emit({event: 'unexpected-response', id: msg.id, body: body});
        }
      } else if (msg.type === Message.TYPE_PUSH) {
        var push = {route: route, body: body};
        pushes.push(push);
        emit({event: 'push', route: route, body: body});
        pushWaiters = pushWaiters.filter(function(w) {
          if (w.route === route) {
            w.cb(push);
            return false;
          }
          return true;
        });
      }
      break;
    }
    case Package.TYPE_KICK:
      kicked = decodeBody(pkg.body);
      emit({event: 'kick', body: kicked});
      kickWaiters.splice(0).forEach(function(cb) { cb(kicked); });
      break;
    default:
      emit({event: 'unknown-package', type: pkg.type});
  }
}

ws.on('open', function() {
  emit({event: 'open', url: 'ws://' + opts.host + ':' + opts.port});
  send(Package.TYPE_HANDSHAKE, Protocol.strencode(JSON.stringify({
    sys: {type: 'js-websocket', version: '0.0.1', rsa: {}}, user: {}
  })));
});

ws.on('message', function(data) {
  var pkgs = Package.decode(Buffer.from(data));
  if (!Array.isArray(pkgs)) {
    pkgs = [pkgs];
  }
  pkgs.forEach(onPackage);
});

ws.on('error', function(err) {
  emit({event: 'error', error: err.message});
  failures.push('websocket error: ' + err.message);
  finish();
});

ws.on('close', function(code) {
  if (finished) {
    return;
  }
  emit({event: 'close', code: code});
  if (!finished && currentStep && STEPS[currentStep].hold) {
    // A held session ends when the server closes it.
    finish();
  } else if (!finished && currentStep && STEPS[currentStep].waitKick && kicked) {
    // Kicked before the response arrived: the kick is the answer that matters.
    finish();
  } else if (!finished) {
    failures.push('connection closed by the server (code ' + code + ') before the steps finished');
    finish();
  }
});

// ---------------------------------------------------------------------------------------------
// Scenario

function waitFor(list, match, ms, cb) {
  var done = false;
  var timer = setTimeout(function() {
    if (!done) {
      done = true;
      cb(null);
    }
  }, ms);
  list.push(match(function(v) {
    if (!done) {
      done = true;
      clearTimeout(timer);
      cb(v);
    }
  }));
}

function waitPush(route, ms, cb) {
  // Already here (the push can arrive before the response)?
  for (var i = 0; i < pushes.length; i++) {
    if (pushes[i].route === route && !pushes[i].claimed) {
      pushes[i].claimed = true;
      cb(pushes[i]);
      return;
    }
  }
  waitFor(pushWaiters, function(done) {
    return {route: route, cb: function(p) { p.claimed = true; done(p); }};
  }, ms, cb);
}

function waitKick(ms, cb) {
  if (kicked) {
    cb(kicked);
    return;
  }
  waitFor(kickWaiters, function(done) { return done; }, ms, cb);
}

function runSteps() {
  var i = 0;
  var next = function() {
    if (i >= stepNames.length) {
      finish();
      return;
    }
    var name = stepNames[i++];
    var step = STEPS[name];
    currentStep = name;
    // A step waits for its own push: pushes of earlier steps (pomelo 2.2.7 pushes a channel
    // member once per time it was added) no longer count.
    pushes.forEach(function(p) { p.claimed = true; });
    if (step.hold) {
      clearTimeout(overall);
      emit({event: 'holding'});
      return;
    }
    var body = step.body();
    var afterAnswer = function() {
      // A push to channel `clock` needs a uid: without --uid the session stays unbound.
      if (step.waitPush && opts.uid !== null) {
        waitPush(step.waitPush, opts.pushWait, function(p) {
          if (!p && !opts.lenient) {
            failures.push(name + ': no push ' + step.waitPush + ' within ' + opts.pushWait + ' ms');
          }
          next();
        });
      } else if (step.waitKick) {
        waitKick(opts.pushWait, function(k) {
          if (!k) {
            failures.push(name + ': no kick within ' + opts.pushWait + ' ms');
          }
          // The server closes the connection after a kick: nothing more can run.
          finish();
        });
      } else {
        next();
      }
    };
    if (step.notify) {
      notify(step.route, body);
      afterAnswer();
      return;
    }
    var t0 = Date.now();
    var id = reqId + 1;
    request(step.route, body, function(resp) {
      var failure = step.check && !opts.lenient ? step.check(resp) : null;
      var ev = {event: 'response', step: name, route: step.route, id: id, body: resp,
                ms: Date.now() - t0, uid: opts.uid};
      if (failure) {
        ev.failure = failure;
        failures.push(name + ': ' + failure + ', got ' + JSON.stringify(resp));
      }
      emit(ev);
      afterAnswer();
    });
  };
  next();
}
