// STUB, never run: gives Node callers app.rpc.time.echoRemote.* (see timeRemote.js).
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

EchoRemote.prototype.echo = stub;    // Rust: [null, ...args]
EchoRemote.prototype.whoami = stub;  // Rust: [null, "<its server id>"]
EchoRemote.prototype.fail = stub;    // Rust: [{msg, stack}]
EchoRemote.prototype.sleep = stub;   // Rust: [null, ms] after ms
