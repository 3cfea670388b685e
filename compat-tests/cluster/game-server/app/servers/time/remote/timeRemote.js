// user timeRemote of the `time` servers: getCurrentTime(arg1, arg2, cb) → cb(hour, min, sec).
// Callers (the connector) build their app.rpc.time.timeRemote proxy from this file. It runs only
// in a time server the launcher leaves in Node (POMELO_INTEROP_NODE_IDS); the Rust time server
// serves the same remote (src/server/demo.rs). The implementation is peer.js's.
module.exports = require('../../../../../../remote/pomelo/user/timeRemote');
