// Preload named in this project's servers.json `args` ("-r", "./launcher.js"): the master
// can only spawn `node`, so this hands the server over to the Rust binary. The work is done by
// the project-independent scripts/pomelo-launcher.js (it reads env=/id= from argv, runs
// `pomelo-interop serve --pomelo-config <this dir> --env <env> --id <id>`, which detects the
// generation from package.json, forwards signals and exits with the Rust process's status).
'use strict';
require('../../scripts/pomelo-launcher.js');
