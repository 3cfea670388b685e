// STUB, never run: the `time` servers are pomelo-interop (Rust). A pinus server builds the proxies
// of server type `time` from the remoterPaths in a time server's info, loaded *from its own disk*:
// the Rust servers advertise {namespace: "user", serverType: "time", path: "app/servers/time/remote"}
// (resolved against the peer's cwd, this project dir), so this file gives the connector
// app.rpc.time.timeRemote.getCurrentTime. pinus-loader instantiates it with the peer's app and
// reads the method names off the instance; keep them in sync with the Rust remotes.
exports.default = function(app) {
  return new TimeRemote(app);
};

function TimeRemote(app) {
  this.app = app;
}

// Rust answers [null, [hour, min, sec]]: pinus replies are exactly [err, value], so the
// tutorial's cb(hour, min, sec) arrives as one array.
TimeRemote.prototype.getCurrentTime = async function(arg1, arg2) {
  throw new Error('stub: timeRemote runs in Rust');
};
