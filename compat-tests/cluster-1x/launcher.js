// launcher.js: lets the pomelo master start a Rust server (pomelo-interop) from servers.json.
//
// A pomelo/pinus master can only start servers with `node`: for each servers.json entry it runs
//     node <entry.args...> <master's main script> env=<env> id=<id> host=... port=... ...
// so a Rust server's entry names this file as a preload: "args": ["-r", "./launcher.js"]
// (resolved against the master's cwd, inherited by the child; keep the ./ prefix).
//
// Inside that node process, before app.js would run, this script:
//   1. reads the key=value arguments the master passed (env=, id=, ...);
//   2. takes the project dir = the directory of the main script;
//   3. runs `pomelo-interop serve --pomelo-config <dir> --env <env> --id <id>` with inherited
//      stdio; the Rust server reads master.json, its servers.json entry (every extra key, e.g.
//      pinus remoterPaths, goes into its server info) and its adminServer token itself, detects
//      the generation from <dir>/package.json, and registers with its own pid, so `list`,
//      `stop` and `kill` reach it directly;
//   4. keeps app.js from running, forwards SIGTERM/SIGINT/SIGHUP to the Rust process and exits
//      with its status.
//
// Binary: $POMELO_INTEROP_BIN, else <repo>/target/release/pomelo-interop, else target/debug.
'use strict';

var path = require('path');
var fs = require('fs');
var childProcess = require('child_process');
var Module = require('module');

function fail(text) {
  process.stderr.write('launcher.js: ' + text + '\n');
  process.exit(1);
}

var kv = {};
process.argv.slice(2).forEach(function(arg) {
  var eq = arg.indexOf('=');
  if (eq > 0) {
    kv[arg.slice(0, eq)] = arg.slice(eq + 1);
  }
});
if (!process.argv[1] || !kv.id) {
  fail('expected to be preloaded by a master-spawned server: node -r ./launcher.js app.js env=... id=...');
}

var mainPath = path.resolve(process.argv[1]);
var projectDir = path.dirname(mainPath);
var env = kv.env || process.env.NODE_ENV || 'development';

function findBinary() {
  if (process.env.POMELO_INTEROP_BIN) {
    var bin = path.resolve(process.env.POMELO_INTEROP_BIN);
    if (!fs.existsSync(bin)) {
      fail('POMELO_INTEROP_BIN=' + process.env.POMELO_INTEROP_BIN + ' does not exist');
    }
    return bin;
  }
  var repo = path.resolve(__dirname, '..', '..');
  var candidates = ['release', 'debug'].map(function(p) {
    return path.join(repo, 'target', p, 'pomelo-interop');
  });
  for (var i = 0; i < candidates.length; i++) {
    if (fs.existsSync(candidates[i])) {
      return candidates[i];
    }
  }
  fail('no pomelo-interop binary for ' + kv.id + ' (looked at ' + candidates.join(', ') +
       '): run `cargo build --release` or set POMELO_INTEROP_BIN');
}

var bin = findBinary();
var args = ['serve', '--pomelo-config', projectDir, '--env', env, '--id', kv.id];
var child = childProcess.spawn(bin, args, {cwd: projectDir, stdio: 'inherit'});
child.on('error', function(err) {
  fail('cannot start ' + bin + ': ' + err.message);
});

var forwarded = ['SIGTERM', 'SIGINT', 'SIGHUP'];
forwarded.forEach(function(sig) {
  process.on(sig, function() {
    try {
      child.kill(sig);
    } catch (e) { /* already gone */ }
  });
});

child.on('exit', function(code, signal) {
  if (signal) {
    forwarded.forEach(function(sig) { process.removeAllListeners(sig); });
    process.kill(process.pid, signal);
    setTimeout(function() { process.exit(1); }, 100);
    return;
  }
  process.exit(code === null ? 1 : code);
});

// Node loads the main script right after the preloads: compile it as an empty module instead.
var jsLoader = Module._extensions['.js'];
Module._extensions['.js'] = function(module, filename) {
  if (filename === mainPath) {
    module.exports = {};
    return;
  }
  return jsLoader(module, filename);
};
