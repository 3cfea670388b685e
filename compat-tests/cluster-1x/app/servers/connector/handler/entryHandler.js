// connector.entryHandler.*: the same handlers as the pomelo 2.2.7 demo's connector (the handler
// API did not change between pomelo 1.2.3 and 2.2.7).
module.exports = require('../../../../../cluster/game-server/app/servers/connector/handler/entryHandler');
