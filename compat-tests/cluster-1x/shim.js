// The two runtime shims pomelo 1.2.3 needs on Node 20 (spec cluster-1x-pinus.md §A.1). Loaded
// with `node -r ./shim.js` by the master (the test starts it so) and by every Node child
// (config/servers.json `"args": ["-r", "./shim.js"]`, resolved against the master's cwd, which
// the children inherit).
'use strict';

// 1. socket.io 0.9 (admin link on the master, RPC acceptor on every server) reads
//    process.EventEmitter, which Node removed long ago.
if (!process.EventEmitter) {
  process.EventEmitter = require('events').EventEmitter;
}

// 2. The hybridconnector's raw-TCP socket wrapper calls socket.write(buf, {binary: true}, cb);
//    Node 20 throws `Unknown encoding: { binary: true }`. Drop an object passed as encoding.
//    (Websocket game clients do not need this; raw-TCP ones do.)
var net = require('net');
var write = net.Socket.prototype.write;
net.Socket.prototype.write = function(data, encoding, cb) {
  if (encoding !== null && typeof encoding === 'object') {
    return write.call(this, data, cb);
  }
  return write.apply(this, arguments);
};
