'use strict';
// pomelo-rpc (0.4.11 / 1.0.7) callback-style remote, loaded by pomelo-loader
// through the server's `paths` option (namespace "user", service "echoRemote").
// The reply callback is always the LAST argument.

var EchoRemote = function(app) {
  this.app = app;
};

var lastCb = function(args) {
  return args[args.length - 1];
};

// echo(...args, cb) -> cb(null, ...args)
EchoRemote.prototype.echo = function() {
  var args = Array.prototype.slice.call(arguments, 0, arguments.length - 1);
  var cb = lastCb(arguments);
  cb.apply(null, [null].concat(args));
};

// fail(message, cb) -> cb(new Error(message))
EchoRemote.prototype.fail = function(message) {
  var cb = lastCb(arguments);
  cb(new Error(message));
};

// sleep(ms, cb) -> after ms milliseconds cb(null, ms)
EchoRemote.prototype.sleep = function(ms) {
  var cb = lastCb(arguments);
  setTimeout(function() {
    cb(null, ms);
  }, ms);
};

// whoami(cb) -> cb(null, <this server's id>): which server a routed call reached
EchoRemote.prototype.whoami = function() {
  var cb = lastCb(arguments);
  cb(null, this.app && this.app.serverId);
};

// never(cb) -> never calls back
EchoRemote.prototype.never = function() {
};

module.exports = function(app) {
  return new EchoRemote(app);
};
