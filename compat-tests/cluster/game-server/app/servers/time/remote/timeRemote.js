// STUB, never run. The `time` servers are the Rust binary (pomelo-interop serve); this file only
// exists so that Node callers get the proxy app.rpc.time.timeRemote.getCurrentTime: pomelo builds
// the user RPC proxies of a server type from the caller's local app/servers/<type>/remote/*.js
// (file name = service, exported functions = methods). Keep the method names in sync with the
// Rust remotes; the bodies below are never executed by anyone.
module.exports = function(app) {
  return new TimeRemote(app);
};

var TimeRemote = function(app) {
  this.app = app;
};

// Rust: replies [hour, min, sec] (the tutorial's cb(hour, min, sec), no error slot).
TimeRemote.prototype.getCurrentTime = function(arg1, arg2, cb) {
  cb(new Error('stub: timeRemote runs in Rust'));
};
