// STUB, never run: gives Node callers app.rpc.time.echoRemote.* (see timeRemote.js).
exports.default = function(app) {
  return new EchoRemote(app);
};

function EchoRemote(app) {
  this.app = app;
}

async function stub() {
  throw new Error('stub: echoRemote runs in Rust');
}

EchoRemote.prototype.echo = stub;    // Rust: [null, first arg]
EchoRemote.prototype.whoami = stub;  // Rust: [null, "<its server id>"]
EchoRemote.prototype.fail = stub;    // Rust: [{msg, stack}]
EchoRemote.prototype.sleep = stub;   // Rust: [null, ms] after ms
