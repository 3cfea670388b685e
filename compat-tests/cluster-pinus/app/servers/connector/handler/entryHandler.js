// connector.entryHandler.*: the Node frontend's own handlers (pinus: promise-based). Requests for
// `time.*.*` never come here: the connector forwards them to a Rust time server with
// sys.msgRemote.forwardMessage, through the sys proxy built from the time server's remoterPaths.
exports.default = function(app) {
  return new Handler(app);
};

function Handler(app) {
  this.app = app;
}

function errText(err) {
  if (!err) {
    return null;
  }
  return err.stack || err.message || JSON.stringify(err);
}

// app.rpc.time exists only once this connector has built proxies for a `time` server.
function timeRpc(app) {
  return app.rpc && app.rpc.time ? app.rpc.time : null;
}

/** {uid} → binds the session to uid. */
Handler.prototype.entry = async function(msg, session) {
  var uid = msg.uid;
  if (uid === undefined || uid === null || uid === '') {
    return {code: 500, error: 'uid is required'};
  }
  if (session.uid) {
    return {code: 200, uid: session.uid, sid: session.id, frontendId: this.app.getServerId(),
            alreadyBound: true};
  }
  try {
    await session.abind(uid);
  } catch (err) {
    return {code: 500, error: errText(err)};
  }
  return {code: 200, uid: uid, sid: session.id, frontendId: this.app.getServerId()};
};

/** timeRemote.getCurrentTime, routed by the session's uid (pinus default route). */
Handler.prototype.timeViaRpc = async function(msg, session) {
  var rpc = timeRpc(this.app);
  if (!rpc) {
    return {code: 500, error: 'no time server is known to this connector'};
  }
  try {
    var hms = await rpc.timeRemote.getCurrentTime.route(session)(1, 2);
    return {code: 200, hms: hms};
  } catch (err) {
    return {code: 500, error: errText(err)};
  }
};

/** echoRemote.whoami → the id of the time server the default route picked for this session. */
Handler.prototype.whoViaRpc = async function(msg, session) {
  var rpc = timeRpc(this.app);
  if (!rpc) {
    return {code: 500, error: 'no time server is known to this connector'};
  }
  try {
    var server = await rpc.echoRemote.whoami.route(session)();
    return {code: 200, server: server, uid: session.uid};
  } catch (err) {
    return {code: 500, error: errText(err)};
  }
};

/** The connector's own view of the session (a Rust handler binds it and pushes settings). */
Handler.prototype.myUid = async function(msg, session) {
  var last = session.get('lastTimeServer');
  return {code: 200, uid: session.uid === undefined ? null : session.uid, sid: session.id,
          lastTimeServer: last === undefined ? null : last};
};

/**
 * The `time` servers this connector knows, in arrival order (what its routing sees), and the
 * remoterPaths each advertised (what this connector built its proxies from).
 */
Handler.prototype.timeServers = async function(msg, session) {
  var list = this.app.getServersByType('time') || [];
  var paths = {};
  list.forEach(function(s) { paths[s.id] = s.remoterPaths === undefined ? null : s.remoterPaths; });
  return {code: 200, servers: list.map(function(s) { return s.id; }), remoterPaths: paths};
};
