'use strict';
// pomelo-rpc (0.4.11 / 1.0.7) callback-style remote, loaded by pomelo-loader
// through the server's `paths` option (namespace "user", service "timeRemote").
// The reply callback is always the LAST argument (the dispatcher appends it
// after msg.args), so a caller passing a different number of arguments still works.

var TimeRemote = function(app) {
  this.app = app;
};

// getCurrentTime(arg1, arg2, cb) -> cb(hour, min, sec)   (no error slot, like
// the pomelo sample remote)
TimeRemote.prototype.getCurrentTime = function() {
  var cb = arguments[arguments.length - 1];
  var d = new Date();
  cb(d.getHours(), d.getMinutes(), d.getSeconds());
};

module.exports = function(app) {
  return new TimeRemote(app);
};
