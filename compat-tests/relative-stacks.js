'use strict';
// V8's stack format with every file name made relative to `root` (e.g. compat-tests/), so that
// error objects sent over the wire (pomelo sends err.stack) carry no absolute paths of the
// machine. Used by peer.js --relative-stacks and by the cluster game server when it records
// fixtures (POMELO_INTEROP_RELATIVE_STACKS).
var path = require('path');

module.exports = function installRelativeStacks(root) {
  var prefix = root + path.sep;
  Error.prepareStackTrace = function(err, frames) {
    var head;
    try {
      head = Error.prototype.toString.call(err);
    } catch (e) {
      head = 'Error';
    }
    return head + frames.map(function(f) {
      var text = String(f);
      var file = typeof f.getFileName === 'function' ? f.getFileName() : null;
      if (file) {
        var abs = file.indexOf('file://') === 0 ? file.slice(7) : file;
        if (path.isAbsolute(abs)) {
          text = text.split(file).join(path.relative(root, abs));
        }
      }
      return '\n    at ' + text.split(prefix).join('');
    }).join('');
  };
};
