// STUB, never run. The `time` servers are the Rust binary (pomelo-interop serve); this file only
// exists so that Node callers get the proxies app.rpc.time.echoRemote.* (pomelo builds user RPC
// proxies from the caller's local app/servers/<type>/remote/*.js). The bodies are never executed.
module.exports = function(app) {
  return new EchoRemote(app);
};

var EchoRemote = function(app) {
  this.app = app;
};

var stub = function() {
  var cb = arguments[arguments.length - 1];
  cb(new Error('stub: echoRemote runs in Rust'));
};

// Rust: [null, ...args]
EchoRemote.prototype.echo = stub;
// Rust: [null, "<its server id>"]
EchoRemote.prototype.whoami = stub;
// Rust: [{msg, stack}]
EchoRemote.prototype.fail = stub;
// Rust: waits ms, then [null, ms]
EchoRemote.prototype.sleep = stub;
