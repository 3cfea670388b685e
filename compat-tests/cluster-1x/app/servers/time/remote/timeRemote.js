// STUB, never run: the `time` servers are pomelo-interop (Rust). pomelo 1.x builds the user RPC
// proxies of a server type from the *caller's* own app/servers/<type>/remote/*.js (file name =
// service, exported methods = methods), so this file is what gives the connector
// app.rpc.time.timeRemote.getCurrentTime. Keep the method names in sync with the Rust remotes.
module.exports = function(app) {
  return new TimeRemote(app);
};

var TimeRemote = function(app) {
  this.app = app;
};

// Rust answers [hour, min, sec] (the tutorial's cb(hour, min, sec), no error slot).
TimeRemote.prototype.getCurrentTime = function(arg1, arg2, cb) {
  cb(new Error('stub: timeRemote runs in Rust'));
};
