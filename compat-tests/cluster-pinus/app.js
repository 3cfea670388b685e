// A pinus 1.7.4 game server (plain JavaScript) whose `time` servers are the Rust binary
// (pomelo-interop). Driven by tests/compat_cluster_pinus.rs; see README.md.
//
// Cluster (env `interop`, loopback, config/servers.json):
//   master-server-1     Node, admin port 25005 (this file: `node app.js env=interop`, cwd = this dir)
//   connector-server-1  Node frontend: RPC 25150 (MQTT), clients on ws://127.0.0.1:25010
//                       (hybridconnector), spawned by the master
//   time-server-1       Rust, RPC 25051 (MQTT), spawned by the master through ./launcher.js; its
//                       servers.json entry carries the remoterPaths the Node peers load proxies from
//   time-server-2       Rust, RPC 25052, started by hand: `pomelo-interop serve --flavor pinus
//                       --master 127.0.0.1:25005 ... --remoter-paths '[...]'`
//
// The env is not `development` on purpose: there pinus pipes every child's output through the
// master, so children would write into a dead pipe while the master is restarted. In any other
// env children inherit the master's stdio and outlive it.
//
// Restart only the master (the servers keep running and reconnect):
//   node app.js env=interop type=master

// pinus's decorators need the Reflect metadata API; a plain-JS app loads it before pinus
// (the TypeScript template does it in preload.ts).
require('reflect-metadata');
var pinus = require('pinus').pinus;

var app = pinus.createApp();
app.set('name', 'pomelo-interop-cluster-pinus');

app.configure('interop', function() {
  // A dead RPC peer fails a call after 5 s instead of pinus's 30 s.
  app.set('proxyConfig', {timeout: 5000});
});

app.configure('interop', 'connector', function() {
  app.set('connectorConfig', {
    connector: pinus.connectors.hybridconnector,
    heartbeat: 10,
    useDict: false,
    useProtobuf: false
  });
});

app.start();

// As the pinus template does: a peer whose remoterPaths do not resolve makes every server throw
// inside its add-servers handler; log it instead of dying.
process.on('uncaughtException', function(err) {
  console.error(' Caught exception: ' + (err && err.stack));
});
process.on('unhandledRejection', function(reason) {
  console.error(' Unhandled rejection: ' + (reason && reason.stack || JSON.stringify(reason)));
});
