// pomelo-launcher.js: lets a pomelo 2.2.7 master start the Rust server (pomelo-interop) as one
// of its servers.
//
// A pomelo master can only start servers with `node` (spec cluster.md §1.8): for each servers.json
// entry it runs
//     node <entry.args...> <master's main script> env=<env> id=<id> host=... port=... serverType=...
// So list the Rust servers with a preload script in `args`:
//     {"id": "time-server-1", "host": "127.0.0.1", "port": 23051,
//      "args": ["--require", "../../../scripts/pomelo-launcher.js"]}
// The path is resolved from the master's working directory (the game-server dir) and must start
// with ./ or ../ (or be absolute), otherwise Node looks it up as a package.
//
// What this script does, inside that node process, before app.js would run:
//   1. reads the key=value arguments (env=..., id=..., ...) the master passed;
//   2. takes the game-server dir = directory of the main script (app.js);
//   3. starts `pomelo-interop serve --pomelo-config <dir> --env <env> --id <id>`; the Rust
//      process reads master.json, its servers.json entry and its token from that dir itself,
//      and registers with the master with its *own* pid, so `pomelo list/stop/kill` reach it;
//   4. keeps app.js from running, forwards SIGTERM/SIGINT/SIGHUP/SIGQUIT to the Rust process,
//      passes its output through, and exits with its status (or dies by the same signal).
//
// Binary: $POMELO_INTEROP_BIN, else <repo>/target/release/pomelo-interop, else
// <repo>/target/debug/pomelo-interop (<repo> = the parent of this scripts/ dir).
// Node instead: a server whose id is in $POMELO_INTEROP_NODE_IDS is left alone (app.js runs).
// Logs: if $POMELO_LAUNCHER_LOG_DIR is set, the Rust output is also appended to
// <that dir>/<server id>.log (it survives a master restart; the tests use it).
//
// The Rust output is piped through this process (not inherited) on purpose: in env
// `development` our stdout/stderr are pipes to the master, and when the master dies (it may be
// restarted) writes to them fail with EPIPE. Here those errors are ignored, so the Rust server
// keeps running and reconnects to the new master.
'use strict';

var path = require('path');
var fs = require('fs');
var childProcess = require('child_process');
var Module = require('module');

function fail(text) {
  try {
    process.stderr.write('pomelo-launcher: ' + text + '\n');
  } catch (e) { /* ignore */ }
  process.exit(1);
}

// 1. key=value arguments after the main script.
var kv = {};
process.argv.slice(2).forEach(function(arg) {
  var eq = arg.indexOf('=');
  if (eq > 0) {
    kv[arg.slice(0, eq)] = arg.slice(eq + 1);
  }
});

if (!process.argv[1]) {
  fail('no main script: run as `node --require pomelo-launcher.js app.js env=... id=...`');
}
if (!kv.id) {
  fail('no id=<server id> argument (expected the master to start this process from servers.json)');
}

// Servers listed in $POMELO_INTEROP_NODE_IDS (comma-separated ids) stay Node: return before
// anything else and app.js runs as usual (the cluster fixture records a Node time server).
if ((process.env.POMELO_INTEROP_NODE_IDS || '').split(',').map(function(s) { return s.trim(); })
    .indexOf(kv.id) >= 0) {
  return;
}

// 2. The game-server dir.
var mainPath = path.resolve(process.argv[1]);
var gameDir = path.dirname(mainPath);
var env = kv.env || process.env.NODE_ENV || 'development';

// 3. The binary.
function findBinary() {
  if (process.env.POMELO_INTEROP_BIN) {
    var bin = path.resolve(process.env.POMELO_INTEROP_BIN);
    if (!fs.existsSync(bin)) {
      fail('POMELO_INTEROP_BIN=' + process.env.POMELO_INTEROP_BIN + ' does not exist');
    }
    return bin;
  }
  var repo = path.resolve(__dirname, '..');
  var candidates = [
    path.join(repo, 'target', 'release', 'pomelo-interop'),
    path.join(repo, 'target', 'debug', 'pomelo-interop')
  ];
  for (var i = 0; i < candidates.length; i++) {
    if (fs.existsSync(candidates[i])) {
      return candidates[i];
    }
  }
  fail('no pomelo-interop binary for server ' + kv.id + ': looked at ' + candidates.join(' and ') +
       '. Build it (`cargo build --release` in ' + repo + ') or set POMELO_INTEROP_BIN.');
}

var bin = findBinary();
var args = ['serve', '--pomelo-config', gameDir, '--env', env, '--id', kv.id];
// $POMELO_INTEROP_RPC_LISTEN=id=port[,id=port]: that server listens for RPC on `port` but registers
// its servers.json port (a capture relay listens there), like app.js does for Node servers.
(process.env.POMELO_INTEROP_RPC_LISTEN || '').split(',').forEach(function(pair) {
  var eq = pair.indexOf('=');
  if (eq > 0 && pair.slice(0, eq).trim() === kv.id) {
    if (!/^\s*[0-9]+\s*$/.test(pair.slice(eq + 1))) {
      fail('POMELO_INTEROP_RPC_LISTEN: bad port in ' + JSON.stringify(pair));
    }
    var host = kv.host || '127.0.0.1';
    args.push('--rpc-listen', (host.indexOf(':') >= 0 ? '[' + host + ']' : host) + ':' + Number(pair.slice(eq + 1)));
  }
});

// Our stdio may be pipes to a master that dies: never let an EPIPE kill this process.
process.stdout.on('error', function() {});
process.stderr.on('error', function() {});

var child;
try {
  child = childProcess.spawn(bin, args, {cwd: gameDir, stdio: ['ignore', 'pipe', 'pipe']});
} catch (e) {
  fail('cannot start ' + bin + ': ' + e.message);
}

var logFd = null;
if (process.env.POMELO_LAUNCHER_LOG_DIR) {
  try {
    logFd = fs.openSync(path.join(process.env.POMELO_LAUNCHER_LOG_DIR, kv.id + '.log'), 'a');
  } catch (e) {
    process.stderr.write('pomelo-launcher: cannot open the log file: ' + e.message + '\n');
  }
}

function pass(stream, out) {
  stream.on('data', function(chunk) {
    if (logFd !== null) {
      try {
        fs.writeSync(logFd, chunk);
      } catch (e) { /* ignore */ }
    }
    try {
      out.write(chunk);
    } catch (e) { /* master gone: drop the output */ }
  });
}
pass(child.stdout, process.stdout);
pass(child.stderr, process.stderr);

child.on('error', function(err) {
  fail('cannot start ' + bin + ' ' + args.join(' ') + ': ' + err.message);
});

// 4a. Forward termination signals to the Rust server.
var forwarded = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT'];
forwarded.forEach(function(sig) {
  process.on(sig, function() {
    try {
      child.kill(sig);
    } catch (e) { /* already gone */ }
  });
});

// 4b. Exit the way the Rust server did.
child.on('close', function(code, signal) {
  if (signal) {
    forwarded.forEach(function(sig) { process.removeAllListeners(sig); });
    process.kill(process.pid, signal);
    // In case that signal is ignored or handled here: still exit, with a failure status.
    setTimeout(function() { process.exit(1); }, 100);
    return;
  }
  process.exit(code === null ? 1 : code);
});

// 4c. Keep app.js from running: Node loads the main script right after the preload scripts.
// Replace its compilation by an empty module; the child process keeps the event loop alive.
var mainReal = mainPath;
try {
  mainReal = fs.realpathSync(mainPath);  // Node loads modules by their real path
} catch (e) { /* keep mainPath */ }
var jsLoader = Module._extensions['.js'];
Module._extensions['.js'] = function(module, filename) {
  if (filename === mainPath || filename === mainReal) {
    module.exports = {};
    return;
  }
  return jsLoader(module, filename);
};
