// The game client for this project's tests: compat-tests/cluster/client.js, with ws and the
// protocol package taken from this project's own node_modules.
'use strict';
process.env.CLIENT_NODE_MODULES = require('path').join(__dirname, 'node_modules');
require('../cluster/client.js');
