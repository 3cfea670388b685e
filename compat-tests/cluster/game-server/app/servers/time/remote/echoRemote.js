// user echoRemote of the `time` servers: echo, fail, sleep, whoami (and never). Callers build
// their app.rpc.time.echoRemote proxy from this file. It runs only in a time server the launcher
// leaves in Node (POMELO_INTEROP_NODE_IDS); the Rust time server serves the same remote
// (src/server/demo.rs). The implementation is peer.js's.
module.exports = require('../../../../../../remote/pomelo/user/echoRemote');
