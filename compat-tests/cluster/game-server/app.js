// A small pomelo 2.2.7 game server used by the end-to-end demo (scripts/demo-cluster) and the
// Rust test tests/compat_cluster.rs.
//
// Cluster (env `development`, loopback, see config/servers.json):
//   master-server-1     Node, admin port 23005 (this file, started as `node app.js`)
//   connector-server-1  Node frontend: RPC 23150, clients on ws://127.0.0.1:23010 (hybridconnector)
//   time-server-1/2     the Rust binary (`pomelo-interop serve --pomelo-config <this dir>`), RPC
//                       23051/23052. The master spawns them like any server, with
//                       `node --require ../../../scripts/pomelo-launcher.js app.js env=... id=...`;
//                       the preload script replaces the Node process by the Rust one, so this
//                       file never runs for them.
//
// Environment `capture` (config/*.json; ports 232xx): master, connector-server-1 and one
// time-server-1, for recording and replaying the cluster fixture (scripts/capture-fixtures,
// tests/compat_replay.rs). Three variables of this file and the launcher serve that purpose:
//   POMELO_INTEROP_NODE_IDS=time-server-1       the launcher leaves that server in Node: this file
//                                               runs it with app/servers/time/* (the Node
//                                               implementation of the Rust handlers and remotes)
//   POMELO_INTEROP_RPC_LISTEN=id=port[,id=port] that server's RPC acceptor listens on `port` but
//                                               registers its servers.json port with the master,
//                                               where a capture relay listens
//   POMELO_INTEROP_RELATIVE_STACKS=1            error stacks name files relative to compat-tests/
//
// Start:   cd compat-tests/cluster/game-server && node app.js env=development
// Restart only the master (servers keep running and reconnect):
//          node app.js env=development type=master
var pomelo = require('pomelo');
var timeRoute = require('./app/util/timeRoute');

// In env `development` the master pipes every child's stdout/stderr through its own. If the
// master dies (the test restarts it), writes of a child would fail with EPIPE; pomelo's
// uncaughtException logging would then fail too. Ignore errors on our own stdio so a child
// outlives its master, as pomelo servers are meant to.
process.stdout.on('error', function() {});
process.stderr.on('error', function() {});

var app = pomelo.createApp();
app.set('name', 'pomelo-interop-cluster');

if (process.env.POMELO_INTEROP_RELATIVE_STACKS) {
  require('../../relative-stacks')(require('path').resolve(__dirname, '..', '..'));
}

var rpcListen = {};
(process.env.POMELO_INTEROP_RPC_LISTEN || '').split(',').forEach(function(pair) {
  var eq = pair.indexOf('=');
  if (eq > 0) {
    var port = Number(pair.slice(eq + 1));
    if (!(port > 0 && port < 65536 && Math.floor(port) === port)) {
      throw new Error('POMELO_INTEROP_RPC_LISTEN: bad port in ' + JSON.stringify(pair));
    }
    rpcListen[pair.slice(0, eq).trim()] = port;
  }
});
if (rpcListen[app.getServerId()]) {
  var RemoteServer = require('pomelo-rpc').server;
  app.set('remoteConfig', {
    rpcServer: {
      create: function(opts) {
        opts.port = rpcListen[app.getServerId()];
        return RemoteServer.create(opts);
      }
    }
  });
}

// Every server type: how a `time` server is chosen, for user RPC
// (app.rpc.time.*.*(session, ...)) *and* for forwarded client requests (sys msgRemote).
app.configure('development|capture', function() {
  app.route('time', timeRoute);
  // A dead or missing RPC peer fails a call after 8 s instead of pomelo's 30 s.
  app.set('proxyConfig', {timeout: 8000});
});

app.configure('development|capture', 'connector', function() {
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
