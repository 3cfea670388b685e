// A pomelo 1.2.3 game server whose `time` servers are the Rust binary (pomelo-interop).
// Driven by tests/compat_cluster_1x.rs; see README.md.
//
// Cluster (env `interop`, loopback, config/servers.json):
//   master-server-1     Node, admin port 24005 (this file: `node -r ./shim.js app.js env=interop`)
//   connector-server-1  Node frontend: RPC 24150 (socket.io 0.9), clients on ws://127.0.0.1:24010
//                       (hybridconnector), spawned by the master with `-r ./shim.js`
//   time-server-1       Rust, RPC 24051 (socket.io 0.9), spawned by the master through
//                       ./launcher.js (`pomelo-interop serve --pomelo-config <this dir> ...`)
//   time-server-2       Rust, RPC 24052, started by hand:
//                       `pomelo-interop serve --flavor pomelo1 --master 127.0.0.1:24005 ...`
//
// The env is not `development` on purpose: in `development` pomelo pipes every child's output
// through the master, so children would write into a dead pipe while the master is restarted.
// In any other env children inherit the master's stdio and outlive it.
//
// Restart only the master (the servers keep running and reconnect):
//   node -r ./shim.js app.js env=interop type=master
var pomelo = require('pomelo');

var app = pomelo.createApp();
app.set('name', 'pomelo-interop-cluster-1x');

app.configure('interop', function() {
  // A dead RPC peer fails a call after 5 s instead of pomelo's 30 s.
  app.set('proxyConfig', {timeout: 5000});
});

app.configure('interop', 'connector', function() {
  app.set('connectorConfig', {
    connector: pomelo.connectors.hybridconnector,
    heartbeat: 10,
    useDict: false,
    useProtobuf: false
  });
});

app.start();

process.on('uncaughtException', function(err) {
  console.error(' Caught exception: ' + (err && err.stack));
});
